// The page's worker: owns the wasm engine (models on the WebGPU device, or on the CPU inside
// WebAssembly where there is no usable GPU) and carries bytes to it. What to read is decided in
// Rust (src/web/, src/load/); worker/ holds the transport (HTTP ranges or one stream, dropped
// files) and the Cache API.
//
// Protocol: the page posts {id, op, args}; the worker answers {id, ok: true, result, ms} or
// {id, ok: false, error: {kind, message}}, and sends {type: 'progress', id, done, total, file,
// seconds} while loading, and {type: 'step', id, text, tokens} after each decoding step of a
// caption. Operations on the engine run one at a time, in the order they arrive, except captions:
// they have their own lane (one at a time) and give way after every decoding step until the main
// lane is empty, so zero-shot, template edits, search and loads never wait behind a caption
// for more than one step. {op: 'cancel', args: {ids}} stops those captions at their next step
// (they fail with kind 'cancelled'). The engine-free functions (`pure` below) are answered at
// once, even during a load or a caption.
//
// Error kinds: those of the engine ('not-found', 'unsupported', 'invalid-file', 'invalid-input',
// 'out-of-memory', 'device', 'io', 'internal', 'cancelled'), 'network' for a download that could
// not reach the server, 'http' for a server's error status (with `status`), and 'crashed'
// once the wasm instance has trapped (a panic, an allocation failure): the page then replaces
// this worker.

import { clearStore, storeSize } from './worker/cache.js';
import { loadModel } from './worker/load.js';

/** Where the tokenizers shipped with the page are (./pkg/vocab/clip/, ./pkg/vocab/gpt2/). */
const BUNDLED = new URL('./pkg/vocab/', import.meta.url).href;

// The two wasm builds (./build.sh): `pkg` has WebGPU and the CPU on one thread (SIMD128);
// `pkg-threads` is the CPU only, on rayon over Web Workers (shared memory: it needs cross-origin
// isolation, js/isolation.js). `init` picks one; until then the engine-free functions wait for it.
const BUILDS = { single: './pkg/glimpse.js', threads: './pkg-threads/glimpse.js' };
let glimpse = null; // the module's JS bindings
let settle;
const wasmLoaded = new Promise((resolve, reject) => (settle = { resolve, reject })); // its exports (memory)
wasmLoaded.catch(() => {}); // reported by the first operation that needs it
let engine = null;
/** Files the user dropped, by the label the page gave them, then by name. */
const dropped = new Map();

/** `build` (a promise of {exports, ...}), whose exports the engine-free functions wait for. */
function provide(build) {
  build.then((b) => settle.resolve(b.exports), settle.reject);
  return build;
}

/** Instantiates build `which`; with threads, starts a pool of `threads` workers. */
async function instantiate(which, threads) {
  const module = await import(BUILDS[which]);
  const exports = await module.default();
  if (which === 'threads') await module.startThreads(threads);
  glimpse = module;
  return exports;
}

/**
 * The build for `backend` and `threads` (wanted), and why not the threaded one when it was
 * wanted: the threaded build when on the CPU, with more than one thread asked for, in a
 * cross-origin isolated worker; the single one otherwise, or when the threaded one fails to load.
 */
async function loadBuild(backend, threads) {
  if (backend !== 'cpu') return { exports: await instantiate('single', 1), why: null };
  let why = null;
  if (threads <= 1) why = 'one-thread-asked';
  else if (!self.crossOriginIsolated || typeof SharedArrayBuffer !== 'function') why = 'not-isolated';
  else {
    try {
      return { exports: await instantiate('threads', threads), why };
    } catch (e) {
      why = `the threaded build failed to start (${e && e.message ? e.message : e})`;
      console.warn(`glimpse: ${why}; using the single-thread build`);
    }
  }
  return { exports: await instantiate('single', 1), why };
}

/** A failure with an error kind (the page reacts to the kind, never to the text). */
function failed(kind, message) {
  return Object.assign(new Error(message), { kind });
}

// Operations on the engine (queued).
const ops = {
  // backend: 'webgpu', 'cpu', or 'auto' (WebGPU on a hardware adapter; the CPU in WebAssembly
  // where there is none or only a software one, such as SwiftShader: there the CPU path is
  // ~60x faster, benches/web).
  // threads: the CPU threads wanted (the threaded build is used when it is more than one and the
  // worker is cross-origin isolated).
  async init({ backend = 'auto', threads = 1 }) {
    const adapter = backend !== 'cpu' && 'gpu' in navigator ? await navigator.gpu.requestAdapter().catch(() => null) : null;
    const info = adapter?.info || {};
    const fallback = Boolean(adapter && (adapter.isFallbackAdapter || info.isFallbackAdapter));
    let use = backend;
    if (backend === 'auto') use = adapter && !fallback ? 'webgpu' : 'cpu';
    if (use === 'webgpu' && !adapter) {
      await provide(instantiate('single', 1).then((exports) => ({ exports }))); // for the engine-free functions
      return { backend: null, why: 'no-webgpu' };
    }
    const build = await provide(loadBuild(use, threads));
    engine = await glimpse.createEngine(use);
    return {
      backend: use,
      why: use === 'cpu' && backend === 'auto' ? (adapter ? 'software-adapter' : 'no-webgpu') : null,
      adapter: adapter ? { vendor: info.vendor, architecture: info.architecture, description: info.description, device: info.device } : null,
      fallback,
      f16: adapter ? adapter.features.has('shader-f16') : false,
      maxBufferSize: adapter?.limits.maxBufferSize ?? null,
      // {simd, threads, gpu, threadCount} of the build in use, and why it is not the threaded one.
      build: { ...glimpse.buildInfo(), why: build.why, isolated: Boolean(self.crossOriginIsolated) },
    };
  },

  // spec: see engine.beginLoad; files: {label: {name: File}} for the {dropped: label} locations.
  async load({ id, spec, files }) {
    for (const [label, set] of Object.entries(files || {})) dropped.set(label, set);
    return loadModel(engine, spec, dropped, BUNDLED, (p) => postMessage({ type: 'progress', id, ...p }));
  },
  async embedImage({ bytes, name }) {
    return engine.embedImage(bytes, name);
  },
  async embedTexts({ texts }) {
    return engine.embedTexts(texts);
  },
  async logitScale() {
    return engine.logitScale();
  },
  // options: {beams, maxTokens, lengthPenalty, noRepeatNgram, noStop}, only those the user set.
  // Runs in the caption lane: streams each step, and gives way to the main lane between steps.
  async caption({ id, bytes, name, options }) {
    if (!(await giveWay(id))) throw failed('cancelled', 'cancelled');
    const onStep = (partial) => {
      postMessage({ type: 'step', id, ...partial });
      return giveWay(id);
    };
    try {
      return await engine.caption(bytes, name, options || {}, onStep);
    } finally {
      cancelled.delete(id);
    }
  },
  // Few-shot: fits and scores on the page's device (see engine.fewShot); progress as {done, total}.
  async fewShot({ id, texts, dim, labels, templates, scale, keys, y, images, truth, options }) {
    const onProgress = (done, total) => postMessage({ type: 'progress', id, done, total });
    return engine.fewShot(texts, dim, labels, templates, scale, keys, y, images, truth, options, onProgress);
  },
  // For the browser suite: kills the engine as a bug would.
  async crashForTesting() {
    glimpse.panicForTesting();
  },
  async memory() {
    return (await wasmLoaded).memory.buffer.byteLength;
  },
  async clearCache() {
    return clearStore();
  },
  async cacheSize() {
    return storeSize();
  },
};
const NEEDS_ENGINE = new Set(['load', 'embedImage', 'embedTexts', 'logitScale', 'caption', 'fewShot']);

// Engine-free functions of the wasm module (answered at once).
const pure = {
  zeroShotReport: ({ images, texts, dim, labels, templates, truth, scale }) => glimpse.zeroShotReport(images, texts, dim, labels, templates, truth, scale),
  fillTemplates: ({ templates, labels }) => glimpse.fillTemplates(templates, labels),
  classifyReport: ({ templates, labels, images, probs, truth, topK, perTemplate }) => glimpse.classifyReport(templates, labels, images, probs, truth, topK, perTemplate),
  attentionHeat: ({ attention, rows, cols, layer }) => glimpse.attentionHeat(attention, rows, cols, layer),
  attentionFigure: ({ seen, size, words, attention, grid }) => glimpse.attentionFigure(seen, size, words, attention, grid),
  clipScore: ({ image, text }) => ({ score: glimpse.clipScore(image, text), cosine: glimpse.clipCosine(image, text) }),
  parseLabels: ({ text, name }) => glimpse.parseLabels(text, name),
  pickShots: ({ truth, labels, k, seed }) => Array.from(glimpse.pickShots(truth, labels, k, seed)),
  headPredict: ({ bytes, name, images, dim }) => glimpse.headPredict(bytes, name, images, dim),
  scoreProbs: ({ probs, labels, truth }) => glimpse.scoreProbs(probs, labels, truth),
  truthOf: ({ labels, paths, folderOnly }) => paths.map((p) => glimpse.truthOf(labels, p, Boolean(folderOnly)) ?? null),
};

// A trap leaves the instance in an unknown state: from then on every operation fails as
// 'crashed', with what stopped it.
let dead = null;

function failure(e) {
  const text = e && e.message ? e.message : String(e);
  if (dead || e instanceof WebAssembly.RuntimeError || /recursive use of an object detected/.test(text)) {
    if (!dead) {
      let panic = null;
      try {
        panic = glimpse.lastPanic();
      } catch {}
      dead = panic ? `it panicked: ${panic}` : `${text} (the WebAssembly engine ran out of memory or crashed)`;
    }
    return { kind: 'crashed', message: dead };
  }
  return { kind: typeof e?.kind === 'string' ? e.kind : 'internal', message: text, ...(typeof e?.status === 'number' ? { status: e.status } : {}) };
}

// The buffers of typed arrays in a result (itself, or its properties), moved instead of copied.
async function transferables(result) {
  const memory = (await wasmLoaded.catch(() => null))?.memory.buffer;
  const out = [];
  const values = ArrayBuffer.isView(result) ? [result] : result && typeof result === 'object' ? Object.values(result) : [];
  for (const v of values) if (ArrayBuffer.isView(v) && v.buffer !== memory && !out.includes(v.buffer)) out.push(v.buffer);
  return out;
}

async function execute(id, op, args) {
  try {
    if (dead) throw failed('crashed', dead);
    const fn = Object.hasOwn(ops, op) ? ops[op] : Object.hasOwn(pure, op) ? pure[op] : null;
    if (!fn) throw failed('internal', `unknown operation ${op}`);
    if (NEEDS_ENGINE.has(op) && !engine) throw failed('device', 'the engine is not started (no WebGPU)');
    if (op !== 'init') await wasmLoaded; // init loads the module
    const t0 = performance.now();
    const result = await fn({ id, ...args });
    postMessage({ id, ok: true, result, ms: performance.now() - t0 }, await transferables(result));
  } catch (e) {
    postMessage({ id, ok: false, error: failure(e) });
  }
}

// The main lane (every engine operation but captions), how many of its operations are waiting
// or running, and who waits for it to be empty.
let queue = Promise.resolve();
let mainBusy = 0;
let mainIdle = [];
// The caption lane, and the captions asked to stop.
let captions = Promise.resolve();
const cancelled = new Set();

/**
 * Where a caption gives way: lets pending messages in, then waits until the main lane is empty.
 * Resolves to false when caption `id` was cancelled.
 */
async function giveWay(id) {
  await new Promise((resolve) => setTimeout(resolve, 0));
  while (mainBusy) await new Promise((resolve) => mainIdle.push(resolve));
  return !cancelled.has(id);
}

function onMainLane(id, op, args) {
  mainBusy += 1;
  queue = queue
    .then(() => execute(id, op, args))
    .finally(() => {
      mainBusy -= 1;
      if (!mainBusy) for (const resolve of mainIdle.splice(0)) resolve();
    });
}

self.onmessage = (ev) => {
  const { id, op, args } = ev.data;
  if (op === 'cancel') {
    for (const c of args.ids) cancelled.add(c);
    postMessage({ id, ok: true, result: null, ms: 0 });
  } else if (Object.hasOwn(pure, op)) execute(id, op, args);
  else if (op === 'caption') captions = captions.then(() => execute(id, op, args));
  else onMainLane(id, op, args);
};
