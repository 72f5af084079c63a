// The status line, rendered from the state: the backend, each model's phase, the timings.

import { renderCardState } from './cards.js';
import { $ } from './dom.js';
import { renderExport } from './export.js';
import { fmtBytes, fmtTime } from './format.js';
import { MIN_CORES_FOR_THREADS, params } from './params.js';
import { state } from './state.js';

const CPU_WHY = { 'software-adapter': 'the only GPU adapter is a software one', 'no-webgpu': 'no WebGPU' };
// Why the CPU runs on one thread (the worker's `build.why`); other reasons are shown as given.
const ONE_THREAD_WHY = {
  'one-thread-asked': 'asked for by ?threads=1',
  'not-isolated': 'the page is not cross-origin isolated, so WebAssembly threads are off',
};

/** "4 threads", or "one thread: why". */
function threadText(build) {
  if (build?.threads && build.threadCount > 1) return `${build.threadCount} threads`;
  if (build?.why === 'one-thread-asked' && !params.has('threads')) {
    const cores = navigator.hardwareConcurrency || 1;
    return `one thread: ${cores} core${cores === 1 ? '' : 's'}, threads are used from ${MIN_CORES_FOR_THREADS} (?threads=N tries them)`;
  }
  const why = build?.why && (ONE_THREAD_WHY[build.why] || build.why);
  return why ? `one thread: ${why}` : 'one thread';
}

function backendText() {
  if (!state.ready) return 'Starting…';
  const a = state.adapter;
  if (a.backend === 'cpu') {
    const why = CPU_WHY[a.why];
    return `CPU (WebAssembly SIMD, ${threadText(a.build)}${why ? `; ${why}` : ''})`;
  }
  const info = a.adapter;
  const name = [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'unnamed adapter';
  return `GPU: ${name}${a.fallback ? ' (software fallback)' : ''}; f16 ${a.f16 ? 'available' : 'not available'}`;
}

/** @param {import('./state.js').ModelState} m */
export function modelText(m) {
  switch (m.phase) {
    case 'ready': {
      const where = m.fromNetwork ? `, ${fmtBytes(m.fromNetwork)} downloaded` : m.fromCache ? ', from the browser cache' : '';
      return `loaded (${fmtBytes(m.bytes)}${where})`;
    }
    case 'failed':
      return m.error?.kind === 'network' || m.error?.kind === 'http' ? 'failed (download)' : 'failed';
    case 'confirm':
      return 'waiting for your go-ahead to download';
    default:
      return m.phase;
  }
}

function timingText() {
  const t = state.timings;
  const out = [];
  if (t.clipLoad) out.push(`CLIP load ${fmtTime(t.clipLoad)}`);
  if (t.captionerLoad) out.push(`captioner load ${fmtTime(t.captionerLoad)}`);
  if (t.embedN) out.push(`image embedding ${fmtTime(t.embed / t.embedN)}/photo`);
  if (t.textN) out.push(`text embedding ${fmtTime(t.text / t.textN)}/batch`);
  if (t.captionN) out.push(`caption ${fmtTime(t.caption / t.captionN)}/photo`);
  return out.join(', ');
}

// Where a load spec's location is: a URL, or the files the user picked.
function where(at, files) {
  if (!at) return '';
  if (at.url) return at.url;
  return files.length ? `picked files: ${files.join(', ')}` : 'picked files';
}

/** What a model's spec names, part by part: [[part, where]]. */
function parts(m) {
  const s = m.spec || {};
  if (s.kind === 'clip') return [['CLIP', where(s.model, m.files)]];
  const out = [];
  if (s.model) out.push(['encoder-decoder', where(s.model, m.files)]);
  if (s.peft) out.push(['PEFT checkpoint', where(s.peft, m.files)]);
  if (s.encoder) out.push(['encoder', where(s.encoder, m.files)]);
  if (s.decoder) out.push(['decoder', where(s.decoder, m.files)]);
  if (s.peft && !s.encoder) out.push(['encoder', 'the one its adapter_config.json names']);
  if (s.peft && !s.decoder) out.push(['decoder', 'the one its adapter_config.json names']);
  return out;
}

function backendName() {
  const a = state.adapter;
  if (!a) return '';
  return a.backend === 'cpu' ? `CPU (${threadText(a.build)})` : 'WebGPU';
}

/** The models panel's account of what is loaded: name, source, size, backend, files picked. */
function renderLoaded() {
  const box = $('loaded');
  if (!box) return;
  const rows = [];
  for (const [label, m] of [['CLIP', state.clip], ['Captioner', state.captioner]]) {
    if (m.phase === 'none') continue;
    const li = document.createElement('li');
    li.dataset.model = label.toLowerCase();
    const what = parts(m).map(([p, w]) => `${p}: ${w}`).join('; ');
    const how = m.phase === 'ready' ? `${fmtBytes(m.bytes)} on ${backendName()}, ${m.fromNetwork ? `${fmtBytes(m.fromNetwork)} downloaded` : 'from the browser cache'}` : modelText(m);
    li.textContent = `${label} (${how}): ${what}`;
    rows.push(li);
  }
  box.replaceChildren(...rows);
  box.hidden = !rows.length;
}

export function renderStatus() {
  renderLoaded();
  renderExport();
  for (const ph of state.photos) renderCardState(ph);
  if (state.startError) {
    $('status').textContent = state.startError;
    return;
  }
  const parts = [backendText(), `CLIP: ${modelText(state.clip)}`, `captioner: ${modelText(state.captioner)}`];
  const timing = timingText();
  $('status').textContent = parts.join(' · ') + (timing ? ` · ${timing}` : '');
}
