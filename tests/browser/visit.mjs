// Browser steps on the page as a visitor uses it (issue 14): a first visit with no network (the
// default model, sizes and confirmation before a download, failures that say what to do next,
// the sample photos), work ordered so that zero-shot comes before queued captions, captions
// streamed and made again when the settings change, truth only from labels the user gave, and
// exports equal to the CLI's output.

import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

import { captionOptions, fixtures, gotoAndStart, hoverWord, launch, maxDiff, native, nativeCaptions, open, repo, shots, step, tmp, until, zsDir } from './harness.mjs';
import { execFileSync } from 'node:child_process';

const HUB = 'https://huggingface.co/';
const bannerTexts = (p) => p.$$eval('#banners .banner-text', (b) => b.map((x) => x.textContent));
const bannerActions = (p) => p.$$eval('#banners .banner:first-child .banner-action', (b) => b.map((x) => x.textContent));

/**
 * @param {{browser: object, url: string, log: object[], report: object, templates: string[], classify: object, details: object, caption: {beams: number, maxTokens: number}}} ctx
 *   `classify`: the CLI's classify --compare output for the zero-shot images with `templates`;
 *   `details`: the CLI's captions of them with `caption`
 */
export async function visitSteps({ browser, url, log, report, templates, classify, details, caption }) {
  const images = readdirSync(zsDir).filter((f) => f.endsWith('.png')).sort();

  await step('first visit with no network: ViT-B/32 by default, sizes before any download, failures that guide, samples from the page itself', async () => {
    const p = await browser.newPage();
    const errors = [];
    p.on('pageerror', (e) => errors.push(String(e)));
    // The hub cannot be reached: each request fails as offline, then as HTTP 503, then 404.
    let hub = 'offline';
    const hubRequests = [];
    await p.route(`${HUB}**`, (r) => {
      hubRequests.push(r.request().url());
      if (hub === 'offline') return r.abort('internetdisconnected');
      return r.fulfill({ status: hub === '503' ? 503 : 404, body: 'no' });
    });
    const served = log.length;
    await gotoAndStart(p, url); // on CPU with 2+ cores the first visit reloads once (isolation for threads)
    assert.match(await p.$eval('#clip-choice', (s) => s.selectedOptions[0].textContent), /ViT-B\/32.*605 MB/);
    assert.match(await p.textContent('#clip-next'), /ViT-B\/32, 605 MB once/);
    assert.equal(hubRequests.length, 0, 'nothing is downloaded before photos are added');
    await p.click('#samples');
    await until(p, () => window.glimpse.state.photos.length === 2 && window.glimpse.state.clip.phase === 'failed', null, 'the samples, and CLIP failing offline', true);
    assert.ok(log.slice(served).some((r) => r.path === '/samples/china.jpg' && r.status === 200), 'samples come from the page');
    assert.ok(hubRequests.every((u) => u.startsWith(`${HUB}openai/clip-vit-base-patch32/`)), `only ViT-B/32 was asked for: ${hubRequests}`);
    const offline = (await bannerTexts(p))[0];
    assert.match(offline, /could not be reached.*retry.*local folder/i, offline);
    assert.deepEqual(await bannerActions(p), ['Retry'], 'offline: Retry (ViT-B/32 is already the smallest)');
    await until(p, () => [...document.querySelectorAll('.card .work')].every((w) => /CLIP did not load/.test(w.textContent)), null, 'cards saying why they wait', true);
    assert.equal(await p.$$eval('.card .truth', (t) => t.map((x) => x.textContent).join('')), '', 'no truth for the samples');
    // Loading again from the panel meets a server error: a 503 is worth retrying, and the first
    // message stays until dismissed.
    hub = '503';
    await p.click('#clip-load');
    await until(p, () => /HTTP 503/.test(document.querySelector('#banners .banner-text')?.textContent), null, 'the 503 message', true);
    assert.deepEqual(await bannerActions(p), ['Retry']);
    assert.equal((await bannerTexts(p)).length, 2, 'the offline message is kept');
    // Its Retry (which dismisses it) meets a missing file: no Retry offered.
    hub = '404';
    await p.click('#banners .banner-action');
    await until(p, () => window.glimpse.state.clip.phase === 'failed' && /not found|404/i.test(document.querySelector('#banners .banner-text')?.textContent), null, 'the 404 message', true);
    const notFound = (await bannerTexts(p))[0];
    assert.match(notFound, /Check the URL/, notFound);
    assert.deepEqual(await bannerActions(p), [], 'no Retry for a missing file');
    // ViT-L/14 asks before its 1.71 GB download, and offers the smaller model.
    await p.selectOption('#clip-choice', { index: 1 });
    assert.match(await p.textContent('#clip-next'), /1\.71 GB once, after you confirm/);
    const before = hubRequests.length;
    await p.click('#clip-load');
    await until(p, () => window.glimpse.state.clip.phase === 'confirm', null, 'the confirmation', true);
    assert.match((await bannerTexts(p))[0], /ViT-L\/14 is a 1\.71 GB download/);
    assert.deepEqual(await bannerActions(p), ['Download 1.71 GB', 'Use ViT-B/32 (605 MB)']);
    assert.equal(hubRequests.length, before, 'nothing downloaded before the go-ahead');
    assert.match(await p.textContent('.card .work'), /confirm its download/);
    await p.click('#banners .banner:first-child .banner-action >> nth=1');
    await until(p, () => window.glimpse.state.clip.phase === 'failed', null, 'ViT-B/32 tried instead', true);
    assert.equal(await p.$eval('#clip-choice', (s) => s.selectedIndex), 0);
    assert.match(await p.textContent('#clip-next'), /ViT-B\/32, 605 MB once$/, 'the note under the photos follows the choice');
    report.firstVisitBanners = await bannerTexts(p);
    assert.equal(report.firstVisitBanners.length, 2, 'the offline and 404 messages (the same one shown again is one banner)');
    await p.screenshot({ path: path.join(shots, 'first-visit.png'), fullPage: true });
    await p.click('#banners .banner-close');
    assert.equal((await bannerTexts(p)).length, report.firstVisitBanners.length - 1);
    // The URL of a file where a folder is wanted is named as such, with the folder to use.
    await p.selectOption('#clip-choice', 'custom');
    await p.fill('#clip-url', `${HUB}openai/clip-vit-base-patch32/resolve/main/model.safetensors`);
    await p.click('#clip-load');
    await until(p, () => /is the URL of a file \(model\.safetensors\).*use the folder that holds it, https:\/\/huggingface\.co\/openai\/clip-vit-base-patch32\/resolve\/main\//.test(document.querySelector('#banners .banner-text')?.textContent), null, 'the file-URL hint', true);
    assert.deepEqual(errors, [], 'no uncaught error');
    await p.close();
  });

  await step('under Save-Data even the small CLIP waits for a go-ahead', async () => {
    const fresh = await launch(); // its own profile: no go-ahead remembered from the steps before
    const p = fresh.pages()[0] || (await fresh.newPage());
    await p.addInitScript(() => Object.defineProperty(Navigator.prototype, 'connection', { get: () => ({ saveData: true }) }));
    const hubRequests = [];
    await p.route(`${HUB}**`, (r) => hubRequests.push(r.request().url()) && r.abort('internetdisconnected'));
    await gotoAndStart(p, url); // on CPU with 2+ cores the first visit reloads once (isolation for threads)
    await p.click('#samples');
    await until(p, () => window.glimpse.state.clip.phase === 'confirm', null, 'the confirmation', true);
    assert.match((await bannerTexts(p))[0], /ViT-B\/32 is a 605 MB download .*asks pages to save data/);
    assert.deepEqual(await bannerActions(p), ['Download 605 MB']);
    assert.deepEqual(hubRequests, []);
    // Agreed to, the download fails (offline): Retry does not ask again in this visit, but the
    // next visit does, since nothing was downloaded.
    await p.click('#banners .banner:first-child .banner-action');
    await until(p, () => window.glimpse.state.clip.phase === 'failed', null, 'the agreed download failing offline', true);
    const tried = hubRequests.length;
    assert.ok(tried > 0, 'the download was tried');
    await p.click('#banners .banner:first-child .banner-action'); // Retry
    for (let i = 0; i < 100 && hubRequests.length === tried; i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(hubRequests.length > tried, 'Retry went ahead without asking');
    assert.notEqual(await p.evaluate(() => window.glimpse.state.clip.phase), 'confirm');
    await until(p, () => window.glimpse.state.clip.phase === 'failed', null, 'the retry failing', true);
    assert.equal(await p.evaluate(() => localStorage.getItem('glimpse.confirmed-downloads')), null, 'a failed download is not remembered as agreed');
    await p.reload();
    await p.evaluate(() => window.glimpse.ready);
    await p.click('#samples');
    await until(p, () => window.glimpse.state.clip.phase === 'confirm', null, 'the next visit asking again', true);
    await fresh.close();
  });

  await step('the demo captioner on its shapes works offline: no request leaves the page\'s server, captions and the attention figure equal the CLI\'s', async () => {
    const demo = path.join(repo, 'www/demo');
    const want = JSON.parse(readFileSync(path.join(demo, 'captions.json'), 'utf8'));
    const p = await browser.newPage();
    const outside = [];
    p.on('request', (r) => !r.url().startsWith(url) && !/^(data|blob):/.test(r.url()) && outside.push(r.url()));
    await gotoAndStart(p, url); // on CPU with 2+ cores the first visit reloads once (isolation for threads)
    await p.click('#demo');
    await until(p, (n) => window.glimpse.state.photos.length === n && window.glimpse.state.photos.every((x) => x.caption), Object.keys(want).length, 'the demo captions');
    const got = await p.evaluate(() => Object.fromEntries(window.glimpse.state.photos.map((x) => [x.name.replace(/\.png$/, ''), x.caption.text])));
    assert.deepEqual(got, want, 'the demo captions equal glimpse caption on the same files');
    report.demoCaptions = got;
    assert.deepEqual(outside, [], 'requests outside the page\'s server');
    assert.match(await p.textContent('#loaded'), /Captioner \([\d.]+ MB on CPU .*\): PEFT checkpoint: .*\/demo\/peft\//);
    // The attention figure: the same pixels as the CLI's --attention-dir figure.
    const name = 'red_square_left';
    const figures = path.join(tmp, 'synthetic', 'figures');
    mkdirSync(figures, { recursive: true });
    execFileSync(path.join(repo, 'target/release/glimpse'), ['caption', '--backend', 'cpu', '--encoder', path.join(demo, 'encoder'), '--decoder', path.join(demo, 'decoder'), '--peft', path.join(demo, 'peft'), '--attention-dir', figures, path.join(demo, 'images', `${name}.png`)]);
    const diff = await p.evaluate(async (n) => {
      const ph = window.glimpse.state.photos.find((x) => x.name === `${n}.png`);
      const c = ph.caption;
      const mine = await window.glimpse.call('attentionFigure', { seen: c.seen, size: c.size, words: c.words, attention: c.attention, grid: c.grid[0] });
      const pixels = async (blob) => {
        const bmp = await createImageBitmap(blob);
        const canvas = new OffscreenCanvas(bmp.width, bmp.height);
        const ctx = canvas.getContext('2d');
        ctx.drawImage(bmp, 0, 0);
        return { w: bmp.width, h: bmp.height, data: ctx.getImageData(0, 0, bmp.width, bmp.height).data };
      };
      const a = await pixels(new Blob([mine], { type: 'image/png' }));
      const b = await pixels(await (await fetch(`/synthetic/figures/${n}.png`)).blob());
      if (a.w !== b.w || a.h !== b.h) return { size: [a.w, a.h, b.w, b.h] };
      let worst = 0;
      for (let i = 0; i < a.data.length; i++) worst = Math.max(worst, Math.abs(a.data[i] - b.data[i]));
      return { worst, w: a.w, h: a.h };
    }, name);
    report.demoFigure = diff;
    assert.ok(diff.worst !== undefined && diff.worst <= 2, `the page's figure differs from the CLI's: ${JSON.stringify(diff)}`);
    // The README's screenshot: the demo, a word hovered.
    await p.setViewportSize({ width: 1100, height: 900 });
    const card = p.locator(`.card[data-name="${name}.png"]`);
    await card.scrollIntoViewIfNeeded();
    await p.mouse.move(0, 0);
    const shown = () => card.evaluate((c) => ({ photo: !c.querySelector('img.thumb').hidden, overlay: !c.querySelector('canvas.overlay').hidden, scale: !c.querySelector('.scale').hidden }));
    assert.deepEqual(await shown(), { photo: true, overlay: false, scale: true }, 'the photo itself until a word is hovered, and the colour scale');
    await hoverWord(card, 1);
    assert.equal((await shown()).overlay, true, 'the overlay while a word is hovered');
    await p.screenshot({ path: path.join(shots, 'readme.png') });
    await p.close();
  });

  await step('zero-shot and template edits go ahead of queued captions; words stream; new settings re-caption', async () => {
    const p = await open(browser, url, '?backend=webgpu&clip=/fixtures/clip_a/&encoder=/fixtures/clip_a/&decoder=/fixtures/gpt2_xattn/');
    await captionOptions(p, caption);
    await p.setInputFiles('#labels-file', path.join(zsDir, 'id2label.json'));
    await p.setInputFiles('#file-input', images.slice(0, 4).map((f) => path.join(zsDir, f)));
    // Words appear while a caption is being made.
    await until(p, () => window.glimpse.state.photos.some((x) => !x.caption && Number(x.card.chips.dataset.streaming) >= 2), null, 'streamed words');
    await p.fill('#templates', 'a sketch of a {}');
    await until(p, () => window.glimpse.state.templates[0] === 'a sketch of a {}' && window.glimpse.state.accuracy?.length === 1, null, 're-scoring');
    await until(p, (n) => window.glimpse.state.photos.filter((x) => x.caption).length === n, 4, 'the captions');
    const order = await p.evaluate(() => ({ scored: window.glimpse.state.scoredAt, captioned: window.glimpse.state.photos.map((x) => x.captionedAt) }));
    report.editScoredBeforeCaptions = order.captioned.filter((t) => t > order.scored).length;
    assert.ok(report.editScoredBeforeCaptions >= 1, `the template edit was scored after every caption: ${JSON.stringify(order)}`);
    // Zero-shot scores equal the CLI's with that template.
    const want = native(['classify', '--model', path.join(fixtures, 'clip_a'), '--labels', path.join(zsDir, 'id2label.json'), '--template', 'a sketch of a {}', ...images.slice(0, 4).map((f) => path.join(zsDir, f))]);
    const got = await p.evaluate(() => window.glimpse.state.photos.map((x) => [...x.probs]));
    assert.ok(Math.max(...got.map((g, i) => maxDiff(g, want.predictions[i].probs))) < 1e-3, 'probabilities after the edit');
    // Fewer tokens: the button offers to caption again, and the captions follow.
    await p.fill('#max-tokens', '3');
    await until(p, () => /Caption again with these settings \(4 photos\)/.test(document.getElementById('caption-all').textContent), null, 'the re-caption offer');
    await p.click('#caption-all');
    await until(p, () => window.glimpse.state.photos.every((x) => x.caption.tokens.length <= 4 && x.captionOptions.maxTokens === 3), null, 'captions of 3 tokens');
    const short = nativeCaptions(['--encoder', path.join(fixtures, 'clip_a'), '--decoder', path.join(fixtures, 'gpt2_xattn'), '--beams', String(caption.beams), '--max-tokens', '3'], images.slice(0, 4).map((f) => path.join(zsDir, f)));
    for (const x of await p.evaluate(() => window.glimpse.state.photos.map((y) => ({ name: y.name, tokens: y.caption.tokens })))) {
      assert.deepEqual(x.tokens, short[x.name.replace(/\.png$/, '')].tokens, `re-captioned ${x.name}`);
    }
    assert.equal(await p.textContent('#caption-all'), 'Caption photos');
    await p.close();
  });

  await step('the models panel says what is loaded: the captioner of the address in the menu, picked PEFT files by name, sizes and backend', async () => {
    const p = await open(browser, url, '?backend=webgpu&clip=/fixtures/clip_a/&encoder=/fixtures/clip_b/&decoder=/fixtures/gpt2_plain/');
    assert.match(await p.$eval('#cap-model', (s) => s.selectedOptions[0].textContent), /from this page's address \(encoder=\/fixtures\/clip_b\/, decoder=\/fixtures\/gpt2_plain\/\)/);
    const peft = path.join(fixtures, 'peft_b');
    await p.setInputFiles('#peft-files', [path.join(peft, 'adapter_config.json'), path.join(peft, 'adapter_model.safetensors')]);
    await p.click('#cap-load');
    await until(p, () => window.glimpse.state.captioner.phase === 'ready', null, 'the picked PEFT checkpoint');
    const loaded = await p.textContent('#loaded li[data-model="captioner"]');
    report.loadedPanel = loaded;
    assert.match(loaded, /^Captioner \([\d.]+ [kM]B on WebGPU, ([\d.]+ [kM]B downloaded|from the browser cache)\): PEFT checkpoint: picked files: adapter_config\.json, adapter_model\.safetensors; encoder: http.*\/fixtures\/clip_b\/; decoder: http.*\/fixtures\/gpt2_plain\/$/, loaded);
    await p.close();
  });

  await step('truth only from labels the user gave: none with the built-in labels, then from a loaded id2label.json', async () => {
    const p = await open(browser, url, '?backend=webgpu&clip=/fixtures/clip_a/');
    await p.setInputFiles('#file-input', images.slice(0, 3).map((f) => path.join(zsDir, f)));
    await until(p, () => window.glimpse.state.photos.length === 3 && window.glimpse.state.photos.every((x) => x.probs), null, 'predictions');
    assert.deepEqual(await p.evaluate(() => window.glimpse.state.photos.map((x) => x.truth)), [null, null, null], '{id}_{n} names mean nothing for the built-in labels');
    assert.equal(await p.isHidden('#accuracy'), true, 'no accuracy table');
    await p.setInputFiles('#labels-file', path.join(zsDir, 'id2label.json'));
    await until(p, () => window.glimpse.state.photos.every((x) => x.truth !== null) && window.glimpse.state.accuracy?.length === 1, null, 'truth from id2label.json');
    assert.match(await p.textContent('.card .truth'), /true: red circle/);
    await p.close();
  });

  await step('exports equal the CLI: predictions as glimpse classify --compare prints them, captions as glimpse caption does', async () => {
    const p = await open(browser, url, '?backend=webgpu&clip=/fixtures/clip_a/&encoder=/fixtures/clip_a/&decoder=/fixtures/gpt2_xattn/');
    await captionOptions(p, caption);
    await p.setInputFiles('#labels-file', path.join(zsDir, 'id2label.json'));
    await p.fill('#templates', templates.join('\n'));
    await p.setInputFiles('#file-input', images.map((f) => path.join(zsDir, f)));
    await until(p, (n) => window.glimpse.state.photos.filter((x) => x.caption && typeof x.score === 'number').length === n && window.glimpse.state.accuracy?.length === 3, images.length, 'predictions and captions');
    const got = JSON.parse(await p.evaluate(() => window.glimpse.exportText('predictions', 'json')));
    const want = { ...classify, predictions: classify.predictions.map((x) => ({ ...x, image: path.basename(x.image) })) };
    assert.deepEqual(Object.keys(got), Object.keys(want), 'the same fields in the same order');
    assert.deepEqual([got.templates, got.labels, got.accuracy, got.per_template], [want.templates, want.labels, want.accuracy, want.per_template]);
    let worst = 0;
    got.predictions.forEach((g, i) => {
      const w = want.predictions[i];
      assert.equal(g.image, w.image);
      assert.deepEqual(g.top.map((t) => t.label), w.top.map((t) => t.label), `top labels of ${g.image}`);
      worst = Math.max(worst, maxDiff(g.probs, w.probs), maxDiff(g.top.map((t) => t.prob), w.top.map((t) => t.prob)));
    });
    report.exportMaxDiff = worst;
    assert.ok(worst < 1e-3, `exported probabilities differ from the CLI's by ${worst}`);
    const caps = JSON.parse(await p.evaluate(() => window.glimpse.exportText('captions', 'json')));
    assert.deepEqual(caps, Object.fromEntries(Object.entries(details).map(([k, v]) => [k, v.text])), "captions as glimpse caption's JSON");
    const csv = await p.evaluate(() => window.glimpse.exportText('captions', 'csv'));
    const lines = csv.trim().split('\r\n');
    assert.equal(lines[0], 'image,caption,edited_caption,clipscore,cosine,clipscore_prefix');
    assert.equal(lines.length, images.length + 1);
    const acc = JSON.parse(await p.evaluate(() => window.glimpse.exportText('accuracy', 'json')));
    assert.deepEqual(acc.map((r) => r.accuracy), [...classify.per_template.map((t) => t.accuracy), classify.accuracy]);
    // The buttons download the same text.
    const [download] = await Promise.all([p.waitForEvent('download'), p.click('#export button[data-what="predictions"][data-format="json"]:not([data-copy])')]);
    assert.equal(download.suggestedFilename(), 'glimpse-predictions.json');
    await p.close();
  });
}
