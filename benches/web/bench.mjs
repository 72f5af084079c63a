// Benchmark (not a test): caption latency of a full-size ViT-base/16 + GPT-2 (124M) captioner with
// random weights, in one headless Chromium on one WebGPU adapter: glimpse's page (its worker, the
// wasm build on WebGPU, and on the CPU inside WebAssembly) next to transformers.js (@huggingface/transformers with onnxruntime-web,
// the ONNX export of the same weights) on WebGPU and on its WebAssembly CPU backend; then glimpse
// natively (benches/latency.rs) on the CPU backend and on wgpu, and PyTorch on the CPU
// (torch_caption.py, with --python). Every runtime's token ids are checked against HF `generate`
// (reference.json from make_bench_model.py).
//
//   python benches/web/make_bench_model.py /tmp/vit-gpt2-random      (once; see its docstring)
//   (cd benches/web && npm install --ignore-scripts)                   (once)
//   node benches/web/bench.mjs /tmp/vit-gpt2-random [--tokens 20] [--runs 1] [--python /tmp/bv/bin/python]
//        [--only glimpse,glimpse-cpu,tjs-webgpu,tjs-wasm,cpu,wgpu,torch]
//
// Needs ./build.sh web (www/pkg). A caption = decode the image bytes, preprocess, encode, greedy
// steps with the stop token held off. Per runtime: one warm-up caption of 1 token (shader
// compilation, first allocations), then captions of 1 and of --tokens tokens (medians of --runs
// each): the 1-token time is about the encoder's, the difference gives the time per token.

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

import { ISOLATION, serve } from '../../tests/browser/serve.mjs';
import { withProfile } from '../../tests/browser/scratch.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../..');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const modelDir = path.resolve(process.argv[2] && !process.argv[2].startsWith('--') ? process.argv[2] : '/tmp/vit-gpt2-random');
const TOKENS = Number(arg('--tokens', 20));
const RUNS = Number(arg('--runs', 1));
const only = arg('--only', 'glimpse,glimpse-cpu,tjs-webgpu,tjs-wasm,cpu,wgpu,torch').split(',');
const python = arg('--python', null);
const out = arg('--out', path.join(repo, 'target/bench-web.json'));

for (const need of [path.join(modelDir, 'model.safetensors'), path.join(modelDir, 'onnx/encoder_model.onnx'), path.join(repo, 'www/pkg/glimpse_bg.wasm')]) {
  if (!existsSync(need)) {
    console.error(`missing ${need}: see the comment at the top of ${path.relative(repo, fileURLToPath(import.meta.url))}`);
    process.exit(2);
  }
}
const reference = JSON.parse(readFileSync(path.join(modelDir, 'reference.json'), 'utf8'));
const image = path.join(repo, reference.image);
const bytes = [...readFileSync(image)];
const wanted = reference.greedy_ids.slice(0, TOKENS + 1);
const agree = (ids) => {
  let n = 0;
  while (n < Math.min(ids.length, wanted.length) && ids[n] === wanted[n]) n++;
  return `${n}/${wanted.length}`;
};
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const log = (row) => console.error(JSON.stringify(row));
const rows = [];
let adapter = null;

const modelName = path.basename(modelDir);
const { server, url } = await serve({
  mounts: [
    { prefix: '/', dir: path.join(repo, 'www') },
    { prefix: '/repo/', dir: repo },
    { prefix: `/models/${modelName}/`, dir: modelDir },
    { prefix: '/bench/', dir: here },
    { prefix: '/tjs/', dir: path.join(here, 'node_modules/@huggingface/transformers/dist') },
    { prefix: '/ort/', dir: path.join(here, 'node_modules/onnxruntime-web/dist') },
  ],
  // Cross-origin isolation: onnxruntime-web's WebAssembly backend gets its threads.
  headers: ISOLATION,
});
const browser = await withProfile('glimpse-bench-', (dir) => chromium.launchPersistentContext(dir, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--enable-unsafe-webgpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'],
}));
browser.setDefaultTimeout(0);

// `fn(argument, tokens)` in the page returns the token ids of one caption.
async function timed(page, fn, argument) {
  const run = async (tokens, what) => {
    const t0 = Date.now();
    const ids = await page.evaluate(fn, { ...argument, tokens });
    const s = (Date.now() - t0) / 1000;
    console.error(`  ${what}, ${tokens} token(s): ${s.toFixed(1)} s`);
    return { s, ids };
  };
  await run(1, 'warm-up');
  const one = [];
  const all = [];
  let ids;
  for (let i = 0; i < RUNS; i++) {
    one.push((await run(1, 'run')).s);
    const r = await run(TOKENS, 'run');
    all.push(r.s);
    ids = r.ids;
  }
  return summary(median(one), median(all), ids);
}

function summary(first_s, caption_s, ids) {
  return { caption_s, first_s, per_token_s: (caption_s - first_s) / Math.max(TOKENS - 1, 1), ids, agree: agree(ids) };
}

for (const backend of ['webgpu', 'cpu']) {
  const key = backend === 'webgpu' ? 'glimpse' : 'glimpse-cpu';
  if (!only.includes(key)) continue;
  const page = await browser.newPage();
  page.on('console', (m) => m.type() === 'error' && console.error('page:', m.text()));
  await page.goto(`${url}?backend=${backend}`);
  const info = await page.evaluate(() => window.glimpse.ready);
  adapter ??= info.adapter;
  const t0 = Date.now();
  await page.evaluate((m) => window.glimpse.call('load', { spec: { kind: 'captioner', model: { url: `${location.origin}/models/${m}/` } } }), modelName);
  const load_s = (Date.now() - t0) / 1000;
  console.error(`glimpse ${backend}: loaded in ${load_s.toFixed(1)} s`);
  const r = await timed(
    page,
    async ({ bytes, tokens }) => (await window.glimpse.call('caption', { bytes: new Uint8Array(bytes), name: 'bench.png', options: { beams: 1, maxTokens: tokens, noStop: true } })).tokens,
    { bytes },
  );
  rows.push({ runtime: `glimpse, Chromium ${backend === 'webgpu' ? 'WebGPU' : 'WebAssembly (CPU)'}`, load_s, ...r });
  log(rows.at(-1));
  await page.close();
}

for (const device of ['webgpu', 'wasm']) {
  if (!only.includes(`tjs-${device}`)) continue;
  const page = await browser.newPage();
  page.on('console', (m) => m.type() === 'error' && console.error('page:', m.text()));
  await page.goto(`${url}bench/tjs.html`);
  await page.waitForFunction(() => window.tjsReady);
  if (!adapter) {
    adapter = await page.evaluate(async () => {
      const info = (await navigator.gpu.requestAdapter())?.info ?? {};
      return { vendor: info.vendor, architecture: info.architecture, description: info.description };
    });
  }
  const loaded = await page.evaluate(({ m, device }) => window.tjs.load(m, device), { m: modelName, device });
  console.error(`transformers.js ${device}: loaded in ${loaded.load_s.toFixed(1)} s (cross-origin isolated: ${loaded.isolated})`);
  const r = await timed(page, ({ bytes, tokens }) => window.tjs.caption(bytes, tokens), { bytes });
  rows.push({ runtime: `transformers.js, Chromium ${device === 'webgpu' ? 'WebGPU' : 'WebAssembly (CPU)'}`, load_s: loaded.load_s, ...r });
  log(rows.at(-1));
  await page.close();
}
await browser.close();
server.close();

// A native run of `tokens` tokens: { caption_s, ids } or { error }.
function native(command, args) {
  try {
    const o = execFileSync(command, args, { cwd: repo, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return JSON.parse(o.trim().split('\n').pop());
  } catch (e) {
    const why = `${e.stderr || e.message}`.split('\n').filter((l) => /^error: /.test(l) && !/XDG_RUNTIME_DIR|bench failed/.test(l));
    return { error: why.join(' / ').replace(/^error: /, '') || `exit ${e.status}` };
  }
}
const natives = {
  cpu: ['glimpse, native CPU (burn Flex)', (t) => ['cargo', ['bench', '-q', '--features', 'native', '--bench', 'latency', '--', '--backend', 'cpu', '--model', modelDir, '--image', image, '--tokens', String(t), '--runs', String(RUNS)]]],
  wgpu: ['glimpse, native wgpu', (t) => ['cargo', ['bench', '-q', '--features', 'native', '--bench', 'latency', '--', '--backend', 'wgpu', '--model', modelDir, '--image', image, '--tokens', String(t), '--runs', String(RUNS)]]],
  torch: [`PyTorch CPU (eager)`, (t) => [python, [path.join(here, 'torch_caption.py'), modelDir, image, String(t), String(RUNS)]]],
};
for (const [key, [name, command]] of Object.entries(natives)) {
  if (!only.includes(key) || (key === 'torch' && !python)) continue;
  const one = native(...command(1));
  const all = one.error ? one : native(...command(TOKENS));
  rows.push(all.error ? { runtime: name, error: all.error } : { runtime: name, load_s: all.load_s, ...summary(one.caption_s, all.caption_s, all.ids) });
  log(rows.at(-1));
}

writeFileSync(out, JSON.stringify({ adapter, tokens: TOKENS, runs: RUNS, cores: os.cpus().length, rows }, null, 1));
const base = rows.find((r) => r.runtime.startsWith('transformers.js, Chromium WebGPU') && !r.error);
const sec = (s) => (s >= 10 ? `${s.toFixed(1)} s` : s >= 1 ? `${s.toFixed(2)} s` : `${(s * 1000).toFixed(0)} ms`);
console.log(`adapter: ${adapter?.vendor} ${adapter?.architecture} ${adapter?.description ?? ''}; ${os.cpus().length} cores; ${TOKENS} greedy tokens per caption; median of ${RUNS} after a warm-up\n`);
console.log(`| runtime | caption (${TOKENS} tokens) | 1-token caption (~encoder) | per further token | caption vs transformers.js WebGPU | ids = HF |`);
console.log('|---|---|---|---|---|---|');
for (const r of rows) {
  if (r.error) {
    console.log(`| ${r.runtime} | failed: ${r.error} | | | | |`);
    continue;
  }
  const ratio = base ? `${(r.caption_s / base.caption_s).toFixed(2)}x` : '';
  console.log(`| ${r.runtime} | ${sec(r.caption_s)} | ${sec(r.first_s)} | ${sec(r.per_token_s)} | ${ratio} | ${r.agree} |`);
}
