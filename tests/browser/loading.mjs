// Browser steps on how models load (issue 13): sharded checkpoints, a checkpoint's own decoding
// defaults, and the byte-range cache shared by every model that reads a file.

import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

import { captionOptions, fixtures, launch, maxDiff, native, nativeCaptions, open, photos, step, until, zsDir } from './harness.mjs';

const PORTRAIT = path.join(fixtures, 'images/portrait.png');
const dir = (name) => path.join(fixtures, name);

// The CLI's caption of the portrait by a published captioner, without decoding options.
const cliCaptions = new Map();
function cliCaption(name) {
  if (!cliCaptions.has(name)) cliCaptions.set(name, nativeCaptions(['--model', dir(name)], [PORTRAIT]).portrait);
  return cliCaptions.get(name);
}

// Captions the portrait in a fresh page on `name` (no decoding field touched); its photo state.
async function pageCaption(browser, url, name) {
  const p = await open(browser, url, `?backend=webgpu&clip=/fixtures/clip_a/&model=/fixtures/${name}/`);
  try {
    await p.setInputFiles('#file-input', [PORTRAIT]);
    await until(p, () => window.glimpse.state.photos[0]?.caption, null, `a caption by ${name}`);
    const shown = await p.evaluate(() => ({
      defaults: window.glimpse.state.captioner.defaults,
      fields: Object.fromEntries(['beams', 'max-tokens', 'length-penalty', 'no-repeat-ngram'].map((id) => [id, document.getElementById(id).value])),
    }));
    return { ...(await photos(p))[0], ...shown };
  } finally {
    await p.close();
  }
}

// The bytes [start, end) a logged request to a fixture file asked for.
function span(r) {
  let size = 0;
  try {
    size = statSync(path.join(fixtures, r.path.slice('/fixtures/'.length))).size;
  } catch {
    // an absent file: no bytes
  }
  const m = /^bytes=(\d+)-(\d*)$/.exec(r.range || '');
  if (!m) return [0, size];
  return [Number(m[1]), Math.min(size, m[2] ? Number(m[2]) + 1 : size)];
}

const overlaps = (a, b) => a[0] < b[1] && b[0] < a[1];

/**
 * The steps; `templates` are the zero-shot step's (the CLI is run with the same).
 * @param {{browser: object, url: string, log: object[], report: object, templates: string[]}} ctx
 */
export async function loadingSteps({ browser, url, log, report, templates }) {
  const images = readdirSync(zsDir).filter((f) => f.endsWith('.png')).sort();
  const indexRead = (name) => log.some((r) => r.path.startsWith(`/fixtures/${name}/`) && r.path.endsWith('.index.json') && r.status === 200);

  await step('a sharded checkpoint loads: CLIP zero-shot and published captioners (safetensors and pytorch_model.bin shards) equal the CLI', async () => {
    const want = native([
      'classify', '--model', dir('clip_a_sharded'), '--labels', path.join(zsDir, 'id2label.json'),
      ...templates.flatMap((t) => ['--template', t]), '--compare', '--top-k', '3', zsDir,
    ]);
    const p = await open(browser, url, '?backend=webgpu&clip=/fixtures/clip_a_sharded/');
    try {
      await p.setInputFiles('#labels-file', path.join(zsDir, 'id2label.json'));
      await p.fill('#templates', templates.join('\n'));
      await p.setInputFiles('#file-input', images.map((f) => path.join(zsDir, f)));
      const rows = templates.length + 1;
      await until(p, ([n, k]) => window.glimpse.state.photos.length === n && window.glimpse.state.photos.every((x) => x.probs) && window.glimpse.state.accuracy?.length === k, [images.length, rows], 'zero-shot with sharded CLIP');
      let worst = 0;
      for (const g of await photos(p)) worst = Math.max(worst, maxDiff(g.probs, want.predictions.find((x) => path.basename(x.image) === g.name).probs));
      report.shardedZeroShotMaxDiff = worst;
      assert.ok(worst < 1e-3, `probabilities differ from the CLI's by ${worst}`);
      const cells = await p.$$eval('#accuracy-table tbody tr', (trs) => trs.map((r) => Number(r.dataset.accuracy)));
      assert.deepEqual(cells.map((c) => c.toFixed(6)), [...want.per_template.map((t) => t.accuracy), want.accuracy].map((c) => c.toFixed(6)), 'accuracy table');
    } finally {
      await p.close();
    }
    assert.ok(indexRead('clip_a_sharded'), 'the shard index of clip_a_sharded was not read');
    for (const name of ['ved_vit_sharded', 'ved_vit_sharded_bin']) {
      const got = await pageCaption(browser, url, name);
      assert.deepEqual(got.options, {}, `${name}: the page sent decoding options nobody set`);
      assert.deepEqual(got.tokens, cliCaption(name).tokens, `${name}: tokens`);
      assert.ok(indexRead(name), `the shard index of ${name} was not read`);
    }
  });

  await step('a checkpoint whose generation_config sets num_beams, max_length, length_penalty and no_repeat_ngram_size captions exactly as the CLI', async () => {
    const gen = JSON.parse(readFileSync(path.join(dir('ved_vit_sharded'), 'generation_config.json'), 'utf8'));
    for (const k of ['num_beams', 'max_length', 'length_penalty', 'no_repeat_ngram_size']) assert.ok(k in gen, `the fixture's generation_config.json sets no ${k}`);
    const got = await pageCaption(browser, url, 'ved_vit_sharded');
    // max_length counts the start token; the fields show the defaults until the user edits them.
    const defaults = { beams: gen.num_beams, maxTokens: Math.max(1, gen.max_length - 1), lengthPenalty: gen.length_penalty, noRepeatNgram: gen.no_repeat_ngram_size };
    assert.deepEqual(got.defaults, defaults, 'decoding defaults');
    assert.deepEqual(got.fields, { beams: String(defaults.beams), 'max-tokens': String(defaults.maxTokens), 'length-penalty': String(defaults.lengthPenalty), 'no-repeat-ngram': String(defaults.noRepeatNgram) });
    assert.deepEqual(got.options, {}, 'the page sent decoding options nobody set');
    assert.deepEqual(got.tokens, cliCaption('ved_vit_sharded').tokens);
    report.generationConfigTokens = got.tokens.length;
  });

  await step('loading CLIP for zero-shot and then as a captioner encoder makes no second request for any byte already fetched', async () => {
    const fresh = await launch(); // a new profile: an empty cache
    try {
      const p = fresh.pages()[0] || (await fresh.newPage());
      const first = log.length;
      await p.goto(`${url}?backend=webgpu&clip=/fixtures/clip_a/`);
      await p.evaluate(() => window.glimpse.ready);
      await captionOptions(p, { beams: 1, maxTokens: 4 });
      await p.setInputFiles('#file-input', [path.join(zsDir, '0_0.png')]);
      await until(p, () => window.glimpse.state.clip.phase === 'ready' && window.glimpse.state.photos[0]?.probs, null, 'zero-shot');
      const second = log.length;
      await p.locator('#models details').evaluate((d) => (d.open = true)); // the encoder and decoder fields
  await p.fill('#enc-url', '/fixtures/clip_a/');
      await p.fill('#dec-url', '/fixtures/gpt2_xattn/');
      await p.click('#cap-load');
      await until(p, () => window.glimpse.state.captioner.phase === 'ready', null, 'the captioner on clip_a');
      const ofClip = (r) => r.path.startsWith('/fixtures/clip_a/');
      const fetched = log.slice(first, second).filter(ofClip);
      const again = log.slice(second).filter(ofClip);
      const repeated = again.filter((r) => fetched.some((f) => f.path === r.path && (f.status === 404 || overlaps(span(f), span(r)))));
      report.encoderReuse = { firstLoad: fetched.length, secondLoad: again.length, repeated: repeated.length };
      assert.ok(['config.json', 'model.safetensors'].every((n) => fetched.some((r) => r.path.endsWith(`/${n}`))), 'the first load did not read clip_a');
      assert.deepEqual(repeated, [], 'the second load asked again for bytes (or absent files) the first had fetched');
    } finally {
      await fresh.close();
    }
  });
}
