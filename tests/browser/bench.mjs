// Benchmark (not a test): per-image time of zero-shot (the image embedding) and of a greedy
// caption in headless Chromium (the page's worker, WebGPU), next to the native CLI code on wgpu
// and on the CPU, for the same model files: the tiny test fixtures and a mid-size random-weight
// pair (a ViT-S/32-sized CLIP vision tower: 384 wide, 6 layers, 224 px; GPT-2 384 wide, 6 layers,
// full 50257 vocabulary, with cross-attention). Full ViT-B/32 + GPT-2 small did not finish in
// 20 minutes on SwiftShader here (`--big` still runs it).
//
//   node tests/browser/bench.mjs [--tokens 10] [--runs 3] [--only small|mid]
//
// Needs ./build.sh (www/pkg) and writes the mid-size models once to target/bench-models/.

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

import { serve } from './serve.mjs';
import { withProfile } from './scratch.mjs';
import { syntheticClip, syntheticGpt2 } from './synthetic.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const TOKENS = Number(arg('--tokens', 10));
const RUNS = Number(arg('--runs', 3));
const only = arg('--only', null);

const big = process.argv.includes('--big');
const models = path.join(repo, 'target/bench-models');
const mid = path.join(models, big ? 'clip-b32-random' : 'clip-s32-random');
const midDecoder = path.join(models, big ? 'gpt2-small-xattn-random' : 'gpt2-6x384-xattn-random');
if (!existsSync(path.join(mid, 'config.json'))) {
  console.error('writing the random-weight mid-size models (once)...');
  if (big) {
    syntheticClip(mid, { vision: { hidden: 768, intermediate: 3072, heads: 12, layers: 12 }, patch: 32, image: 224, projection: 512 });
    // Vocabulary cut to 40000 so the embedding (123 MB) fits lavapipe's 128 MiB buffer cap natively.
    syntheticGpt2(midDecoder, { n: 768, layers: 12, heads: 12, vocab: 40000 });
  } else {
    syntheticClip(mid, { vision: { hidden: 384, intermediate: 1536, heads: 6, layers: 6 }, patch: 32, image: 224, projection: 256 });
    syntheticGpt2(midDecoder, { n: 384, layers: 6, heads: 6 });
  }
}
const image = path.join(repo, 'tests/fixtures/images/landscape.jpg');
const sets = [
  { name: 'small (test fixtures)', clip: 'tests/fixtures/clip_a', encoder: 'tests/fixtures/clip_a', decoder: 'tests/fixtures/gpt2_xattn' },
  { name: big ? 'ViT-B/32 + GPT-2 small (random)' : 'mid (ViT-S/32 + GPT-2 6x384, random)', clip: path.relative(repo, mid), encoder: path.relative(repo, mid), decoder: path.relative(repo, midDecoder) },
].filter((s, i) => !only || (only === 'small') === (i === 0));

function native(set, backend) {
  const out = execFileSync(
    'cargo',
    ['bench', '-q', '--features', 'native', '--bench', 'latency', '--', '--backend', backend, '--clip', set.clip, '--encoder', set.encoder, '--decoder', set.decoder,
      '--image', image, '--tokens', String(TOKENS), '--runs', String(RUNS)],
    { cwd: repo, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return JSON.parse(out.trim().split('\n').pop());
}

const { server, url } = await serve({ mounts: [{ prefix: '/', dir: path.join(repo, 'www') }, { prefix: '/repo/', dir: repo }] });
const browser = await withProfile('glimpse-bench-', (dir) => chromium.launchPersistentContext(dir, {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--enable-unsafe-webgpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'],
}));
const page = browser.pages()[0] || (await browser.newPage());
await page.goto(`${url}?backend=webgpu`);
const info = await page.evaluate(() => window.glimpse.ready);
const bytes = [...readFileSync(image)];

const rows = [];
for (const set of sets) {
  const web = await page.evaluate(
    async ({ set, bytes, tokens, runs }) => {
      const g = window.glimpse;
      const folder = (p) => ({ url: `${location.origin}/repo/${p}/` });
      const img = () => new Uint8Array(bytes);
      const median = (v) => v.sort((a, b) => a - b)[Math.floor(v.length / 2)];
      const time = async (fn) => {
        await fn(); // warm-up: shader compilation
        const t = [];
        for (let i = 0; i < runs; i++) {
          const t0 = performance.now();
          await fn();
          t.push((performance.now() - t0) / 1000);
        }
        return median(t);
      };
      await g.call('load', { spec: { kind: 'clip', model: folder(set.clip), towers: 'vision' } });
      const embed = await time(() => g.call('embedImage', { bytes: img(), name: 'bench.jpg' }));
      await g.call('load', { spec: { kind: 'captioner', encoder: folder(set.encoder), decoder: folder(set.decoder) } });
      const caption = await time(() => g.call('caption', { bytes: img(), name: 'bench.jpg', options: { beams: 1, maxTokens: tokens, noStop: true } }));
      return { embed, caption };
    },
    { set, bytes, tokens: TOKENS, runs: RUNS },
  );
  const wgpu = native(set, 'wgpu');
  const cpu = native(set, 'cpu');
  rows.push({ set: set.name, web, wgpu, cpu });
  console.error(JSON.stringify(rows.at(-1)));
}
await browser.close();
server.close();

const f = (s) => (s >= 1 ? `${s.toFixed(2)} s` : `${(s * 1000).toFixed(0)} ms`);
console.log(`adapter: ${info.adapter.vendor} ${info.adapter.architecture}; ${TOKENS} greedy tokens per caption; median of ${RUNS} after a warm-up\n`);
console.log('| model | task | Chromium WebGPU | native wgpu | native CPU | Chromium / native wgpu |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.set} | zero-shot (image embedding) | ${f(r.web.embed)} | ${f(r.wgpu.embed_s)} | ${f(r.cpu.embed_s)} | ${(r.web.embed / r.wgpu.embed_s).toFixed(2)}x |`);
  console.log(`| ${r.set} | caption | ${f(r.web.caption)} | ${f(r.wgpu.caption_s)} | ${f(r.cpu.caption_s)} | ${(r.web.caption / r.wgpu.caption_s).toFixed(2)}x |`);
}
