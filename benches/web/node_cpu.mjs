// The page's CPU path (the single-thread wasm build, burn Flex in WebAssembly) timed and profiled
// in Node, without a browser: the same www/pkg module the page's worker runs, fed model files
// from disk by a minimal transport. Not a test. Node runs wasm on V8 as Chromium does, so the
// profile (`--prof DIR`, a V8 .cpuprofile, summarised by self time per wasm function) tells
// where a decoder step goes.
//
//   node benches/web/node_cpu.mjs [--encoder DIR] [--decoder DIR] [--clip DIR] [--tokens 20]
//        [--runs 3] [--prof DIR] [--top 40]
//
// Without model folders it writes the mid-size random models of tests/browser/bench.mjs
// (ViT-S/32-sized CLIP vision tower + GPT-2 6 x 384 with the full 50257 vocabulary).

import { existsSync, readFileSync, statSync, openSync, readSync, closeSync, mkdirSync, writeFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Session } from 'node:inspector/promises';
import { fileURLToPath } from 'node:url';

import { syntheticClip, syntheticGpt2 } from '../../tests/browser/synthetic.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const TOKENS = Number(arg('--tokens', 20));
const RUNS = Number(arg('--runs', 3));
const PROF = arg('--prof', null);
const TOP = Number(arg('--top', 40));

let clipDir = arg('--clip', null);
let encoderDir = arg('--encoder', null);
let decoderDir = arg('--decoder', null);
if (!encoderDir || !decoderDir) {
  const models = path.join(repo, 'target/bench-models');
  encoderDir = path.join(models, 'clip-s32-random');
  decoderDir = path.join(models, 'gpt2-6x384-xattn-random');
  if (!existsSync(path.join(encoderDir, 'config.json'))) {
    syntheticClip(encoderDir, { vision: { hidden: 384, intermediate: 1536, heads: 6, layers: 6 }, patch: 32, image: 224, projection: 256 });
  }
  if (!existsSync(path.join(decoderDir, 'config.json'))) syntheticGpt2(decoderDir, { n: 384, layers: 6, heads: 6 });
}
clipDir ||= encoderDir;

const pkg = path.join(repo, 'www/pkg');
const glimpse = await import(path.join(pkg, 'glimpse.js'));
await glimpse.default({ module_or_path: readFileSync(path.join(pkg, 'glimpse_bg.wasm')) });
const engine = await glimpse.createEngine('cpu');

// Answers the loader's requests from local folders ({url: 'file:///dir/'}), {bundled} from www/pkg/vocab.
function where(at) {
  if (at.url) return fileURLToPath(at.url);
  if (at.bundled) return path.join(pkg, 'vocab', at.bundled);
  throw new Error(`node_cpu.mjs reads only folders: ${JSON.stringify(at)}`);
}
function answer(r) {
  const file = path.join(where(r.at), r.name);
  if (!existsSync(file)) return [null, undefined];
  const len = statSync(file).size;
  if (r.kind === 'file') return [readFileSync(file), len];
  const [start, end] = r.kind === 'tail' ? [Math.max(0, len - r.len), len] : [r.start, Math.min(r.end, len)];
  const buf = Buffer.alloc(end - start);
  const fd = openSync(file, 'r');
  readSync(fd, buf, 0, buf.length, start);
  closeSync(fd);
  return [buf, len];
}
async function load(spec) {
  const t0 = performance.now();
  engine.beginLoad(spec);
  for (let r; (r = engine.next()); ) engine.answer(...answer(r));
  const out = engine.finishLoad();
  return { ...out, seconds: (performance.now() - t0) / 1000 };
}
const folder = (d) => ({ url: `file://${path.resolve(d)}/` });

const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
async function time(fn) {
  const first = await fn(); // warm-up
  const t = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    await fn();
    t.push((performance.now() - t0) / 1000);
  }
  return { s: median(t), all: t, first };
}

const image = readFileSync(path.join(repo, 'tests/fixtures/images/landscape.jpg'));
const img = () => new Uint8Array(image);

const clipLoad = await load({ kind: 'clip', model: folder(clipDir), towers: 'vision' });
const embed = await time(() => engine.embedImage(img(), 'bench.jpg'));
const capLoad = await load({ kind: 'captioner', encoder: folder(encoderDir), decoder: folder(decoderDir) });
const caption = (n) => () => engine.caption(img(), 'bench.jpg', { beams: 1, maxTokens: n, noStop: true });
const one = await time(caption(1));

let session;
if (PROF) {
  session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
}
const full = await time(caption(TOKENS));
if (session) {
  const { profile } = await session.post('Profiler.stop');
  mkdirSync(PROF, { recursive: true });
  const file = path.join(PROF, `node-cpu-${Date.now()}.cpuprofile`);
  writeFileSync(file, JSON.stringify(profile));
  summarise(profile, file);
}
const perToken = (full.s - one.s) / (TOKENS - 1);
const result = {
  runtime: `node ${process.version} (V8 ${process.versions.v8}), wasm single thread`,
  embed_s: embed.s, caption_s: full.s, one_token_s: one.s, per_token_s: perToken,
  load_clip_s: clipLoad.seconds, load_captioner_s: capLoad.seconds, tokens: full.first.tokens,
  models: { clip: clipDir, encoder: encoderDir, decoder: decoderDir },
};
console.log(JSON.stringify(result));

// Self time per function (wasm functions carry their Rust names), and the inclusive time of the
// burn/gemm entry points, from a V8 CPU profile.
function summarise(profile, file) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const dt = profile.timeDeltas;
  const counts = new Map();
  profile.samples.forEach((id, i) => counts.set(id, (counts.get(id) || 0) + (dt[i] || 0)));
  let total = 0;
  for (const [id, us] of counts) {
    const name = byId.get(id).callFrame.functionName || '(anonymous)';
    self.set(name, (self.get(name) || 0) + us);
    total += us;
  }
  const rows = [...self].sort((a, b) => b[1] - a[1]).slice(0, TOP);
  console.error(`profile: ${file} (${(total / 1e3).toFixed(0)} ms sampled)`);
  for (const [name, us] of rows) console.error(`${((100 * us) / total).toFixed(1).padStart(5)}%  ${(us / 1e3).toFixed(1).padStart(8)} ms  ${name.slice(0, 160)}`);
}
