// Browser steps for few-shot (issue 15): training photos picked with a seed as `glimpse fewshot`
// picks them, the few-shot rows of the accuracy table, the methods' fits and the confusion view
// equal to the CLI's on the same photos, predictions switching method, a photo's role changed
// from its card, and a fitted classifier downloaded, read by `glimpse classify --head`, and
// loaded back into the page.

import assert from 'node:assert/strict';
import path from 'node:path';

import { fixtures, maxDiff, native, open, shots, step, tmp, until } from './harness.mjs';

const dir = path.join(fixtures, 'fewshot');
const clip = path.join(fixtures, 'clip_a');
const labels = path.join(dir, 'labels.txt');
const TEMPLATES = ['a photo of a {}', 'a blurry photo of a {}'];
const K = 4;
const SEED = 3;

/** The page's photo path (`fewshot/train/red_blob/0.png`, from the folder picked) on disk. */
const local = (p) => path.join(fixtures, p);
const templateArgs = TEMPLATES.flatMap((t) => ['--template', t]);

/** @param {{browser: object, url: string}} ctx */
export async function fewshotSteps({ browser, url }) {
  await step('few-shot: seeded picks, Tip-Adapter and the linear probe on the CPU path equal glimpse fewshot; table rows, confusion, predictions by method', async () => {
    const p = await open(browser, url, '?backend=cpu&clip=/fixtures/clip_a/');
    await p.setInputFiles('#labels-file', labels);
    await p.fill('#templates', TEMPLATES.join('\n'));
    await p.setInputFiles('#folder-input', dir); // 4 classes x (4 + 6) photos, in folders named for their labels
    await until(p, () => window.glimpse.state.photos.length === 40 && window.glimpse.state.photos.every((x) => x.probs && x.truth !== null), null, 'the 40 labelled photos scored');
    assert.equal(await p.isVisible('#fewshot'), true, 'the few-shot panel shows once photos are labelled');
    await p.fill('#shots', String(K));
    await p.fill('#fs-seed', String(SEED));
    await p.click('#fs-pick');
    await until(p, (k) => window.glimpse.state.photos.filter((x) => x.split === 'train').length === 4 * k, K, 'the training photos marked');
    const paths = await p.evaluate(() => window.glimpse.state.photos.map((x) => x.path));
    const train = await p.evaluate(() => window.glimpse.state.photos.filter((x) => x.split === 'train').map((x) => x.path));
    const test = paths.filter((x) => !train.includes(x));

    // The CLI picks the same photos from the same pool (in the page's order) with the same seed.
    const pick = native(['fewshot', '--model', clip, '--labels', labels, '--train', ...paths.map(local), '--test', local(test[0]),
      '--shots', String(K), '--seed', String(SEED), '--method', 'tip']);
    assert.deepEqual(train.map(local), pick.fewshot.train, 'seeded pick');
    assert.equal(await p.$$eval('.card .split[aria-pressed="true"]', (b) => b.length), 4 * K, 'cards say train');

    const t0 = Date.now();
    await p.click('#fs-fit');
    await until(p, () => window.glimpse.fewshotReport() && !window.glimpse.state.fewshot.fitting, null, 'the few-shot fit');
    const seconds = (Date.now() - t0) / 1000;
    const got = await p.evaluate(() => window.glimpse.fewshotReport());
    const want = native(['fewshot', '--model', clip, '--labels', labels, '--train', ...train.map(local), '--test', ...test.map(local),
      '--shots', String(K), ...templateArgs]);
    assert.deepEqual(got.fewshot.train, train);
    assert.equal(got.zero_shot_accuracy, want.zero_shot_accuracy, 'zero-shot on the test photos');
    const close = (a, b, what) => assert.ok(Math.abs(a - b) < 1e-9, `${what}: ${a} vs ${b}`);
    assert.equal(got.per_template.length, want.per_template.length);
    got.per_template.forEach((r, i) => {
      const w = want.per_template[i];
      assert.equal(r.template, w.template);
      close(r.zero_shot, w.zero_shot, `zero-shot row ${i}`);
      for (const f of ['accuracy', 'alpha', 'beta', 'loo_accuracy']) close(r.tip[f], w.tip[f], `tip ${f} row ${i}`);
    });
    for (const f of ['alpha', 'beta', 'accuracy']) close(got.fewshot.methods.tip[f], want.fewshot.methods.tip[f], `tip ${f}`);
    for (const f of ['c', 'accuracy', 'folds']) close(got.fewshot.methods.probe[f], want.fewshot.methods.probe[f], `probe ${f}`);
    assert.deepEqual(got.fewshot.confusion, want.fewshot.confusion, 'confusion counts');
    // The cache model's probabilities of the test photos (the CLI predicts with the first method).
    const tipProbs = await p.evaluate((names) => {
      const fs = window.glimpse.state.fewshot;
      return names.map((n) => Array.from(fs.result.probs.tip.get(window.glimpse.state.photos.find((x) => x.path === n).id)));
    }, test);
    const diff = Math.max(...tipProbs.map((pr, i) => maxDiff(pr, want.predictions[i].probs)));
    assert.ok(diff < 1e-4, `tip probabilities differ by ${diff}`);

    // The predictions export, with Tip-Adapter shown, is glimpse fewshot's output.
    const exported = JSON.parse(await p.evaluate(() => window.glimpse.exportText('predictions', 'json')));
    assert.deepEqual(exported.predictions.map((x) => x.image), test, 'the test photos, in order');
    assert.deepEqual(exported.predictions.map((x) => x.top[0].label), want.predictions.map((x) => x.top[0].label));
    const exportDiff = Math.max(...exported.predictions.map((x, i) => maxDiff(x.probs, want.predictions[i].probs)));
    assert.ok(exportDiff < 1e-4, `exported probabilities differ by ${exportDiff}`);
    assert.equal(exported.accuracy, want.accuracy);
    assert.equal(exported.fewshot.method, 'tip');
    assert.equal(exported.zero_shot_accuracy, want.zero_shot_accuracy);
    assert.deepEqual(exported.per_template.map((r) => r.tip.accuracy), want.per_template.map((r) => r.tip.accuracy));
    const csvLines = (await p.evaluate(() => window.glimpse.exportText('predictions', 'csv'))).trim().split('\r\n');
    assert.equal(csvLines.length, 1 + test.length);
    assert.match(csvLines[1], /,tip,/);

    // The table: zero-shot and Tip-Adapter per template and for the ensemble, the probe once.
    const rows = await p.$$eval('#accuracy-table tbody tr', (trs) => trs.map((r) => [r.dataset.method, Number(r.dataset.accuracy), r.cells[1].textContent]));
    const wantRows = want.per_template.flatMap((r) => [['zero_shot', r.zero_shot], ['tip', r.tip.accuracy]]);
    wantRows.push(['probe', want.fewshot.methods.probe.accuracy]);
    assert.deepEqual(rows.map(([m, a]) => [m, a.toFixed(9)]), wantRows.map(([m, a]) => [m, a.toFixed(9)]), 'accuracy table rows');
    assert.match(rows[1][2], new RegExp(`Tip-Adapter, ${K}-shot`));
    assert.match(await p.textContent('#accuracy-note'), new RegExp(`${test.length} labelled test photos`));
    // Predictions switch to the method chosen; the confusion view follows.
    assert.equal(await p.$eval('#fs-method', (s) => s.value), 'tip', 'the first fit shows its first method');
    await p.selectOption('#fs-method', 'probe');
    const shown = await p.evaluate(() => {
      const g = window.glimpse.state;
      const ph = g.photos.find((x) => x.split !== 'train');
      const probs = g.fewshot.result.probs.probe.get(ph.id);
      const best = [...probs.keys()].reduce((a, b) => (probs[b] > probs[a] ? b : a), 0);
      return [g.labels[best], ph.card.top.querySelector('.label').textContent];
    });
    assert.equal(shown[1], shown[0], 'a card shows the probe’s top label');
    const cells = await p.$$eval('#confusion-table tbody td', (t) => t.map((c) => Number(c.textContent)));
    assert.deepEqual(cells, want.fewshot.confusion.probe.flat(), 'the probe’s confusion view');
    assert.match(await p.textContent('#confusion-note'), /linear probe on the 24 test photos/);
    await p.screenshot({ path: path.join(shots, 'fewshot.png'), fullPage: true });
    console.log(`  few-shot fit (tip + probe with cross-validation, ${4 * K} shots, CPU path): ${seconds.toFixed(1)} s`);

    // A card's button makes a training photo a test photo; the fit follows on its own.
    const first = await p.evaluate(() => window.glimpse.state.photos.findIndex((x) => x.split === 'train'));
    const card = p.locator('#gallery .card').nth(first);
    await card.locator('.split').click();
    await until(p, (n) => !window.glimpse.state.fewshot.fitting && window.glimpse.fewshotReport()?.fewshot.train.length === n, 4 * K - 1, 're-fit after a card changed role');
    assert.match(await p.$eval('#accuracy-table tbody tr[data-method="tip"] td:nth-child(2)', (c) => c.textContent), /3–4-shot/);

    // The probe's classifier, downloaded, is what glimpse classify --head reads, and loads back.
    await card.locator('.split').click(); // a training photo again
    await until(p, (n) => !window.glimpse.state.fewshot.fitting && window.glimpse.fewshotReport()?.fewshot.train.length === n, 4 * K, 're-fit with 4 per class');
    const [dl] = await Promise.all([p.waitForEvent('download'), p.click('#fs-save')]);
    assert.equal(dl.suggestedFilename(), `glimpse-probe-${K}shot.safetensors`);
    const head = path.join(tmp, 'probe-head.safetensors');
    await dl.saveAs(head);
    const testNow = await p.evaluate(() => window.glimpse.state.photos.filter((x) => x.split !== 'train').map((x) => x.path));
    const byHead = native(['classify', '--model', clip, '--head', head, ...testNow.map(local)]);
    const pageProbe = await p.evaluate((names) => names.map((n) => Array.from(window.glimpse.state.fewshot.result.probs.probe.get(window.glimpse.state.photos.find((x) => x.path === n).id))), testNow);
    const headDiff = Math.max(...pageProbe.map((pr, i) => maxDiff(pr, byHead.predictions[i].probs)));
    assert.ok(headDiff < 1e-4, `classify --head differs from the page by ${headDiff}`);
    await p.setInputFiles('#fs-head', head);
    await until(p, () => window.glimpse.state.fewshot.method === 'head', null, 'the classifier loaded');
    const loaded = await p.evaluate((names) => names.map((n) => {
      const g = window.glimpse.state;
      return Array.from(g.fewshot.head.probs.get(g.photos.find((x) => x.path === n).id));
    }), testNow);
    assert.ok(Math.max(...loaded.map((pr, i) => maxDiff(pr, pageProbe[i]))) < 1e-6, 'the loaded classifier predicts as the fitted one');
    assert.match(await p.$eval('#fs-method', (s) => s.selectedOptions[0].textContent), /probe-head\.safetensors \(linear probe, 4-shot\)/);
    // A file that is not a head is refused by name.
    await p.setInputFiles('#fs-head', local('clip_a/model.safetensors'));
    await until(p, () => /model\.safetensors: /.test(document.getElementById('fs-error').textContent), null, 'the bad classifier refused');
    await p.close();
  });
}
