// The page: photos, labels, templates, captions and their attention maps. Everything heavy runs
// in worker.js (the Rust engine on WebGPU); this file keeps the state and draws it.

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

const DEFAULT_LABELS = ['cat', 'dog', 'bird', 'horse', 'car', 'bicycle', 'flower', 'food', 'beach', 'mountain', 'city street', 'person'];

// ---------------------------------------------------------------- the worker

// The worker, started again (with a fresh wasm engine) when the engine dies: a panic or an
// allocation failure in wasm poisons its instance. Photos and results stay; models load again
// when next needed.
let worker = null;
let nextId = 1;
const waiting = new Map();
const progressHandlers = new Map();

function startWorker() {
  worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  worker.onmessage = (ev) => {
    const m = ev.data;
    if (m.type === 'progress') {
      progressHandlers.get(m.id)?.(m);
      return;
    }
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    if (m.ok) w.resolve(w.timed ? { result: m.result, seconds: m.ms / 1000 } : m.result);
    else {
      const err = Object.assign(new Error(m.error.message), { kind: m.error.kind });
      if (err.kind === 'crashed') restartEngine(err);
      w.reject(err);
    }
  };
  worker.onerror = (e) => showBanner(`The worker failed: ${e.message || 'could not start (is pkg/ built?)'}`);
}
startWorker();

function restartEngine(err) {
  worker.terminate();
  for (const [id, w] of waiting) {
    waiting.delete(id);
    w.reject(Object.assign(new Error(err.message), { kind: 'crashed' }));
  }
  state.restarts += 1;
  for (const m of [state.clip, state.captioner]) {
    m.status = 'none';
    m.promise = null;
  }
  startWorker();
  state.ready = false;
  renderStatus();
  call('init', { backend: state.adapter?.backend || backend }).then(() => {
    state.ready = true;
    renderStatus();
  });
  showBanner(`The engine stopped: ${err.message}. It was restarted; your photos and results are kept, and models load again when needed.`);
}

// `call`, resolving to {result, seconds}: the time the worker spent on it, not counting the
// wait behind earlier requests.
async function timedCall(op, args, transfer = []) {
  return call(op, args, null, transfer, true);
}

function call(op, args = {}, onProgress = null, transfer = [], timed = false) {
  const id = nextId++;
  if (onProgress) progressHandlers.set(id, onProgress);
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject, timed });
    worker.postMessage({ id, op, args }, transfer);
  }).finally(() => progressHandlers.delete(id));
}

// ---------------------------------------------------------------- state

const state = {
  ready: false,
  adapter: null,
  clip: { status: 'none', source: null, promise: null },
  captioner: { status: 'none', promise: null },
  photos: [], // {id, name, path, file, url, embed, truth, probs, top, caption, score, error, card}
  labels: [],
  labelsText: '',
  templates: [],
  textCache: new Map(), // prompt -> Float32Array
  scale: null,
  accuracy: null,
  timings: {},
  hover: null,
  restarts: 0, // engines started again after one died
};
let photoId = 0;

// ---------------------------------------------------------------- status, banner, progress

function fmtBytes(n) {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(0)} kB`;
  return `${n} B`;
}

function fmtTime(s) {
  if (s >= 60) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  if (s >= 1) return `${s.toFixed(1)} s`;
  return `${Math.round(s * 1000)} ms`;
}

function renderStatus() {
  const parts = [];
  if (!state.ready) parts.push('Starting…');
  else if (state.adapter.backend === 'cpu') {
    const why = { 'software-adapter': 'the only GPU adapter is a software one', 'no-webgpu': 'no WebGPU' }[state.adapter.why];
    parts.push(`CPU (WebAssembly, one thread${why ? `; ${why}` : ''})`);
  } else {
    const a = state.adapter.adapter;
    const name = [a.vendor, a.architecture, a.description].filter(Boolean).join(' ') || 'unnamed adapter';
    parts.push(`GPU: ${name}${state.adapter.fallback ? ' (software fallback)' : ''}; f16 ${state.adapter.f16 ? 'available' : 'not available'}`);
  }
  parts.push(`CLIP: ${state.clip.status}`);
  parts.push(`captioner: ${state.captioner.status}`);
  const t = state.timings;
  const timing = [];
  if (t.clipLoad) timing.push(`CLIP load ${fmtTime(t.clipLoad)}`);
  if (t.capLoad) timing.push(`captioner load ${fmtTime(t.capLoad)}`);
  if (t.embedN) timing.push(`image embedding ${fmtTime(t.embed / t.embedN)}/photo`);
  if (t.textN) timing.push(`text embedding ${fmtTime(t.text / t.textN)}/batch`);
  if (t.captionN) timing.push(`caption ${fmtTime(t.caption / t.captionN)}/photo`);
  $('status').textContent = parts.join(' · ') + (timing.length ? ` · ${timing.join(', ')}` : '');
}

let retryAction = null;
function showBanner(text, retry = null) {
  $('banner-text').textContent = text;
  $('banner').hidden = false;
  retryAction = retry;
  $('banner-retry').hidden = !retry;
}
$('banner-close').onclick = () => ($('banner').hidden = true);
$('banner-retry').onclick = () => {
  $('banner').hidden = true;
  retryAction?.();
};

// One progress bar for every load in flight (CLIP and the captioner may load one after the other).
const loads = new Map();
function renderProgress() {
  $('progress').hidden = loads.size === 0;
  let done = 0;
  let total = 0;
  let headers = false;
  for (const l of loads.values()) {
    done += l.done;
    total += l.total;
    headers ||= l.total === 0;
  }
  const names = [...loads.keys()].join(' and ');
  $('progress-bar').value = total ? done / total : 0;
  if (!total) {
    $('progress-text').textContent = `${names}: reading headers…`;
    return;
  }
  const started = Math.min(...[...loads.values()].map((l) => l.started));
  const secs = (performance.now() - started) / 1000;
  const rate = done / Math.max(secs, 1e-3);
  const eta = rate > 0 ? (total - done) / rate : 0;
  $('progress-text').textContent =
    `${names}: ${fmtBytes(done)} of ${fmtBytes(total)}` + (done < total && !headers ? `, about ${fmtTime(eta)} left` : '');
}

function progress(label) {
  loads.set(label, { done: 0, total: 0, started: performance.now() });
  renderProgress();
  return {
    update(m) {
      loads.set(label, { ...loads.get(label), done: m.done, total: m.total });
      renderProgress();
    },
    done() {
      loads.delete(label);
      renderProgress();
    },
  };
}

// ---------------------------------------------------------------- models

function clipSource() {
  if (params.get('clip')) return { url: new URL(params.get('clip'), location.href).href };
  const choice = $('clip-choice').value;
  if (choice === 'custom') {
    const u = $('clip-url').value.trim();
    if (!u) throw new Error('enter the URL of a CLIP model folder');
    return { url: new URL(u, location.href).href };
  }
  return { url: choice };
}

async function loadClip() {
  if (state.clip.promise) return state.clip.promise;
  const run = async () => {
    let source;
    try {
      source = clipSource();
    } catch (e) {
      showBanner(e.message);
      throw e;
    }
    state.clip.status = 'loading';
    renderStatus();
    const p = progress('CLIP');
    const t0 = performance.now();
    try {
      const r = await call('loadClip', { source }, p.update);
      state.timings.clipLoad = (performance.now() - t0) / 1000;
      // Everything computed with the previous model is stale.
      state.textCache.clear();
      for (const ph of state.photos) {
        ph.embed = null;
        ph.probs = null;
        ph.score = undefined;
      }
      state.scale = await call('logitScale');
      state.clip.status = `loaded (${fmtBytes(r.bytes)}${r.fromNetwork ? `, ${fmtBytes(r.fromNetwork)} downloaded` : ', from the browser cache'})`;
      state.clip.source = source;
      renderStatus();
      await embedAll();
      for (const ph of state.photos.filter((x) => x.caption)) await rescoreCaption(ph, ph.card.edit.value);
    } catch (e) {
      state.clip.status = 'failed';
      state.clip.promise = null;
      renderStatus();
      showBanner(`Could not load CLIP: ${e.message}`, e.kind === 'download' ? () => loadClip() : null);
      throw e;
    } finally {
      p.done();
    }
  };
  state.clip.promise = run();
  return state.clip.promise;
}

// Where the captioner comes from: a PEFT checkpoint (with the encoder and decoder it names, or
// given), an encoder + decoder pair, or a published VisionEncoderDecoderModel (?model=, or the
// one chosen in the list).
function captionerSources() {
  const abs = (u) => (u ? { url: new URL(u, location.href).href } : null);
  const files = $('peft-files').files;
  let peft = abs(params.get('peft') || $('peft-url').value.trim());
  if (files && files.length) peft = { files: Object.fromEntries([...files].map((f) => [f.name, f])) };
  const encoder = abs(params.get('encoder') || $('enc-url').value.trim());
  const decoder = abs(params.get('decoder') || $('dec-url').value.trim());
  let model = abs(params.get('model'));
  if (!model && !peft && !(encoder && decoder)) model = abs($('cap-model').value);
  return { peft, encoder, decoder, model };
}

// Whether the page was pointed at a captioner (query parameters or fields), so that adding
// photos starts it; the published default waits for "Caption photos" (it is a large download).
function captionerConfigured() {
  const s = captionerSources();
  return Boolean(s.peft || (s.encoder && s.decoder) || params.get('model'));
}

async function loadCaptioner() {
  if (state.captioner.promise) return state.captioner.promise;
  const run = async () => {
    state.captioner.status = 'loading';
    renderStatus();
    const p = progress('captioner');
    const t0 = performance.now();
    try {
      const r = await call('loadCaptioner', captionerSources(), p.update);
      state.timings.capLoad = (performance.now() - t0) / 1000;
      state.captioner.status = `loaded (${fmtBytes(r.bytes)}${r.fromNetwork ? `, ${fmtBytes(r.fromNetwork)} downloaded` : ', from the browser cache'})`;
      $('caption-all').disabled = false;
      renderCaptionButton();
      // The checkpoint's own decoding defaults, unless the user has set the controls.
      if (r.defaults?.beams && !$('beams').dataset.touched) {
        const b = String(r.defaults.beams);
        if (![...$('beams').options].some((o) => o.value === b)) $('beams').append(new Option(b, b));
        $('beams').value = b;
      }
      if (r.defaults?.maxTokens && !$('max-tokens').dataset.touched) $('max-tokens').value = String(r.defaults.maxTokens);
      renderStatus();
      await captionAll();
    } catch (e) {
      state.captioner.status = 'failed';
      state.captioner.promise = null;
      renderStatus();
      showBanner(`Could not load the captioner: ${e.message}`, e.kind === 'download' ? () => loadCaptioner() : null);
      throw e;
    } finally {
      p.done();
    }
  };
  state.captioner.promise = run();
  return state.captioner.promise;
}

// ---------------------------------------------------------------- photos

async function addFiles(entries) {
  // entries: [{file, path}]
  const images = entries.filter(({ file }) => file.type.startsWith('image/') || /\.(png|jpe?g|webp|gif|bmp)$/i.test(file.name));
  const labelFile = entries.find(({ file }) => /^id2label\.json$/i.test(file.name));
  if (labelFile) await setLabelsText(await labelFile.file.text(), labelFile.file.name);
  for (const { file, path } of images) {
    const ph = { id: ++photoId, name: file.name, path: path || file.name, file, url: URL.createObjectURL(file), embed: null, truth: null };
    state.photos.push(ph);
    ph.card = makeCard(ph);
    $('gallery').append(ph.card.root);
  }
  await updateTruth();
  if (!images.length) return;
  if (state.ready) {
    if (state.clip.status.startsWith('loaded')) embedAll().catch(() => {});
    else loadClip().catch(() => {});
    if (captionerConfigured() && state.captioner.status === 'none') loadCaptioner().catch(() => {});
    else captionAll().catch(() => {});
  }
}

async function walk(entry, prefix = '') {
  if (entry.isFile) return [{ file: await new Promise((res, rej) => entry.file(res, rej)), path: prefix + entry.name }];
  const reader = entry.createReader();
  const out = [];
  for (;;) {
    const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
    if (!batch.length) break;
    for (const e of batch) out.push(...(await walk(e, `${prefix}${entry.name}/`)));
  }
  return out;
}

const drop = $('drop');
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', async (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const items = [...(e.dataTransfer.items || [])];
  const entries = items.map((i) => i.webkitGetAsEntry && i.webkitGetAsEntry()).filter(Boolean);
  let files;
  if (entries.length && entries.some((x) => x.isDirectory)) files = (await Promise.all(entries.map((x) => walk(x)))).flat();
  else files = [...e.dataTransfer.files].map((file) => ({ file, path: file.name }));
  addFiles(files);
});
drop.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' || e.key === ' ') {
    e.preventDefault();
    $('file-input').click();
  }
});
$('file-input').onchange = (e) => {
  addFiles([...e.target.files].map((file) => ({ file, path: file.name })));
  e.target.value = '';
};
$('folder-input').onchange = (e) => {
  addFiles([...e.target.files].map((file) => ({ file, path: file.webkitRelativePath || file.name })));
  e.target.value = '';
};
$('clear-photos').onclick = () => {
  for (const ph of state.photos) URL.revokeObjectURL(ph.url);
  state.photos = [];
  $('gallery').replaceChildren();
  renderAccuracy();
};

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function makeCard(ph) {
  const root = el('article', 'card');
  root.dataset.name = ph.name;
  const media = el('div', 'media');
  const img = el('img', 'thumb');
  img.src = ph.url;
  img.alt = ph.name;
  img.loading = 'lazy';
  const canvas = el('canvas', 'overlay');
  canvas.hidden = true;
  media.append(img, canvas);
  const title = el('div', 'name');
  title.append(el('span', 'file', ph.path));
  const truth = el('span', 'truth');
  title.append(truth);
  const search = el('span', 'sim');
  title.append(search);
  const top = el('ol', 'top');
  const cap = el('div', 'caption');
  const chips = el('div', 'chips');
  const edit = el('input', 'edit');
  edit.type = 'text';
  edit.setAttribute('aria-label', `caption of ${ph.name} (edit to re-score)`);
  edit.hidden = true;
  const score = el('span', 'score');
  cap.append(chips, edit, score);
  const error = el('p', 'error');
  error.setAttribute('role', 'alert');
  root.append(media, title, top, cap, error);
  let timer = null;
  edit.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => rescoreCaption(ph, edit.value), 150);
  });
  return { root, img, canvas, truth, search, top, chips, edit, score, error };
}

function setError(ph, message) {
  ph.error = message;
  ph.card.error.textContent = message || '';
  ph.card.root.classList.toggle('bad', Boolean(message));
}

async function photoBytes(ph) {
  return new Uint8Array(await ph.file.arrayBuffer());
}

let embedding = null;
async function embedAll() {
  if (embedding) return embedding;
  embedding = (async () => {
    if (!state.clip.status.startsWith('loaded')) return;
    let any = false;
    for (;;) {
      const ph = state.photos.find((p) => !p.embed && !p.error && state.photos.includes(p));
      if (!ph) break;
      try {
        const bytes = await photoBytes(ph);
        const r = await timedCall('embedImage', { bytes, name: ph.path }, [bytes.buffer]);
        ph.embed = r.result;
        state.timings.embed = (state.timings.embed || 0) + r.seconds;
        state.timings.embedN = (state.timings.embedN || 0) + 1;
        any = true;
      } catch (e) {
        setError(ph, e.message);
      }
    }
    renderStatus();
    if (any) await rescore();
  })().finally(() => (embedding = null));
  return embedding;
}

// ---------------------------------------------------------------- zero-shot

async function setLabelsText(text, name = 'labels') {
  try {
    const names = await call('parseLabels', { text, name });
    state.labelsText = text;
    $('labels').value = /^\s*[{[]/.test(text) ? names.join('\n') : text;
    state.labelsFromFile = /^\s*[{[]/.test(text) ? text : null;
    $('template-error').textContent = '';
  } catch (e) {
    $('template-error').textContent = e.message;
  }
  await updateTruth();
  scheduleRescore();
}

async function updateTruth() {
  if (!state.ready) return;
  const text = state.labelsFromFile || $('labels').value;
  const truth = await call('truthOf', { labels: text, paths: state.photos.map((p) => p.path) }).catch(() => []);
  state.photos.forEach((p, i) => (p.truth = truth[i] ?? null));
}

let rescoreTimer = null;
function scheduleRescore() {
  clearTimeout(rescoreTimer);
  rescoreTimer = setTimeout(() => rescore().catch((e) => ($('template-error').textContent = e.message)), 200);
}

async function textEmbeds(prompts) {
  const missing = [...new Set(prompts.filter((p) => !state.textCache.has(p)))];
  if (missing.length) {
    const { result: flat, seconds } = await timedCall('embedTexts', { texts: missing });
    state.timings.text = (state.timings.text || 0) + seconds;
    state.timings.textN = (state.timings.textN || 0) + 1;
    const dim = flat.length / missing.length;
    missing.forEach((p, i) => state.textCache.set(p, flat.slice(i * dim, (i + 1) * dim)));
  }
  return prompts.map((p) => state.textCache.get(p));
}

function concat(rows) {
  const dim = rows[0].length;
  const out = new Float32Array(rows.length * dim);
  rows.forEach((r, i) => out.set(r, i * dim));
  return out;
}

async function rescore() {
  if (state.clip.status.startsWith('loaded') === false) return;
  const labelsText = state.labelsFromFile || $('labels').value;
  let labels;
  try {
    labels = await call('parseLabels', { text: labelsText, name: 'labels' });
  } catch (e) {
    $('template-error').textContent = e.message;
    return;
  }
  const templates = $('templates').value.split('\n').map((t) => t.trim()).filter(Boolean);
  try {
    if (!templates.length) throw new Error('enter at least one template');
    await call('fillTemplates', { templates });
  } catch (e) {
    $('template-error').textContent = e.message;
    return;
  }
  $('template-error').textContent = '';
  state.labels = labels;
  state.templates = templates;
  const prompts = templates.flatMap((t) => labels.map((l) => t.split('{}').join(l)));
  const texts = concat(await textEmbeds(prompts));
  const photos = state.photos.filter((p) => p.embed);
  if (!photos.length) return;
  const images = concat(photos.map((p) => p.embed));
  const dim = photos[0].embed.length;
  const all = templates.map((_, i) => i);
  const probs = await call('zeroShot', { images, texts, dim, labels: labels.length, templates: all, scale: state.scale });
  photos.forEach((p, i) => (p.probs = probs.slice(i * labels.length, (i + 1) * labels.length)));
  const rows = [];
  if (photos.some((p) => p.truth !== null)) {
    const known = photos.filter((p) => p.truth !== null);
    const known_images = concat(known.map((p) => p.embed));
    const acc = async (tpl) => {
      const pr = await call('zeroShot', { images: known_images, texts, dim, labels: labels.length, templates: tpl, scale: state.scale });
      let right = 0;
      known.forEach((p, i) => {
        const row = pr.slice(i * labels.length, (i + 1) * labels.length);
        let best = 0;
        row.forEach((v, j) => v > row[best] && (best = j));
        if (best === p.truth) right++;
      });
      return { right, n: known.length };
    };
    for (let t = 0; t < templates.length; t++) rows.push({ template: templates[t], ...(await acc([t])) });
    if (templates.length > 1) rows.push({ template: `ensemble of ${templates.length}`, ...(await acc(all)) });
  }
  state.accuracy = rows;
  renderPredictions();
  renderAccuracy();
}

function renderPredictions() {
  const k = Number($('topk').value);
  for (const ph of state.photos) {
    const c = ph.card;
    c.top.replaceChildren();
    c.truth.textContent = ph.truth !== null && state.labels[ph.truth] ? ` · true: ${state.labels[ph.truth]}` : '';
    if (!ph.probs) continue;
    const order = [...ph.probs.keys()].sort((a, b) => ph.probs[b] - ph.probs[a] || a - b).slice(0, k);
    for (const i of order) {
      const li = el('li', i === ph.truth ? 'right' : ph.truth !== null && i === order[0] ? 'wrong' : '');
      li.append(el('span', 'label', state.labels[i]));
      const bar = el('span', 'bar');
      bar.style.setProperty('--p', ph.probs[i]);
      li.append(bar, el('span', 'p', `${(ph.probs[i] * 100).toFixed(1)}%`));
      c.top.append(li);
    }
  }
}

function renderAccuracy() {
  const rows = state.accuracy || [];
  $('accuracy').hidden = !rows.length;
  const body = $('accuracy-table').tBodies[0];
  body.replaceChildren();
  for (const r of rows) {
    const tr = el('tr');
    tr.append(el('td', '', r.template), el('td', 'num', `${((100 * r.right) / r.n).toFixed(2)}%`), el('td', 'num', `${r.right} / ${r.n}`));
    tr.dataset.accuracy = String(r.right / r.n);
    body.append(tr);
  }
}

$('labels').addEventListener('input', () => {
  state.labelsFromFile = null;
  updateTruth().then(scheduleRescore);
});
$('templates').addEventListener('input', scheduleRescore);
$('topk').onchange = renderPredictions;
$('labels-file').onchange = async (e) => {
  const f = e.target.files[0];
  if (f) await setLabelsText(await f.text(), f.name);
  e.target.value = '';
};

// ---------------------------------------------------------------- search

let searchTimer = null;
$('search-box').addEventListener('input', () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(search, 200);
});

async function search() {
  const q = $('search-box').value.trim();
  const gallery = $('gallery');
  if (!q || !state.clip.status.startsWith('loaded')) {
    for (const ph of state.photos) {
      ph.card.search.textContent = '';
      gallery.append(ph.card.root);
    }
    return;
  }
  const [t] = await textEmbeds([q]);
  const scored = state.photos.map((ph) => ({ ph, s: ph.embed ? ph.embed.reduce((a, v, i) => a + v * t[i], 0) : -Infinity }));
  scored.sort((a, b) => b.s - a.s);
  for (const { ph, s } of scored) {
    ph.card.search.textContent = Number.isFinite(s) ? ` · similarity ${s.toFixed(3)}` : '';
    gallery.append(ph.card.root);
  }
}

// ---------------------------------------------------------------- captions

let captioning = null;
async function captionAll() {
  if (captioning || !state.captioner.status.startsWith('loaded')) return captioning;
  captioning = (async () => {
    for (;;) {
      const ph = state.photos.find((p) => !p.caption && !p.captionError && !p.error);
      if (!ph) break;
      try {
        const bytes = await photoBytes(ph);
        const options = { beams: Number($('beams').value), maxTokens: Number($('max-tokens').value) };
        const r = await timedCall('caption', { bytes, name: ph.path, options }, [bytes.buffer]);
        ph.caption = r.result;
        state.timings.caption = (state.timings.caption || 0) + r.seconds;
        state.timings.captionN = (state.timings.captionN || 0) + 1;
        renderCaption(ph);
        renderStatus();
        await rescoreCaption(ph, ph.caption.text);
      } catch (e) {
        ph.captionError = e.message;
        setError(ph, e.message);
      }
    }
  })().finally(() => (captioning = null));
  return captioning;
}

function layerCount() {
  const c = state.photos.find((p) => p.caption && p.caption.attention.length);
  return c ? c.caption.attention[0].length : 0;
}

function renderLayerChoice() {
  const sel = $('layer');
  const n = layerCount();
  if (sel.options.length === n + 1) return;
  const v = sel.value;
  sel.replaceChildren(new Option('mean over layers', 'mean'), ...Array.from({ length: n }, (_, i) => new Option(`layer ${i + 1}`, String(i))));
  sel.value = [...sel.options].some((o) => o.value === v) ? v : 'mean';
}

function renderCaption(ph) {
  const c = ph.card;
  const cap = ph.caption;
  c.chips.replaceChildren();
  cap.words.forEach((w, i) => {
    const b = el('button', 'chip', w);
    b.type = 'button';
    b.dataset.index = String(i);
    b.setAttribute('aria-label', `show attention of the word "${w.trim()}"`);
    const on = () => drawOverlay(ph, i);
    const off = () => drawOverlay(ph, null);
    b.addEventListener('mouseenter', on);
    b.addEventListener('focus', on);
    b.addEventListener('mouseleave', off);
    b.addEventListener('blur', off);
    b.addEventListener('click', on);
    c.chips.append(b);
  });
  c.edit.hidden = false;
  c.edit.value = cap.text;
  renderLayerChoice();
  drawOverlay(ph, null);
}

// Viridis, sampled at 9 points (perceptually uniform, readable in greyscale).
const VIRIDIS = [[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141], [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37]];
function viridis(t) {
  const x = Math.min(Math.max(t, 0), 1) * (VIRIDIS.length - 1);
  const i = Math.min(Math.floor(x), VIRIDIS.length - 2);
  const f = x - i;
  return VIRIDIS[i].map((a, k) => Math.round(a + f * (VIRIDIS[i + 1][k] - a)));
}

function drawOverlay(ph, word) {
  const cap = ph.caption;
  const c = ph.card;
  const size = cap.size;
  const canvas = c.canvas;
  canvas.width = size;
  canvas.height = size;
  canvas.hidden = false;
  c.img.hidden = true;
  const ctx = canvas.getContext('2d');
  ctx.putImageData(new ImageData(new Uint8ClampedArray(cap.seen), size, size), 0, 0);
  for (const b of c.chips.children) b.classList.toggle('active', Number(b.dataset.index) === word);
  if (word === null || !cap.attention[word]) return;
  const layers = cap.attention[word];
  const sel = $('layer').value;
  const rows = sel === 'mean' ? layers : [layers[Number(sel)] || layers[0]];
  const [gh, gw] = cap.grid;
  const cells = new Float32Array(gh * gw);
  for (const r of rows) for (let i = 0; i < cells.length; i++) cells[i] += r[i + 1] / rows.length; // skip CLS
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of cells) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const heat = document.createElement('canvas');
  heat.width = gw;
  heat.height = gh;
  const hctx = heat.getContext('2d');
  const img = hctx.createImageData(gw, gh);
  cells.forEach((v, i) => {
    const [r, g, b] = viridis(hi > lo ? (v - lo) / (hi - lo) : 0);
    img.data.set([r, g, b, 255], i * 4);
  });
  hctx.putImageData(img, 0, 0);
  ctx.globalAlpha = Number($('opacity').value);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(heat, 0, 0, size, size);
  ctx.globalAlpha = 1;
  state.hover = { photo: ph.name, word };
}

$('layer').onchange = $('opacity').oninput = () => {
  for (const ph of state.photos) {
    const active = ph.card.chips.querySelector('.chip.active');
    if (ph.caption) drawOverlay(ph, active ? Number(active.dataset.index) : null);
  }
};

async function rescoreCaption(ph, text) {
  if (!state.clip.status.startsWith('loaded')) {
    ph.card.score.textContent = '';
    return;
  }
  await embedAll();
  if (!ph.embed) return;
  const prefix = $('prefix').checked ? 'A photo depicts ' : '';
  const [t] = await textEmbeds([prefix + text]);
  ph.score = await call('clipScore', { image: ph.embed, text: t });
  ph.scoredText = text;
  ph.card.score.textContent = `CLIPScore ${ph.score.toFixed(4)}`;
}

$('prefix').onchange = () => state.photos.filter((p) => p.caption).forEach((p) => rescoreCaption(p, p.card.edit.value));
for (const id of ['beams', 'max-tokens']) for (const ev of ['input', 'change']) $(id).addEventListener(ev, () => ($(id).dataset.touched = '1'));
function renderCaptionButton() {
  const sel = $('cap-model').selectedOptions[0];
  const s = captionerSources();
  const loaded = state.captioner.status.startsWith('loaded');
  $('caption-all').textContent =
    !loaded && s.model && !params.get('model') ? `Caption photos (downloads ${sel.textContent.split(':')[0]}, ${sel.dataset.size}, once)` : 'Caption photos';
}
$('cap-model').onchange = () => {
  state.captioner.promise = null;
  state.captioner.status = 'none';
  renderCaptionButton();
};
$('caption-all').onclick = () => {
  if (state.captioner.status === 'none' || state.captioner.status === 'failed') loadCaptioner().catch(() => {});
  else captionAll();
};

// ---------------------------------------------------------------- models panel, cache

$('clip-choice').onchange = () => ($('clip-url').hidden = $('clip-choice').value !== 'custom');
$('clip-load').onclick = () => {
  params.delete('clip');
  state.clip.promise = null;
  loadClip().catch(() => {});
};
$('cap-load').onclick = () => {
  state.captioner.promise = null;
  loadCaptioner().catch(() => {});
};
$('peft-files').onchange = () => {
  if ($('peft-files').files.length) $('cap-load').focus();
};
$('cache-clear').onclick = async () => {
  await call('clearCache');
  $('cache-info').textContent = 'Downloaded models removed from this browser.';
};
async function showCacheSize() {
  const n = await call('cacheSize').catch(() => 0);
  $('cache-info').textContent = n ? `${fmtBytes(n)} of models kept in this browser.` : 'Downloaded models are kept in this browser.';
}
for (const [key, id] of [['peft', 'peft-url'], ['encoder', 'enc-url'], ['decoder', 'dec-url']]) if (params.get(key)) $(id).value = params.get(key);
if (params.get('clip')) {
  $('clip-choice').value = 'custom';
  $('clip-url').hidden = false;
  $('clip-url').value = params.get('clip');
}

// ---------------------------------------------------------------- start

$('labels').value = DEFAULT_LABELS.join('\n');
renderStatus();
// ?backend=webgpu|cpu overrides the choice (auto: WebGPU on a hardware adapter, else the CPU).
const backend = ['webgpu', 'cpu'].includes(params.get('backend')) ? params.get('backend') : 'auto';
const WEBGPU_WHERE =
  'WebGPU works in Chrome and Edge 113+ on Windows, macOS and ChromeOS, Chrome 121+ on Android, Safari 26+, and Firefox 141+ on Windows. On Linux, start Chrome with --enable-unsafe-webgpu (or enable chrome://flags/#enable-unsafe-webgpu).';
const ready = call('init', { backend }).then(
  async (info) => {
    if (!info.backend) {
      $('status').textContent = 'WebGPU is not available.';
      showBanner(`This browser offers no WebGPU adapter (asked for by ?backend=webgpu). ${WEBGPU_WHERE} Without the parameter glimpse runs on the CPU instead.`);
      return info;
    }
    if (info.why === 'no-webgpu') {
      showBanner(`No WebGPU here: glimpse runs on the CPU in WebAssembly, which is slower on large models (a caption with ViT-base + GPT-2 takes seconds). ${WEBGPU_WHERE}`);
    }
    state.ready = true;
    state.adapter = info;
    renderStatus();
    showCacheSize();
    $('caption-all').disabled = false;
    renderCaptionButton();
    for (const id of ['peft-url', 'enc-url', 'dec-url']) $(id).addEventListener('input', renderCaptionButton);
    $('peft-files').addEventListener('change', renderCaptionButton);
    await updateTruth();
    if (state.photos.length) {
      loadClip().catch(() => {});
      if (captionerConfigured()) loadCaptioner().catch(() => {});
    }
    return info;
  },
  (e) => {
    $('status').textContent = 'Could not start.';
    showBanner(`Could not start the engine: ${e.message}`);
    throw e;
  },
);

// For tests and the curious: the state, the worker calls, and a promise for the start.
window.glimpse = { state, call, ready, loadClip, loadCaptioner, embedAll, captionAll, rescore };
