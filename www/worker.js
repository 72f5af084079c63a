// The page's worker: owns the wasm engine (models on the WebGPU device, or on the CPU inside
// WebAssembly where there is no usable GPU) and moves bytes:
// downloads (HTTP range requests, or one streamed response where ranges are not served),
// the Cache API, and files the user dropped. All computing is in Rust (src/web.rs).
//
// Protocol: the page posts {id, op, args}; the worker answers {id, ok: true, result} or
// {id, ok: false, error}, and sends {type: 'progress', id, done, total, file} while loading.
// Requests run one at a time, in the order they arrive.

import init, * as glimpse from './pkg/glimpse.js';

const CACHE = 'glimpse-models-v1';
const HEAD_BYTES = 1 << 20; // first request of a safetensors file: prefix + header, usually
const TAIL_BYTES = 1 << 20; // last bytes of a pytorch_model.bin: its zip directory (Rust TAIL_LEN)

let wasm = null; // the wasm module's exports (memory)
let engine = null;

// ---------------------------------------------------------------- sources of files

class DownloadError extends Error {
  constructor(message, status = 0) {
    super(message);
    this.name = 'DownloadError';
    this.status = status;
  }
}

async function openCache() {
  try {
    return await caches.open(CACHE);
  } catch {
    return null; // no Cache API (e.g. not a secure context): download every time
  }
}

function cacheKey(url, what) {
  const u = new URL(url);
  u.searchParams.set('glimpse-cache', what);
  return u.href;
}

async function fetchOk(url, init) {
  let r;
  try {
    r = await fetch(url, init);
  } catch (e) {
    throw new DownloadError(`download failed: ${url} (${e.message || e}; offline, or the server does not allow this page to read it)`);
  }
  if (!r.ok) throw new DownloadError(`download failed: ${url} (HTTP ${r.status} ${r.statusText})`, r.status);
  return r;
}

// A file at a URL, read by byte ranges; when the server ignores Range, one streamed response
// is read front to back instead (bytes before the next wanted range are dropped as they pass).
class RemoteFile {
  constructor(url) {
    this.url = url;
    this.name = url;
    this.mode = 'unknown';
    this.total = null;
    this.reader = null;
    this.pos = 0;
    this.pending = [];
  }

  async read(start, end, allowShort = false) {
    if (this.mode !== 'stream') {
      const r = await fetchOk(this.url, { headers: { Range: `bytes=${start}-${end - 1}` } });
      if (r.status === 206) {
        this.mode = 'range';
        const m = /\/(\d+)\s*$/.exec(r.headers.get('Content-Range') || '');
        if (m) this.total = Number(m[1]);
        const b = new Uint8Array(await r.arrayBuffer());
        if (b.length !== end - start && !allowShort) {
          throw new DownloadError(`${this.url}: got ${b.length} bytes of range ${start}-${end}, expected ${end - start} (file truncated?)`);
        }
        return b;
      }
      this.startStream(r);
    }
    if (start < this.pos) this.startStream(await fetchOk(this.url));
    return this.readStream(start, end, allowShort);
  }

  startStream(response) {
    if (this.reader) this.reader.cancel().catch(() => {});
    this.mode = 'stream';
    const len = response.headers.get('Content-Length');
    if (len !== null && !response.headers.get('Content-Encoding')) this.total = Number(len);
    this.reader = response.body.getReader();
    this.pos = 0;
    this.pending = [];
  }

  async readStream(start, end, allowShort) {
    const out = new Uint8Array(end - start);
    let filled = 0;
    while (filled < out.length) {
      let piece = this.pending.shift();
      if (!piece) {
        const { done, value } = await this.reader.read();
        if (done) {
          if (allowShort) return out.subarray(0, filled);
          throw new DownloadError(`${this.url}: the file ends at byte ${this.pos}, expected at least ${end} (truncated?)`);
        }
        piece = value;
      }
      const pieceStart = this.pos;
      this.pos += piece.length;
      if (this.pos <= start) continue; // before the wanted range: dropped
      const from = Math.max(0, start - pieceStart);
      const take = Math.min(piece.length - from, out.length - filled);
      out.set(piece.subarray(from, from + take), filled);
      filled += take;
      if (from + take < piece.length) {
        this.pending.unshift(piece.subarray(from + take));
        this.pos -= piece.length - from - take;
      }
    }
    return out;
  }
}

// A file the user dropped or picked.
class LocalFile {
  constructor(file) {
    this.file = file;
    this.name = file.name;
    this.total = file.size;
  }
  async read(start, end, allowShort = false) {
    const b = new Uint8Array(await this.file.slice(start, end).arrayBuffer());
    if (b.length !== end - start && !allowShort) throw new DownloadError(`${this.name}: file ends at byte ${this.file.size}, expected ${end}`);
    return b;
  }
}

// A model folder: a URL ending in '/', or a map of dropped files by name.
class Folder {
  constructor(spec) {
    this.spec = spec;
    this.files = spec.files || null;
    this.base = spec.url ? (spec.url.endsWith('/') ? spec.url : spec.url + '/') : null;
    this.label = this.base || Object.keys(this.files || {}).join(', ');
  }
  url(name) {
    return new URL(name, this.base).href;
  }
  has(name) {
    return this.base ? true : Boolean(this.files[name]);
  }
  // The bytes of a small file (configs, tokenizer), through the cache; null when `optional`
  // and absent.
  async bytes(name, optional = false) {
    if (!this.base) {
      const f = this.files[name];
      if (!f) {
        if (optional) return null;
        throw new DownloadError(`${name} is missing from the dropped files (${this.label})`);
      }
      return new Uint8Array(await f.arrayBuffer());
    }
    const url = this.url(name);
    const cache = await openCache();
    const key = cacheKey(url, 'file');
    const hit = cache && (await cache.match(key));
    if (hit) return hit.headers.get('x-glimpse-missing') ? null : new Uint8Array(await hit.arrayBuffer());
    let r;
    try {
      r = await fetch(url);
    } catch (e) {
      throw new DownloadError(`download failed: ${url} (${e.message || e})`);
    }
    if (r.status === 404 && optional) {
      if (cache) await cache.put(key, new Response('', { headers: { 'x-glimpse-missing': '1' } }));
      return null;
    }
    if (!r.ok) throw new DownloadError(`download failed: ${url} (HTTP ${r.status} ${r.statusText})`);
    const b = new Uint8Array(await r.arrayBuffer());
    if (cache) await cache.put(key, new Response(b));
    return b;
  }
  async text(name, optional = false) {
    const b = await this.bytes(name, optional);
    return b === null ? null : new TextDecoder().decode(b);
  }
  weights(name) {
    if (this.base) return { file: new RemoteFile(this.url(name)), cached: true };
    const f = this.files[name];
    if (!f) throw new DownloadError(`${name} is missing from the dropped files (${this.label})`, 404);
    return { file: new LocalFile(f), cached: false };
  }
}

// ---------------------------------------------------------------- streaming a model in

function headerLength(prefix, name) {
  if (prefix.length < 8) throw new DownloadError(`${name}: file is ${prefix.length} bytes, too short for a safetensors header`);
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > 100000000n) throw new DownloadError(`${name}: header length ${n} is not plausible (not a safetensors file?)`);
  return 8 + Number(n);
}

async function cachedRange(cache, src, what, read) {
  if (src.cached && cache) {
    const key = cacheKey(src.file.url, what);
    const hit = await cache.match(key);
    if (hit) return { bytes: new Uint8Array(await hit.arrayBuffer()), total: hit.headers.get('x-glimpse-total'), fromCache: true };
    const bytes = await read();
    const total = src.file.total === null ? '' : String(src.file.total);
    await cache.put(key, new Response(bytes, { headers: { 'x-glimpse-total': total } }));
    return { bytes, total, fromCache: false };
  }
  return { bytes: await read(), total: src.file.total, fromCache: false };
}

// Loads the safetensors files of `parts` ([[part, folder, file name]]) into the engine load
// begun before: every header first (so the total is known), then the tensors, one at a time
// into wasm memory.
// Opens a pytorch_model.bin: its zip directory from the last bytes, then its pickle (read as
// data by the engine); returns the plan of storages to fetch.
async function openTorch(cache, part, src) {
  let total = src.file.total;
  if (total === null || total === undefined) {
    const probe = await cachedRange(cache, src, 'probe', () => src.file.read(0, 2, true));
    total = src.file.total ?? (probe.total ? Number(probe.total) : null);
  }
  if (total === null || total === undefined) throw new DownloadError(`${src.file.name}: the server does not say the file's size`);
  const tailStart = Math.max(0, total - TAIL_BYTES);
  const tail = await cachedRange(cache, src, 'tail', () => src.file.read(tailStart, total));
  const [a, b] = engine.openTorch(part, src.file.name, tail.bytes, tailStart, total);
  const pkl = await cachedRange(cache, src, 'pickle', () => src.file.read(a, b));
  return engine.torchPickle(part, pkl.bytes);
}

// Reads a safetensors file's prefix and header (through the cache).
async function readHead(cache, src) {
  if (src.cached && cache) {
    const hit = await cache.match(cacheKey(src.file.url, 'head'));
    if (hit && hit.headers.get('x-glimpse-missing')) throw new DownloadError(`${src.file.url} is absent (remembered)`, 404);
  }
  return cachedRange(cache, src, 'head', async () => {
    let b = await src.file.read(0, HEAD_BYTES, true);
    const need = headerLength(b, src.file.name);
    if (need > b.length) {
      const rest = await src.file.read(b.length, need);
      const all = new Uint8Array(need);
      all.set(b);
      all.set(rest, b.length);
      b = all;
    }
    return b.subarray(0, need);
  });
}

async function loadParts(id, parts) {
  const cache = await openCache();
  const opened = [];
  for (const [part, folder, name] of parts) {
    let src;
    let head;
    try {
      src = folder.weights(name);
      head = await readHead(cache, src);
    } catch (e) {
      // Checkpoints that ship only pytorch_model.bin (several hub repos do on main).
      if (name !== 'model.safetensors' || e.status !== 404) throw e;
      if (src?.cached && cache) await cache.put(cacheKey(src.file.url, 'head'), new Response('', { headers: { 'x-glimpse-missing': '1' } }));
      src = folder.weights('pytorch_model.bin');
      opened.push({ part, src, plan: await openTorch(cache, part, src) });
      continue;
    }
    headerLength(head.bytes, src.file.name);
    const total = head.total === '' || head.total === null || head.total === undefined ? undefined : Number(head.total);
    const plan = engine.open(part, src.file.name, head.bytes, total);
    opened.push({ part, src, plan });
  }
  const total = opened.reduce((s, o) => s + o.plan.bytes, 0);
  let done = 0;
  let fromNetwork = 0;
  const started = performance.now();
  for (const { part, src, plan } of opened) {
    for (const chunk of plan.chunks) {
      const got = await cachedRange(cache, src, `${chunk.start}-${chunk.end}`, () => src.file.read(chunk.start, chunk.end));
      if (!got.fromCache) fromNetwork += got.bytes.length;
      for (const t of chunk.tensors) {
        // Copied into wasm memory one tensor at a time, uploaded, and freed.
        engine.put(part, t.index, got.bytes.subarray(t.start - chunk.start, t.end - chunk.start));
      }
      done += chunk.end - chunk.start;
      postMessage({ type: 'progress', id, done, total, file: src.file.name, seconds: (performance.now() - started) / 1000 });
    }
  }
  return { bytes: total, fromNetwork };
}

async function clipTokenizer(folder) {
  return (await folder.bytes('tokenizer.json', true)) || (await new Folder({ url: new URL('./pkg/vocab/clip/', import.meta.url).href }).bytes('tokenizer.json'));
}

async function gpt2Tokenizer(folder) {
  return (await folder.bytes('tokenizer.json', true)) || (await new Folder({ url: new URL('./pkg/vocab/gpt2/', import.meta.url).href }).bytes('tokenizer.json'));
}

function hubFolder(id) {
  if (/^https?:\/\//.test(id)) return new Folder({ url: id });
  if (/^[\w.-]+\/[\w.-]+$/.test(id)) return new Folder({ url: `https://huggingface.co/${id}/resolve/main/` });
  throw new DownloadError(
    `the PEFT checkpoint names its base model as "${id}", which is neither a hub id nor a URL: give its location with ?model=URL (a published captioner) or ?encoder=URL&decoder=URL`,
  );
}

const ops = {
  // backend: 'webgpu', 'cpu', or 'auto' (WebGPU on a hardware adapter; the CPU in WebAssembly
  // where there is none or only a software one, such as SwiftShader: there the CPU path is
  // ~60x faster, benches/web).
  async init({ backend = 'auto' }) {
    const adapter = backend !== 'cpu' && 'gpu' in navigator ? await navigator.gpu.requestAdapter().catch(() => null) : null;
    const info = adapter?.info || {};
    const fallback = Boolean(adapter && (adapter.isFallbackAdapter || info.isFallbackAdapter));
    let use = backend;
    if (backend === 'auto') use = adapter && !fallback ? 'webgpu' : 'cpu';
    if (use === 'webgpu' && !adapter) return { backend: null, why: 'no-webgpu' };
    wasm = await init();
    engine = await glimpse.createEngine(use);
    return {
      backend: use,
      why: use === 'cpu' && backend === 'auto' ? (adapter ? 'software-adapter' : 'no-webgpu') : null,
      adapter: adapter ? { vendor: info.vendor, architecture: info.architecture, description: info.description, device: info.device } : null,
      fallback,
      f16: adapter ? adapter.features.has('shader-f16') : false,
      maxBufferSize: adapter?.limits.maxBufferSize ?? null,
    };
  },

  async loadClip({ id, source, towers = 'both' }) {
    const folder = new Folder(source);
    try {
      const config = await folder.text('config.json');
      const pre = await folder.text('preprocessor_config.json', true);
      const tok = towers === 'vision' ? undefined : await clipTokenizer(folder);
      engine.beginClip(config, pre ?? undefined, tok, towers);
      const stats = await loadParts(id, [['clip', folder, 'model.safetensors']]);
      engine.finish();
      return { ...stats, imageSize: engine.clipImageSize() };
    } catch (e) {
      engine.abort();
      throw e;
    }
  },

  async loadCaptioner({ id, model, encoder, decoder, peft }) {
    try {
      const peftFolder = peft ? new Folder(peft) : null;
      const peftConfig = peftFolder ? await peftFolder.text('adapter_config.json') : null;
      if (model && !encoder && !decoder) {
        // A published VisionEncoderDecoderModel (ViT or CLIP + GPT-2): one folder.
        const folder = new Folder(model);
        engine.beginPretrained(
          await folder.text('config.json'),
          (await folder.text('preprocessor_config.json', true)) ?? undefined,
          (await folder.text('generation_config.json', true)) ?? undefined,
          peftConfig ?? undefined,
          await gpt2Tokenizer(folder),
        );
        const parts = [['model', folder, 'model.safetensors']];
        if (peftFolder) parts.push(['peft', peftFolder, 'adapter_model.safetensors']);
        const stats = await loadParts(id, parts);
        engine.finish();
        return { ...stats, defaults: engine.captionDefaults() };
      }
      const named = peftConfig ? JSON.parse(peftConfig) : {};
      // A PEFT trained on a published captioner names it as base_model.
      if (!model && !encoder && !decoder && named.base_model) model = hubFolder(named.base_model).spec;
      if (!encoder && !named.base_encoder) throw new DownloadError('no encoder given (?encoder=URL) and the PEFT checkpoint names none');
      if (!decoder && !(named.base_decoder || named.base_model_name_or_path)) throw new DownloadError('no decoder given (?decoder=URL) and the PEFT checkpoint names none');
      const enc = encoder ? new Folder(encoder) : hubFolder(named.base_encoder);
      const dec = decoder ? new Folder(decoder) : hubFolder(named.base_decoder || named.base_model_name_or_path);
      engine.beginCaptioner(
        await enc.text('config.json'),
        (await enc.text('preprocessor_config.json', true)) ?? undefined,
        await dec.text('config.json'),
        peftConfig ?? undefined,
        await gpt2Tokenizer(dec),
      );
      const parts = [['encoder', enc, 'model.safetensors'], ['decoder', dec, 'model.safetensors']];
      if (peftFolder) parts.push(['peft', peftFolder, 'adapter_model.safetensors']);
      const stats = await loadParts(id, parts);
      engine.finish();
      return { ...stats, defaults: engine.captionDefaults() };
    } catch (e) {
      engine.abort();
      throw e;
    }
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
  async caption({ bytes, name, options }) {
    return engine.caption(bytes, name, options);
  },
  async zeroShot({ images, texts, dim, labels, templates, scale }) {
    return glimpse.zeroShot(images, texts, dim, labels, Uint32Array.from(templates), scale);
  },
  async clipScore({ image, text }) {
    return glimpse.clipScore(image, text);
  },
  async parseLabels({ text, name }) {
    return glimpse.parseLabels(text, name);
  },
  async truthOf({ labels, paths }) {
    return paths.map((p) => glimpse.truthOf(labels, p) ?? null);
  },
  async fillTemplates({ templates }) {
    return templates.map((t) => glimpse.fillTemplate(t, 'x'));
  },
  // For the browser suite: kills the engine as a bug would.
  async crashForTesting() {
    glimpse.panicForTesting();
  },
  async memory() {
    return wasm ? wasm.memory.buffer.byteLength : 0;
  },
  async clearCache() {
    return caches.delete(CACHE);
  },
  async cacheSize() {
    const cache = await openCache();
    if (!cache) return 0;
    let n = 0;
    for (const req of await cache.keys()) {
      const r = await cache.match(req);
      n += Number(r.headers.get('Content-Length')) || (await r.clone().arrayBuffer()).byteLength;
    }
    return n;
  },
};

// A panic or an allocation failure in wasm traps (a RuntimeError) and leaves the instance in
// an unknown state: the engine is then dead, and the page starts a fresh worker.
let dead = null;

function message(e) {
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
  if (/out of memory|OutOfMemory|allocation failed|Device.*lost/i.test(text)) {
    return { kind: 'memory', message: `out of GPU memory: ${text}. Try the smaller model, or close other tabs.` };
  }
  return { kind: e instanceof DownloadError ? 'download' : 'error', message: text };
}

let queue = Promise.resolve();
self.onmessage = (ev) => {
  const { id, op, args } = ev.data;
  queue = queue.then(async () => {
    try {
      if (!ops[op]) throw new Error(`unknown operation ${op}`);
      if (dead) throw new Error(dead);
      if (op !== 'init' && op !== 'clearCache' && op !== 'memory' && !engine) throw new Error('the engine is not started (no WebGPU)');
      const t0 = performance.now();
      const result = await ops[op]({ id, ...args });
      const transfer = result instanceof Float32Array || result instanceof Uint8Array ? [result.buffer] : [];
      postMessage({ id, ok: true, result, ms: performance.now() - t0 }, transfer);
    } catch (e) {
      postMessage({ id, ok: false, error: message(e) });
    }
  });
};
