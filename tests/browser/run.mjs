// The browser test suite: the built page (www/, ./build.sh) in headless Debian Chromium on
// SwiftShader's WebGPU, driven by playwright-core, with the tiny fixture models served from
// localhost through the page's query parameters. Its numbers are checked against the native
// CLI (target/release/glimpse, built by `cargo test --release --features native`) on the same
// files. Screenshots go to target/browser/.
//
//   node tests/browser/run.mjs            (after ./build.sh and the cargo tests)

import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

import { writeBroken } from './broken.mjs';
import { FLAGS, busyWorkers, captionOptions, fixtures, gotoAndStart, hoverWord, launch, maxDiff, native, nativeCaptions, open, overlayOf, repo, results, shots, step, tmp, until, workerCpu, zsDir } from './harness.mjs';
import { fewshotSteps } from './fewshot.mjs';
import { loadingSteps } from './loading.mjs';
import { visitSteps } from './visit.mjs';
import { ISOLATION, serve } from './serve.mjs';
import { syntheticClip } from './synthetic.mjs';

// ---------------------------------------------------------------- native references

const TEMPLATES = ['a photo of a {}', 'a blurry photo of a {}'];
const zsImages = readdirSync(zsDir).filter((f) => f.endsWith('.png')).sort();
const classify = native([
  'classify', '--model', path.join(fixtures, 'clip_a'), '--labels', path.join(zsDir, 'id2label.json'),
  ...TEMPLATES.flatMap((t) => ['--template', t]), '--compare', '--top-k', '3', zsDir,
]);
// SwiftShader runs a tiny decoder step in ~0.7 s: short greedy captions for the gallery, beam
// search on one image (the PEFT step). Beam parity at length is covered by the Rust tests.
const CAPTION = { beams: 1, maxTokens: 8 };
const PEFT_CAPTION = { beams: 3, maxTokens: 8 };
const decoding = (o) => ['--beams', String(o.beams), '--max-tokens', String(o.maxTokens)];
const details = nativeCaptions(['--encoder', path.join(fixtures, 'clip_a'), '--decoder', path.join(fixtures, 'gpt2_xattn'), ...decoding(CAPTION)], [zsDir]);
const peftDetails = nativeCaptions(
  ['--encoder', path.join(fixtures, 'clip_b'), '--decoder', path.join(fixtures, 'gpt2_plain'), '--peft', path.join(fixtures, 'peft_b'), ...decoding(PEFT_CAPTION)],
  [path.join(zsDir, '1_0.png')],
);
const vedDetails = nativeCaptions(['--model', path.join(fixtures, 'ved_vit'), ...decoding(PEFT_CAPTION)], [path.join(fixtures, 'images/portrait.png')]);

// ---------------------------------------------------------------- files served

// Broken and hostile checkpoints, and synthetic many-tensor checkpoints for the memory test.
writeBroken(path.join(tmp, 'broken'), fixtures);
const synth = path.join(tmp, 'synthetic');
const tower = (layers) => ({ hidden: 128, intermediate: 512, heads: 4, layers });
const small = syntheticClip(path.join(synth, 'small'), { vision: tower(12) });
const large = syntheticClip(path.join(synth, 'large'), { vision: tower(60) });
// Wide enough that burn's CPU matmuls go parallel (from 192^3 multiply-adds): the threads check.
const wide = syntheticClip(path.join(synth, 'wide'), { vision: { hidden: 256, intermediate: 1024, heads: 4, layers: 2 }, patch: 16, image: 224, projection: 64 });

const { server, log, url } = await serve({
  mounts: [
    { prefix: '/', dir: path.join(repo, 'www') },
    { prefix: '/fixtures/', dir: fixtures },
    { prefix: '/norange/', dir: fixtures, ranges: false },
    { prefix: '/broken/', dir: path.join(tmp, 'broken') },
    { prefix: '/synthetic/', dir: synth },
  ],
});
const weightRequests = () => log.filter((r) => r.path.endsWith('.safetensors')).length;

// ---------------------------------------------------------------- the main page

// backend=webgpu: SwiftShader is a software adapter, which the page would otherwise skip for the CPU.
const query = '?backend=webgpu&clip=/fixtures/clip_a/&encoder=/fixtures/clip_a/&decoder=/fixtures/gpt2_xattn/';
const browser = await launch();
const page = browser.pages()[0] || (await browser.newPage());
const consoleErrors = [];
page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
page.on('pageerror', (e) => consoleErrors.push(String(e)));
const report = {};

await step('page starts on WebGPU and reports the adapter', async () => {
  await page.goto(url + query);
  const info = await page.evaluate(() => window.glimpse.ready);
  assert.equal(info.backend, 'webgpu', 'not on WebGPU');
  const status = await page.textContent('#status');
  assert.match(status, /GPU: .*f16 (available|not available)/);
  report.adapter = info.adapter;
});

await step('zero-shot with two templates equals the native CLI', async () => {
  await captionOptions(page, CAPTION);
  await page.setInputFiles('#labels-file', path.join(zsDir, 'id2label.json'));
  await page.fill('#templates', TEMPLATES.join('\n'));
  const picked = zsImages.slice(0, -1);
  await page.setInputFiles('#file-input', picked.map((f) => path.join(zsDir, f)));
  // The last image arrives by a synthetic drag and drop.
  const last = zsImages[zsImages.length - 1];
  await page.evaluate(async (name) => {
    const blob = await (await fetch(`/fixtures/zeroshot/${name}`)).blob();
    const dt = new DataTransfer();
    dt.items.add(new File([blob], name, { type: 'image/png' }));
    document.getElementById('drop').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, last);
  await until(page, (n) => window.glimpse.state.photos.length === n && window.glimpse.state.photos.every((p) => p.probs) && window.glimpse.state.accuracy?.length === 3, zsImages.length, 'zero-shot predictions');
  const got = await page.evaluate(() => window.glimpse.state.photos.map((p) => ({ name: p.name, probs: [...p.probs] })));
  let worst = 0;
  for (const g of got) {
    const want = classify.predictions.find((p) => path.basename(p.image) === g.name);
    assert.ok(want, `no native prediction for ${g.name}`);
    worst = Math.max(worst, maxDiff(g.probs, want.probs));
  }
  report.zeroShotMaxDiff = worst;
  assert.ok(worst < 1e-3, `probabilities differ from native by ${worst}`);
  const cells = await page.$$eval('#accuracy-table tbody tr', (rows) => rows.map((r) => Number(r.dataset.accuracy)));
  const want = [...classify.per_template.map((t) => t.accuracy), classify.accuracy];
  assert.deepEqual(cells.map((c) => c.toFixed(6)), want.map((c) => c.toFixed(6)), 'accuracy table');
  await page.screenshot({ path: path.join(shots, 'zeroshot.png'), fullPage: true });
});

await step('editing a template re-scores from cached image embeddings', async () => {
  const before = await page.evaluate(() => window.glimpse.state.photos[0].probs[0]);
  const embedsBefore = await page.evaluate(() => window.glimpse.state.timings.embedN);
  await page.fill('#templates', 'a drawing of a {}');
  await until(page, (b) => window.glimpse.state.templates[0] === 'a drawing of a {}' && window.glimpse.state.photos[0].probs[0] !== b && window.glimpse.state.accuracy?.length === 1, before, 're-scoring');
  assert.equal(await page.evaluate(() => window.glimpse.state.timings.embedN), embedsBefore, 'images were embedded again');
  assert.equal(await page.locator('#accuracy-table tbody tr').count(), 1);
  await page.fill('#templates', '{} without a slot');
  await page.fill('#templates', 'no slot here');
  await until(page, () => /slot/.test(document.getElementById('template-error').textContent), null, 'template error');
  await page.fill('#templates', TEMPLATES.join('\n'));
  await until(page, () => window.glimpse.state.accuracy?.length === 3, null, 'accuracy table back');
});

await step('search ranks the gallery by a typed text', async () => {
  await page.fill('#search-box', 'a photo of a red square');
  await until(page, () => document.querySelector('.card .sim')?.textContent.includes('similarity'), null, 'search results');
  const sims = await page.$$eval('.card .sim', (s) => s.map((x) => Number(x.textContent.replace(/[^0-9.-]/g, ''))));
  assert.deepEqual([...sims].sort((a, b) => b - a), sims, 'gallery not sorted by similarity');
  await page.fill('#search-box', '');
});

await step('captions equal the native CLI token for token', async () => {
  await until(page, (n) => window.glimpse.state.photos.filter((p) => p.caption).length === n, zsImages.length, 'captions');
  const got = await page.evaluate(() => window.glimpse.state.photos.map((p) => ({ name: p.name, tokens: p.caption.tokens, text: p.caption.text })));
  for (const g of got) {
    const want = details[g.name.replace(/\.png$/, '')];
    assert.deepEqual(g.tokens, want.tokens, `tokens of ${g.name}`);
    assert.equal(g.text, want.text);
  }
  report.captions = got.length;
});

await step('hovering words changes the attention overlay, differently per word', async () => {
  const name = await page.evaluate(() => window.glimpse.state.photos.find((p) => p.caption.words.length >= 2).name);
  const card = page.locator(`.card[data-name="${name}"]`);
  await page.mouse.move(0, 0);
  const plain = await overlayOf(card, '');
  const first = await hoverWord(card, 0);
  const second = await hoverWord(card, 1);
  assert.notEqual(first, plain, 'overlay did not change on hover');
  assert.notEqual(second, first, 'two words show the same map');
  await card.screenshot({ path: path.join(shots, 'attention.png') });
  await card.scrollIntoViewIfNeeded();
  await page.screenshot({ path: path.join(shots, 'hover.png') });
  // Keyboard: focusing a chip shows its map too.
  await card.locator('.chip').nth(0).focus();
  assert.equal(await overlayOf(card, '0'), first);
});

await step('CLIPScore equals the native CLI, and follows an edited caption', async () => {
  await until(page, () => window.glimpse.state.photos.every((p) => typeof p.score === 'number'), null, 'CLIPScores');
  const ph = await page.evaluate(() => ({ name: window.glimpse.state.photos[0].name, text: window.glimpse.state.photos[0].scoredText, score: window.glimpse.state.photos[0].score }));
  const want = native(['score', '--clip', path.join(fixtures, 'clip_a'), '--image', path.join(zsDir, ph.name), '--caption', ph.text]).CLIPScore;
  report.clipScoreDiff = Math.abs(ph.score - want);
  // The raw cosine beside it, and why a negative one scores 0.
  const shown = await page.locator(`.card[data-name="${ph.name}"] .score`).evaluate((e) => ({ text: e.textContent, title: e.title }));
  assert.match(shown.text, /^CLIPScore \d\.\d{4} \(cosine -?\d\.\d{4}\)/);
  assert.match(shown.title, /2\.5 × max\(cosine/);
  assert.equal(await page.locator('.card[data-rank="best"]').count(), 1, 'the best-scoring photo is marked');
  assert.ok(report.clipScoreDiff < 1e-4, `CLIPScore ${ph.score} vs native ${want}`);
  const edit = page.locator(`.card[data-name="${ph.name}"] input.edit`);
  await edit.fill('a bright green circle');
  await until(page, (n) => window.glimpse.state.photos.find((p) => p.name === n).scoredText === 'a bright green circle', ph.name, 'new score');
  const edited = await page.evaluate((n) => window.glimpse.state.photos.find((p) => p.name === n).score, ph.name);
  assert.notEqual(edited, ph.score);
  const want2 = native(['score', '--clip', path.join(fixtures, 'clip_a'), '--image', path.join(zsDir, ph.name), '--caption', 'a bright green circle']).CLIPScore;
  assert.ok(Math.abs(edited - want2) < 1e-4, `edited CLIPScore ${edited} vs native ${want2}`);
  await page.screenshot({ path: path.join(shots, 'captions.png'), fullPage: true });
});

await step('a corrupt image gets a clear message and the page keeps working', async () => {
  await page.setInputFiles('#file-input', [path.join(fixtures, 'images/not_an_image.png'), path.join(fixtures, 'images/portrait.png')]);
  await until(page, () => {
    const s = window.glimpse.state.photos;
    return s.find((p) => p.name === 'not_an_image.png')?.error && s.find((p) => p.name === 'portrait.png')?.probs && s.find((p) => p.name === 'portrait.png')?.caption;
  }, null, 'the corrupt image error and the next image');
  const msg = await page.locator('.card[data-name="not_an_image.png"] .error').textContent();
  assert.match(msg, /not_an_image\.png/);
  assert.match(msg, /not an image: open it elsewhere/, 'advice for a photo, not for a model');
  report.corruptImageMessage = msg;
});

// Real-world files from the image corpus (tests/fixtures/make_image_corpus.py): a portrait 4:2:0
// JPEG, an EXIF-rotated 4:2:0 JPEG and WebP, GIFs with transparency and a frame offset, 16-bit
// and palette+tRNS PNGs; and a truncated JPEG, refused as Pillow refuses it.
const CORPUS = path.join(fixtures, 'image_corpus');
const CORPUS_SAMPLE = ['jpeg/q85_s2_480x640.jpg', 'jpeg/exif_o6_s2_45x31.jpg', 'webp/exif_o6.webp', 'webp/lossy_alpha_30x45.webp',
  'gif/transparent_index.gif', 'gif/first_frame_offset_transparent.gif', 'png/rgb16_23x37.png', 'png/pal4_trns_23x37.png', 'png/rgb8_64x150.png'];
const CORPUS_TRUNCATED = 'jpeg/trunc_base.jpg.cut70.jpg';

await step('real-world photos decode in the page exactly as in the CLI; a truncated one is refused', async () => {
  const want = native(['embed', '--model', path.join(fixtures, 'clip_a'), ...CORPUS_SAMPLE.flatMap((f) => ['--image', path.join(CORPUS, f)])]).image_embeds;
  // Unique names: the gallery keys photos by name.
  const files = [...CORPUS_SAMPLE, CORPUS_TRUNCATED].map((f) => {
    const dst = path.join(tmp, 'corpus', f.replaceAll('/', '__'));
    mkdirSync(path.dirname(dst), { recursive: true });
    copyFileSync(path.join(CORPUS, f), dst);
    return dst;
  });
  await page.setInputFiles('#file-input', files);
  const names = files.map((f) => path.basename(f));
  await until(page, (ns) => ns.every((n, i) => {
    const p = window.glimpse.state.photos.find((q) => q.name === n);
    return i === ns.length - 1 ? p?.error : p?.embed;
  }), names, 'corpus sample embeddings');
  const got = await page.evaluate((ns) => ns.map((n) => [...window.glimpse.state.photos.find((q) => q.name === n).embed]), names.slice(0, -1));
  let worst = 0;
  got.forEach((g, i) => { worst = Math.max(worst, maxDiff(g, want[i])); });
  report.corpusEmbedMaxDiff = worst;
  assert.ok(worst < 1e-4, `corpus embeddings differ from the CLI's by ${worst}`);
  const msg = await page.locator(`.card[data-name="${names.at(-1)}"] .error`).textContent();
  assert.match(msg, /truncated/);
  assert.match(msg, /trunc_base/);
  report.truncatedImageMessage = msg;
});

await step('reloading takes the models from the Cache API (no weight download)', async () => {
  const before = weightRequests();
  const configsBefore = log.filter((r) => r.path.endsWith('config.json')).length;
  await page.reload();
  await page.evaluate(() => window.glimpse.ready);
  await captionOptions(page, CAPTION);
  await page.setInputFiles('#file-input', [path.join(zsDir, '0_0.png')]);
  await until(page, () => window.glimpse.state.photos[0]?.probs && window.glimpse.state.photos[0]?.caption, null, 'results after reload');
  assert.equal(weightRequests(), before, 'weights were fetched again');
  assert.equal(log.filter((r) => r.path.endsWith('config.json')).length, configsBefore, 'configs were fetched again');
  assert.match(await page.textContent('#status'), /from the browser cache/);
  const got = await page.evaluate(() => window.glimpse.state.photos[0].caption.tokens);
  assert.deepEqual(got, details['0_0'].tokens);
});

await step('a truncated safetensors file gets a clear message and the page keeps working', async () => {
  await page.selectOption('#clip-choice', 'custom');
  await page.fill('#clip-url', '/broken/clip_trunc/');
  await page.click('#clip-load');
  await until(page, () => Boolean(document.querySelector('#banners .banner')) && window.glimpse.state.clip.phase === 'failed', null, 'truncation message', true);
  assert.equal(await page.evaluate(() => window.glimpse.state.clip.error.kind), 'invalid-file');
  report.truncatedMessage = await page.textContent('#banners .banner-text');
  assert.match(report.truncatedMessage, /clip_trunc\/model\.safetensors/);
  assert.match(report.truncatedMessage, /truncated|shorter than|cut short/);
  await page.click('#banners .banner-close');
  await page.fill('#clip-url', '/fixtures/clip_a/');
  await page.click('#clip-load');
  await until(page, () => window.glimpse.state.clip.phase === 'ready' && window.glimpse.state.photos[0].probs, null, 'reload of the good model');
});

await step('hostile checkpoints are refused with the CLI\'s messages; the page goes on with the next, good model', async () => {
  const probs = await page.evaluate(() => [...window.glimpse.state.photos[0].probs]);
  const since = log.length;
  await page.fill('#clip-url', '/broken/clip_huge/');
  await page.click('#clip-load');
  await until(page, () => Boolean(document.querySelector('#banners .banner')) && /declares shape/.test(document.querySelector('#banners .banner-text').textContent), null, 'refusal of a 12 GB tensor', true);
  report.hugeMessage = await page.textContent('#banners .banner-text');
  assert.match(report.hugeMessage, /model\.safetensors: tensor `vision_model\.embeddings\.class_embedding` declares shape \[3221225472\].*largest tensor/);
  const fetched = log.slice(since).filter((r) => r.path.endsWith('clip_huge/model.safetensors'));
  assert.ok(fetched.every((r) => r.range), 'only ranges of the 12 GB file were asked for');
  await page.click('#banners .banner-close');
  await page.fill('#clip-url', '/fixtures/clip_a/');
  await page.click('#clip-load');
  await until(page, () => window.glimpse.state.clip.phase === 'ready' && window.glimpse.state.photos[0].probs, null, 'the good model after the hostile one');
  assert.deepEqual(await page.evaluate(() => [...window.glimpse.state.photos[0].probs]), probs);
  // A pickle nested a million deep (it overflowed the engine's stack).
  const err = await page.evaluate(() =>
    window.glimpse.call('load', { spec: { kind: 'captioner', model: { url: new URL('/broken/ved_deep/', location.href).href } } }).then(() => 'loaded', (e) => e.message),
  );
  assert.match(err, /pytorch_model\.bin: not a readable PyTorch checkpoint: values nest more than 64 deep/);
});

await step('an engine that dies is restarted; photos and results stay, and models load again', async () => {
  const before = await page.evaluate(() => window.glimpse.state.photos.map((p) => [p.name, [...p.probs]]));
  const kind = await page.evaluate(() => window.glimpse.call('crashForTesting').then(() => 'no crash', (e) => e.kind));
  assert.equal(kind, 'crashed');
  await until(page, () => window.glimpse.state.restarts === 1 && window.glimpse.state.ready, null, 'a fresh engine', true);
  assert.match(await page.textContent('#banners .banner-text'), /The engine stopped: it panicked: .*asked for by the test suite.*restarted/s);
  const kept = await page.evaluate(() => window.glimpse.state.photos.map((p) => [p.name, [...p.probs]]));
  assert.deepEqual(kept, before, 'photos and their results are kept');
  await page.click('#banners .banner-close');
  await page.click('#clip-load');
  await until(page, () => window.glimpse.state.clip.phase === 'ready' && window.glimpse.state.photos.every((p) => p.probs), null, 'CLIP loaded again in the fresh engine');
  assert.deepEqual(await page.evaluate(() => window.glimpse.state.photos.map((p) => [p.name, [...p.probs]])), before);
});

await step('a server without range support: the file is streamed, same results', async () => {
  const before = await page.evaluate(() => [...window.glimpse.state.photos[0].embed]);
  await page.evaluate(() => window.glimpse.call('clearCache'));
  await page.fill('#clip-url', '/norange/clip_a/');
  const since = log.length;
  await page.click('#clip-load');
  await until(page, () => window.glimpse.state.clip.phase === 'ready' && window.glimpse.state.photos[0].embed, null, 'streamed model');
  const reqs = log.slice(since).filter((r) => r.path.endsWith('model.safetensors'));
  assert.ok(reqs.length >= 1 && reqs.every((r) => r.path.startsWith('/norange/')), JSON.stringify(reqs));
  const after = await page.evaluate(() => [...window.glimpse.state.photos[0].embed]);
  assert.deepEqual(after, before, 'embedding differs after a streamed load');
});

await step('a PEFT checkpoint loads and captions as natively', async () => {
  const p2 = await open(browser, url, `?backend=webgpu&clip=/fixtures/clip_a/&peft=/fixtures/peft_b/&encoder=/fixtures/clip_b/&decoder=/fixtures/gpt2_plain/`);
  await captionOptions(p2, PEFT_CAPTION);
  await p2.setInputFiles('#file-input', [path.join(zsDir, '1_0.png')]);
  await until(p2, () => window.glimpse.state.photos[0]?.caption, null, 'PEFT caption');
  const tokens = await p2.evaluate(() => window.glimpse.state.photos[0].caption.tokens);
  assert.deepEqual(tokens, peftDetails['1_0'].tokens);
  await p2.close();
});

await step('a published captioner (ViT + GPT-2 VisionEncoderDecoderModel) captions as natively', async () => {
  const p4 = await open(browser, url, `?backend=webgpu&clip=/fixtures/clip_a/&model=/fixtures/ved_vit/`);
  await captionOptions(p4, PEFT_CAPTION);
  await p4.setInputFiles('#file-input', [path.join(fixtures, 'images/portrait.png')]);
  await until(p4, () => window.glimpse.state.photos[0]?.caption, null, 'published-model caption');
  const cap = await p4.evaluate(() => window.glimpse.state.photos[0].caption);
  assert.deepEqual(cap.tokens, vedDetails.portrait.tokens);
  assert.deepEqual(cap.grid, [4, 4], 'ViT 4x4 patch grid');
  const card = p4.locator('.card').first();
  const before = await overlayOf(card, '');
  assert.notEqual(await hoverWord(card, 0), before, 'no attention overlay');
  await p4.close();
});

await step('a published captioner saved as pytorch_model.bin loads in the page (pickle read as data)', async () => {
  const p5 = await open(browser, url, `?backend=webgpu&clip=/fixtures/clip_a/&model=/fixtures/ved_vit_bin/`);
  await captionOptions(p5, PEFT_CAPTION);
  await p5.setInputFiles('#file-input', [path.join(fixtures, 'images/portrait.png')]);
  await until(p5, () => window.glimpse.state.photos[0]?.caption, null, 'caption from pytorch_model.bin');
  assert.deepEqual(await p5.evaluate(() => window.glimpse.state.photos[0].caption.tokens), vedDetails.portrait.tokens);
  const bins = log.filter((r) => r.path.endsWith('ved_vit_bin/pytorch_model.bin'));
  assert.ok(bins.every((r) => r.range), 'every read of the .bin is a range request');
  await p5.goto(`${url}?backend=webgpu&clip=/fixtures/clip_a/&model=/fixtures/evil_pickle/`);
  await p5.evaluate(() => window.glimpse.ready);
  await p5.click('#caption-all');
  await until(p5, () => Boolean(document.querySelector('#banners .banner')), null, 'the refusal', true);
  assert.match(await p5.textContent('#banners .banner-text'), /pickle calls `posix\.system`.*not executed/);
  await p5.close();
});

await loadingSteps({ browser, url, log, report, templates: TEMPLATES });
await visitSteps({ browser, url, log, report, templates: TEMPLATES, classify, details, caption: CAPTION });
await fewshotSteps({ browser, url });

await step('peak wasm memory while loading stays near the largest tensor, whatever the file size', async () => {
  const p3 = await open(browser, url, `?backend=webgpu`);
  const mem = () => p3.evaluate(() => window.glimpse.call('memory'));
  const base = await mem();
  const load = (dir) => p3.evaluate((u) => window.glimpse.call('load', { spec: { kind: 'clip', model: { url: u }, towers: 'vision' } }), new URL(`/synthetic/${dir}/`, url).href);
  await load('small');
  const afterSmall = await mem();
  await load('large');
  const afterLarge = await mem();
  const MARGIN = 8 << 20;
  report.memory = {
    baseline: base, growthSmall: afterSmall - base, growthLarge: afterLarge - base,
    fileSmall: small.bytes, fileLarge: large.bytes, largestTensor: large.largest, tensors: large.tensors, margin: MARGIN,
  };
  assert.ok(afterLarge - base <= large.largest + MARGIN, `wasm memory grew by ${afterLarge - base} bytes loading a ${large.bytes}-byte file`);
  assert.ok(large.bytes > 2 * (large.largest + MARGIN), 'the large file must be much larger than the bound');
  await p3.close();
});

/** Zero-shot and captions of the zero-shot images on a CPU page: the largest probability difference from the CLI (tokens must be equal). */
async function cpuEqualsCli(p) {
  await captionOptions(p, CAPTION);
  await p.setInputFiles('#labels-file', path.join(zsDir, 'id2label.json'));
  await p.fill('#templates', TEMPLATES.join('\n'));
  await p.setInputFiles('#file-input', zsImages.map((f) => path.join(zsDir, f)));
  await until(p, (n) => window.glimpse.state.photos.length === n && window.glimpse.state.photos.every((x) => x.probs && x.caption), zsImages.length, 'CPU zero-shot and captions', true); // a no-WebGPU notice may stay up
  const got = await p.evaluate(() => window.glimpse.state.photos.map((x) => ({ name: x.name, probs: [...x.probs], tokens: x.caption.tokens })));
  let worst = 0;
  for (const g of got) {
    worst = Math.max(worst, maxDiff(g.probs, classify.predictions.find((x) => path.basename(x.image) === g.name).probs));
    assert.deepEqual(g.tokens, details[g.name.replace(/\.png$/, '')].tokens, `CPU tokens of ${g.name}`);
  }
  assert.ok(worst < 1e-3, `CPU probabilities differ from native by ${worst}`);
  return worst;
}

const cpuQuery = query.replace('backend=webgpu&', '');
const noWebGpu = { args: FLAGS.filter((f) => f !== '--enable-unsafe-webgpu').concat(['--disable-webgpu']) };

await step('no usable GPU: the page runs on the CPU in WebAssembly (one thread asked for), says why, and equals the CLI', async () => {
  // A software adapter (SwiftShader) is skipped by default.
  const sw = await browser.newPage();
  await sw.goto(url + '?threads=1');
  const swInfo = await sw.evaluate(() => window.glimpse.ready);
  assert.equal(swInfo.backend, 'cpu');
  assert.equal(swInfo.why, 'software-adapter');
  assert.match(await sw.textContent('#status'), /CPU \(WebAssembly SIMD, one thread: asked for by \?threads=1; .*software/);
  await sw.close();
  // No WebGPU at all: a banner says where WebGPU works, and everything runs on the CPU.
  const plain = await launch(noWebGpu);
  const p = plain.pages()[0] || (await plain.newPage());
  const errors = [];
  p.on('pageerror', (e) => errors.push(String(e)));
  await p.goto(url + cpuQuery + '&threads=1');
  const info = await p.evaluate(() => window.glimpse.ready);
  assert.equal(info.backend, 'cpu');
  assert.deepEqual([info.build.threads, info.build.simd, info.build.gpu], [false, true, true], 'the single-thread SIMD build with WebGPU');
  await p.waitForFunction(() => Boolean(document.querySelector('#banners .banner')), null, { timeout: 60000 });
  assert.match(await p.textContent('#banners .banner-text'), /No WebGPU.*CPU.*Chrome/);
  report.cpuZeroShotMaxDiff = await cpuEqualsCli(p);
  assert.deepEqual(errors, []);
  await plain.close();
});

await step('without COOP/COEP from the server (GitHub Pages), js/isolation.js isolates the page by one reload; the threaded build equals the CLI on two threads', async () => {
  const plain = await launch(noWebGpu);
  const p = plain.pages()[0] || (await plain.newPage());
  const errors = [];
  p.on('pageerror', (e) => errors.push(String(e)));
  const { info, loads } = await gotoAndStart(p, url + cpuQuery + '&threads=2');
  assert.equal(loads, 2, 'one reload');
  assert.ok(await p.evaluate(() => crossOriginIsolated && Boolean(navigator.serviceWorker.controller)), 'isolated by the service worker');
  assert.deepEqual([info.backend, info.build.threads, info.build.threadCount, info.build.gpu], ['cpu', true, 2, false], 'the threaded build, two threads');
  assert.match(await p.textContent('#status'), /CPU \(WebAssembly SIMD, 2 threads; no WebGPU\)/);
  report.threadedZeroShotMaxDiff = await cpuEqualsCli(p);
  // The fixtures are too small for parallel kernels: a wider vision tower (197 tokens x 256)
  // embeds a photo as the CLI does, and more than one worker thread does the work.
  const photo = path.join(fixtures, 'images/landscape.jpg');
  const want = native(['embed', '--model', path.join(synth, 'wide'), '--image', photo]).image_embeds[0];
  await p.evaluate(() => window.glimpse.call('load', { spec: { kind: 'clip', model: { url: `${location.origin}/synthetic/wide/` }, towers: 'vision' } }));
  const bytes = [...readFileSync(photo)];
  const embed = () => p.evaluate(async (b) => [...(await window.glimpse.call('embedImage', { bytes: new Uint8Array(b), name: 'landscape.jpg' }))], bytes);
  await embed(); // warm-up
  const before = workerCpu();
  let got;
  for (let i = 0; i < 5; i++) got = await embed();
  const busy = busyWorkers(before, workerCpu(), 0.05);
  report.threadedWideEmbedMaxDiff = maxDiff(got, want);
  report.threadedBusyWorkers = busy;
  assert.ok(report.threadedWideEmbedMaxDiff < 1e-4, `the threaded embedding differs from the CLI by ${report.threadedWideEmbedMaxDiff}`);
  assert.ok(busy.length >= 2, `only ${busy.length} worker thread(s) did work: ${JSON.stringify(busy)}`);
  // A second visit is isolated from the start (no reload).
  const again = await gotoAndStart(p, url + cpuQuery + '&threads=2');
  assert.equal(again.loads, 1, 'no reload on the second visit');
  assert.equal(again.info.build.threads, true);
  assert.deepEqual(errors, []);
  await plain.close();
});

await step('served with COOP/COEP (./build.sh serve), the page is isolated without a service worker; threads by the core count unless ?threads says', async () => {
  const iso = await serve({ mounts: [{ prefix: '/', dir: path.join(repo, 'www') }, { prefix: '/fixtures/', dir: fixtures }], headers: ISOLATION });
  const p = await browser.newPage();
  const { info, loads } = await gotoAndStart(p, iso.url + cpuQuery + '&threads=2');
  assert.equal(loads, 1);
  assert.ok(await p.evaluate(() => crossOriginIsolated && !navigator.serviceWorker.controller), 'isolated by the headers alone');
  assert.deepEqual([info.build.threads, info.build.threadCount], [true, 2]);
  // Without ?threads the core count decides: threads from 2 logical cores (one per core, up to 8).
  const byDefault = (await gotoAndStart(p, iso.url + cpuQuery)).info.build;
  const cores = await p.evaluate(() => navigator.hardwareConcurrency);
  assert.deepEqual([byDefault.threads, byDefault.threadCount], cores >= 2 ? [true, Math.min(cores, 8)] : [false, 1], `the default on ${cores} cores`);
  if (cores < 2) assert.match(await p.textContent('#status'), /one thread: 1 core, threads are used from 2/);
  await p.close();
  iso.server.close();
});

await step('readable on a phone screen (no sideways scrolling)', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  await page.screenshot({ path: path.join(shots, 'phone.png') });
  assert.ok(overflow <= 0, `the page is ${overflow} px wider than a phone screen`);
  await page.setViewportSize({ width: 1280, height: 900 });
});

await step('no uncaught errors in the page', async () => {
  // The panic asked for by the restart step is logged by the engine's panic hook, as it should be.
  const bad = consoleErrors.filter((e) => !/Failed to load resource|asked for by the test suite|RuntimeError: unreachable/.test(e));
  assert.deepEqual(bad, []);
});

await browser.close();
server.close();
console.log(JSON.stringify(report, null, 2));
const failed = results.filter((r) => !r.ok);
console.log(`${results.length - failed.length} passed, ${failed.length} failed; screenshots in ${path.relative(repo, shots)}/`);
process.exit(failed.length ? 1 : 0);
