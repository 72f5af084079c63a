// Benchmark (not a test): the page's CPU path in headless Chromium, WebGPU off, cross-origin
// isolated by the server's headers, by the size of the threaded build's rayon pool: image
// embedding (random-weight CLIP vision towers: 256 wide x 2 layers at 224 px / 16, and ViT-B/32
// sized) and, with --caption, a 20-token greedy caption (the ViT-B/32-sized tower + GPT-2 small
// sized, 768 x 12, full vocabulary). --threads 1 is the single-thread build.
//
//   node benches/web/threads.mjs [--threads 1,2,4,8] [--runs 11] [--caption]
//                                [--models wide,b32] [--model name=DIR ...]
//
// --model adds a CLIP checkpoint folder of your own (e.g. cpu.mjs's ViT-L/14 tower,
// l14=/tmp/clip-bench/clip-vit-l14-random); --models picks which of them all to run.
//
// CHROME_ARGS='a;b' adds Chromium flags (e.g. '--js-flags=--no-liftoff --no-wasm-dynamic-tiering'
// to run V8's optimised code from the start).
//
// Needs ./build.sh (www/pkg, www/pkg-threads) and tests/browser's node_modules; writes the models
// once to target/bench-models/threads/.

import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { FLAGS, fixtures, gotoAndStart, launch, repo } from '../../tests/browser/harness.mjs';
import { ISOLATION, serve } from '../../tests/browser/serve.mjs';
import { syntheticClip, syntheticGpt2 } from '../../tests/browser/synthetic.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const synth = path.join(repo, 'target/bench-models/threads');
const models = {
  wide: { vision: { hidden: 256, intermediate: 1024, heads: 4, layers: 2 }, patch: 16, image: 224, projection: 64 },
  b32: { vision: { hidden: 768, intermediate: 3072, heads: 12, layers: 12 }, patch: 32, image: 224, projection: 512 },
};
for (const [k, o] of Object.entries(models)) if (!existsSync(path.join(synth, k, 'config.json'))) syntheticClip(path.join(synth, k), o);
if (!existsSync(path.join(synth, 'gpt2', 'config.json'))) syntheticGpt2(path.join(synth, 'gpt2'), { n: 768, layers: 12, heads: 12 });
const dirs = Object.fromEntries(Object.keys(models).map((k) => [k, path.join(synth, k)]));
process.argv.forEach((a, i) => {
  if (a !== '--model') return;
  const [name, dir] = process.argv[i + 1].split('=');
  dirs[name] = path.resolve(dir);
});
const chosen = arg('--models', Object.keys(dirs).join(',')).split(',');
const iso = await serve({
  mounts: [{ prefix: '/', dir: path.join(repo, 'www') }, { prefix: '/synthetic/', dir: synth }].concat(
    Object.entries(dirs).map(([k, dir]) => ({ prefix: `/model/${k}/`, dir })),
  ),
  headers: ISOLATION,
});
const noWebGpu = { args: FLAGS.filter((f) => f !== '--enable-unsafe-webgpu').concat(['--disable-webgpu'], (process.env.CHROME_ARGS || '').split(';').filter(Boolean)) };
const photo = path.join(fixtures, 'images/landscape.jpg');
const bytes = [...readFileSync(photo)];
for (const threads of (arg('--threads', '1,2,4,8')).split(',').map(Number)) {
  const ctx = await launch(noWebGpu);
  const p = ctx.pages()[0] || (await ctx.newPage());
  const { info } = await gotoAndStart(p, `${iso.url}?backend=cpu&threads=${threads}`);
  if (process.argv.includes('--caption')) {
    await p.evaluate((u) => window.glimpse.call('load', { spec: { kind: 'captioner', encoder: { url: u + 'b32/' }, decoder: { url: u + 'gpt2/' } } }), new URL('/synthetic/', iso.url).href);
    const steps = [];
    for (let i = 0; i < 3; i++) {
      const { seconds } = await p.evaluate(async (b) => window.glimpse.call('caption', { bytes: new Uint8Array(b), name: 'x.jpg', options: { beams: 1, maxTokens: 20, noStop: true } }, { timed: true }), bytes);
      steps.push(seconds);
    }
    console.log(`threads=${threads} (${info.build.threads ? 'threaded' : 'single'}) caption 20 tokens: ${steps.map((t) => t.toFixed(2)).join(' ')} s`);
    await ctx.close();
    continue;
  }
  for (const m of chosen) {
    await p.evaluate((u) => window.glimpse.call('load', { spec: { kind: 'clip', model: { url: u }, towers: 'vision' } }), new URL(`/model/${m}/`, iso.url).href);
    const times = await p.evaluate(async ([b, runs]) => {
      const out = [];
      for (let i = 0; i < runs; i++) {
        const { seconds } = await window.glimpse.call('embedImage', { bytes: new Uint8Array(b), name: 'x.jpg' }, { timed: true });
        out.push(seconds);
      }
      return out;
    }, [bytes, Number(arg('--runs', '11'))]);
    const warm = times.slice(1).sort((a, b) => a - b); // the first run warms up
    const median = warm[Math.floor(warm.length / 2)];
    console.log(`threads=${threads} (${info.build.threads ? `threaded build, ${info.build.threadCount} in the pool` : 'single-thread build'}) ${m}: median ${(median * 1000).toFixed(0)} ms of ${warm.length} (runs: ${times.map((t) => (t * 1000).toFixed(0)).join(' ')} ms)`);
  }
  await ctx.close();
}
const last = await launch();
console.log(`navigator.hardwareConcurrency ${await (await last.newPage()).evaluate(() => navigator.hardwareConcurrency)}`);
await last.close();
iso.server.close();
process.exit(0);
