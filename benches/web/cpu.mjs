// Benchmark (not a test): the page's CPU path against transformers.js's WebAssembly backend in
// headless Chromium, on the same random-weight models and the same thread counts. glimpse runs
// its page (?backend=cpu&threads=N: the single-thread SIMD build for one thread, the threaded
// build on rayon over Web Workers for more); transformers.js runs onnxruntime-web with
// numThreads=N, on the fp32 ONNX export and on its default q8 (dynamic int8 weights). The server
// sends COOP/COEP, so both get their threads.
//
// Tasks: image embedding with a CLIP vision tower + projection (ViT-B/32, ViT-L/14:
// make_clip_bench_models.py), and a greedy caption of --tokens tokens with ViT-base/16 + GPT-2
// small (make_bench_model.py), whose 1-token time gives the encoder and the rest the time per
// decoder token. Each (runtime, threads, model) gets a fresh page in a fresh browser profile: model
// load time (local server, nothing cached), a warm-up, then the median of --runs. Embeddings are checked against HF's
// (reference.json) and caption ids against HF `generate`.
//
//   node benches/web/cpu.mjs [--clip /tmp/clip-bench] [--caption /tmp/vit-gpt2-random]
//        [--threads 1,2] [--tokens 20] [--runs 3] [--only glimpse,tjs-fp32,tjs-q8]
//        [--tasks b32,l14,caption] [--out target/bench-web-cpu.json]

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
const clipRoot = path.resolve(arg('--clip', '/tmp/clip-bench'));
const captionDir = path.resolve(arg('--caption', '/tmp/vit-gpt2-random'));
const THREADS = arg('--threads', `1,${Math.min(os.cpus().length, 8)}`).split(',').map(Number);
const TOKENS = Number(arg('--tokens', 20));
const RUNS = Number(arg('--runs', 3));
const only = arg('--only', 'glimpse,tjs-fp32,tjs-q8').split(',');
const out = arg('--out', path.join(repo, 'target/bench-web-cpu.json'));

const TASKS = {
  b32: { kind: 'embed', title: 'ViT-B/32 image embedding', dir: path.join(clipRoot, 'clip-vit-b32-random') },
  l14: { kind: 'embed', title: 'ViT-L/14 image embedding', dir: path.join(clipRoot, 'clip-vit-l14-random') },
  caption: { kind: 'caption', title: `ViT-base/16 + GPT-2 caption, ${TOKENS} tokens`, dir: captionDir },
};
const tasks = arg('--tasks', 'b32,l14,caption').split(',').filter((t) => {
  const ok = existsSync(path.join(TASKS[t].dir, 'reference.json'));
  if (!ok) console.error(`skipping ${t}: no ${TASKS[t].dir}/reference.json (see the comment at the top of this file)`);
  return ok;
});
if (!existsSync(path.join(repo, 'www/pkg-threads/glimpse_bg.wasm'))) console.error('no www/pkg-threads: ./build.sh builds it; glimpse runs one thread only');

const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const mounts = [
  { prefix: '/', dir: path.join(repo, 'www') },
  { prefix: '/repo/', dir: repo },
  { prefix: '/bench/', dir: here },
  { prefix: '/tjs/', dir: path.join(here, 'node_modules/@huggingface/transformers/dist') },
  { prefix: '/ort/', dir: path.join(here, 'node_modules/onnxruntime-web/dist') },
  ...tasks.map((t) => ({ prefix: `/models/${path.basename(TASKS[t].dir)}/`, dir: TASKS[t].dir })),
];
const { server, url } = await serve({ mounts, headers: ISOLATION });
// A fresh browser profile for every page: both runtimes keep downloaded models in the Cache API,
// so in a shared profile a later page would load from it (a run on 2026-12-07 timed such cache
// hits as the threaded build's loads).
const launch = () =>
  withProfile('glimpse-bench-', (dir) => chromium.launchPersistentContext(dir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    // No WebGPU: the CPU path, as a visitor without it gets.
    args: ['--no-sandbox', '--disable-webgpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'],
  }));

/** Times `fn(arg)` in the page: a warm-up, then the median of RUNS; {s, value} (the last value). */
async function timed(page, fn, argument) {
  await page.evaluate(fn, argument);
  const times = [];
  let value;
  for (let i = 0; i < RUNS; i++) {
    const t0 = Date.now();
    value = await page.evaluate(fn, argument);
    times.push((Date.now() - t0) / 1000);
  }
  return { s: median(times), value };
}

const agree = (ids, wanted) => {
  let n = 0;
  while (n < Math.min(ids.length, wanted.length) && ids[n] === wanted[n]) n++;
  return `${n}/${wanted.length}`;
};
const maxDiff = (a, b) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

/** One task on a page that has loaded its model: {load_s, ...timings, check}. */
async function runTask(page, t, api) {
  const task = TASKS[t];
  const reference = JSON.parse(readFileSync(path.join(task.dir, 'reference.json'), 'utf8'));
  const bytes = [...readFileSync(path.join(repo, reference.image))];
  const name = path.basename(task.dir);
  const t0 = Date.now();
  const info = await page.evaluate(api.load, { name, kind: task.kind, dtype: api.dtype });
  const load_s = (Date.now() - t0) / 1000;
  if (task.kind === 'embed') {
    const r = await timed(page, api.embed, { bytes });
    return { load_s, embed_s: r.s, check: `max |e - HF| ${maxDiff(r.value, reference.embedding).toExponential(1)}`, info };
  }
  const one = await timed(page, api.caption, { bytes, tokens: 1 });
  const all = await timed(page, api.caption, { bytes, tokens: TOKENS });
  const wanted = reference.greedy_ids.slice(0, TOKENS + 1);
  return { load_s, first_s: one.s, caption_s: all.s, per_token_s: (all.s - one.s) / Math.max(TOKENS - 1, 1), check: `ids = HF ${agree(all.value, wanted)}`, info };
}

const glimpseApi = {
  load: async ({ name, kind }) => {
    const at = { url: `${location.origin}/models/${name}/` };
    const spec = kind === 'embed' ? { kind: 'clip', model: at, towers: 'vision' } : { kind: 'captioner', model: at };
    await window.glimpse.call('load', { spec });
    return null;
  },
  embed: async ({ bytes }) => [...(await window.glimpse.call('embedImage', { bytes: new Uint8Array(bytes), name: 'bench.png' }))],
  caption: async ({ bytes, tokens }) => (await window.glimpse.call('caption', { bytes: new Uint8Array(bytes), name: 'bench.png', options: { beams: 1, maxTokens: tokens, noStop: true } })).tokens,
};
const tjsApi = (dtype) => ({
  dtype, // passed to load (page.evaluate sends the function's text, not its closure)
  load: ({ name, kind, dtype }) => (kind === 'embed' ? window.tjs.loadVision(name, 'wasm', dtype) : window.tjs.load(name, 'wasm', dtype)),
  embed: ({ bytes }) => window.tjs.embed(bytes),
  caption: ({ bytes, tokens }) => window.tjs.caption(bytes, tokens),
});

const rows = [];
let cores = null;
for (const t of tasks) {
  for (const threads of THREADS) {
    for (const runtime of only) {
      const browser = await launch();
      browser.setDefaultTimeout(0);
      const page = await browser.newPage();
      page.on('console', (m) => m.type() === 'error' && console.error('page:', m.text()));
      let api;
      let threadInfo;
      if (runtime === 'glimpse') {
        await page.goto(`${url}?backend=cpu&threads=${threads}`);
        const info = await page.evaluate(() => window.glimpse.ready);
        threadInfo = { build: info.build.threads ? 'threaded' : 'single', threads: info.build.threadCount, why: info.build.why };
        api = glimpseApi;
      } else {
        await page.goto(`${url}bench/tjs.html?threads=${threads}`);
        await page.waitForFunction(() => window.tjsReady);
        api = tjsApi(runtime === 'tjs-q8' ? 'q8' : 'fp32');
      }
      cores ??= await page.evaluate(() => navigator.hardwareConcurrency);
      let row;
      try {
        const r = await runTask(page, t, api);
        if (runtime !== 'glimpse') threadInfo = { threads: r.info.threads, isolated: r.info.isolated };
        row = { task: t, runtime, asked: threads, ...threadInfo, ...r, info: undefined };
      } catch (e) {
        row = { task: t, runtime, asked: threads, ...threadInfo, error: String(e.message || e).split('\n')[0] };
      }
      rows.push(row);
      console.error(JSON.stringify(row));
      await browser.close();
    }
  }
}
server.close();

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
writeFileSync(out, JSON.stringify({ cpu, cores: os.cpus().length, hardwareConcurrency: cores, tokens: TOKENS, runs: RUNS, rows }, null, 1));
const sec = (s) => (s == null ? '' : s >= 10 ? `${s.toFixed(1)} s` : s >= 1 ? `${s.toFixed(2)} s` : `${(s * 1000).toFixed(0)} ms`);
console.log(`${cpu}; navigator.hardwareConcurrency ${cores}; Chromium without WebGPU; median of ${RUNS} after a warm-up\n`);
console.log('| task | threads | runtime | load | time | per token | vs transformers.js fp32 | check |');
console.log('|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  const main = r.embed_s ?? r.caption_s;
  const base = rows.find((b) => b.task === r.task && b.asked === r.asked && b.runtime === 'tjs-fp32' && !b.error);
  const baseMain = base && (base.embed_s ?? base.caption_s);
  const who = r.runtime === 'glimpse' ? `glimpse (${r.build} build)` : `transformers.js ${r.runtime.slice(4)}`;
  if (r.error) {
    console.log(`| ${TASKS[r.task].title} | ${r.asked} | ${who} | failed: ${r.error} | | | | |`);
    continue;
  }
  const ratio = baseMain ? `${(main / baseMain).toFixed(2)}x` : '';
  console.log(`| ${TASKS[r.task].title} | ${r.threads ?? r.asked} | ${who} | ${sec(r.load_s)} | ${sec(main)} | ${sec(r.per_token_s)} | ${ratio} | ${r.check} |`);
}
