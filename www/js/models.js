// Loading the models: where each comes from (query parameters, then the models panel), the load
// itself (with its progress), and what the page does when it fails, by the error's kind.

import { showBanner } from './banner.js';
import { captionAll, rescoreCaptions, showDefaults, staleCaptions } from './captions.js';
import { $ } from './dom.js';
import { describe, retryable } from './errors.js';
import { folder, params } from './params.js';
import { progress } from './progress.js';
import { call } from './rpc.js';
import { isReady, noModel, state } from './state.js';
import { renderStatus } from './status.js';
import { embedAll, forgetScores } from './zeroshot.js';

/** The label of the PEFT files the user picked, as the worker knows them. */
const PEFT_DROPPED = 'PEFT files';

const loading = { clip: null, captioner: null }; // the promise of the load in flight, or done
const LABEL = { clip: 'CLIP', captioner: 'captioner' }; // on the progress bar
const NAME = { clip: 'CLIP', captioner: 'the captioner' }; // in messages

/** What to load as CLIP: {spec}. Throws (kind 'invalid-input') when the custom URL is empty. */
function clipSource() {
  const choice = $('clip-choice').value;
  const at = params.get('clip') ? folder(params.get('clip')) : choice === 'custom' ? folder($('clip-url').value) : { url: choice };
  if (!at) throw Object.assign(new Error('enter the URL of a CLIP model folder'), { kind: 'invalid-input' });
  return { spec: { kind: 'clip', model: at, towers: 'both' } };
}

/** The demo captioner shipped with the page (www/demo/, made by demo/make_demo.py). */
export const DEMO = new URL('../demo/', import.meta.url).href;

function demoSpec() {
  return { kind: 'captioner', encoder: { url: `${DEMO}encoder/` }, decoder: { url: `${DEMO}decoder/` }, peft: { url: `${DEMO}peft/` } };
}

/**
 * What to load as the captioner: {spec, files}. A PEFT checkpoint (with the encoder and decoder
 * given, or those it names), an encoder + decoder pair, or a published VisionEncoderDecoderModel
 * (?model=, or the one chosen in the list). `files` holds the picked PEFT files.
 */
export function captionerSource() {
  const picked = $('peft-files').files;
  let files;
  let peft = folder(params.get('peft') || $('peft-url').value);
  if (picked && picked.length) {
    files = { [PEFT_DROPPED]: Object.fromEntries([...picked].map((f) => [f.name, f])) };
    peft = { dropped: PEFT_DROPPED };
  }
  const encoder = folder(params.get('encoder') || $('enc-url').value);
  const decoder = folder(params.get('decoder') || $('dec-url').value);
  let model = folder(params.get('model'));
  if (!model && !peft && !(encoder && decoder)) {
    const choice = $('cap-model').value;
    if (choice === 'demo') return { spec: demoSpec(), files };
    if (!choice) throw Object.assign(new Error('give a PEFT checkpoint, or both an encoder and a decoder, or pick a captioner'), { kind: 'invalid-input' });
    model = { url: choice };
  }
  const spec = { kind: 'captioner' };
  for (const [k, v] of Object.entries({ model, encoder, decoder, peft })) if (v) spec[k] = v;
  return { spec, files };
}

/**
 * Whether the page was pointed at a captioner (query parameters or fields), so that adding
 * photos starts it; the published default waits for "Caption photos" (a large download).
 */
export function captionerConfigured() {
  try {
    const { spec } = captionerSource();
    return Boolean(spec.peft || (spec.encoder && spec.decoder) || params.get('model'));
  } catch {
    return false; // a field that is not a URL: said when the captioner is loaded
  }
}

// The source `find()` gives, or (when a field is not a URL) a banner that says so, and a throw.
function sourceOr(find) {
  try {
    return find();
  } catch (e) {
    showBanner(e.message);
    throw e;
  }
}

// Loads into state[which]; on success `settle(result)` runs before the model is marked ready.
async function load(which, source, settle = async () => {}) {
  const m = state[which];
  const files = Object.values(source.files || {}).flatMap((set) => Object.keys(set));
  Object.assign(m, noModel(), { phase: 'loading', spec: source.spec, files });
  renderStatus();
  const bar = progress(LABEL[which]);
  const t0 = performance.now();
  try {
    const r = await call('load', source, { onProgress: bar.update });
    state.timings[`${which}Load`] = (performance.now() - t0) / 1000;
    await settle(r);
    Object.assign(m, { phase: 'ready', bytes: r.bytes, fromNetwork: r.fromNetwork, fromCache: r.fromCache, defaults: r.defaults ?? null });
    renderStatus();
    return r;
  } catch (e) {
    Object.assign(m, { phase: 'failed', error: { kind: e.kind || 'internal', message: e.message } });
    renderStatus();
    // A crashed engine was restarted, and the banner says so; the rest is said here.
    if (e.kind !== 'crashed') showBanner(`Could not load ${NAME[which]}: ${describe(e)}`, nextSteps(which, e));
    throw e;
  } finally {
    bar.done();
  }
}

/**
 * The buttons a failed load's banner offers: Retry where trying again can help, and the smaller
 * CLIP where the one that failed was another.
 * @returns {import('./banner.js').Action[]}
 */
function nextSteps(which, e) {
  const out = [];
  if (retryable(e)) out.push({ label: 'Retry', run: () => loadAgain(which).catch(() => {}) });
  const smaller = $('clip-choice').options[0];
  if (which === 'clip' && ['network', 'http', 'out-of-memory', 'device'].includes(e.kind) && state.clip.spec?.model?.url !== smaller.value) {
    out.push({
      label: `Use ${smaller.dataset.name} (${smaller.dataset.size}) instead`,
      run: () => {
        params.delete('clip');
        $('clip-choice').value = smaller.value;
        $('clip-choice').dispatchEvent(new Event('change')); // the panel follows
        loadAgain('clip').catch(() => {});
      },
    });
  }
  return out;
}

/** Downloads above this many bytes wait for the user's go-ahead (any size under Save-Data). */
export const CONFIRM_ABOVE = 1e9;
const CONFIRMED = 'glimpse.confirmed-downloads'; // localStorage: URLs agreed to and downloaded
// URLs agreed to in this visit: a Retry does not ask again, but a download that never completed
// is asked about again on the next visit (only a finished one is remembered in localStorage).
const agreed = new Set();

function confirmed() {
  try {
    return new Set(JSON.parse(localStorage.getItem(CONFIRMED) || '[]'));
  } catch {
    return new Set();
  }
}

function rememberConfirmed(url) {
  try {
    localStorage.setItem(CONFIRMED, JSON.stringify([...confirmed(), url]));
  } catch {
    // no storage (private mode): asked again next visit
  }
}

/** The option of the CLIP list for a load spec, or undefined (a custom URL: its size is unknown). */
function clipOption(spec) {
  return [...$('clip-choice').options].find((o) => o.value === spec.model?.url && o.dataset.bytes);
}

/**
 * The CLIP source to load, once the user agreed to a large download (above CONFIRM_ABOVE, or
 * any listed one when the browser asks to save data): until then CLIP waits in phase 'confirm'
 * with a banner offering the download or the smaller model.
 */
async function consent(source) {
  const opt = clipOption(source.spec);
  const saveData = navigator.connection?.saveData === true;
  if (!opt || (Number(opt.dataset.bytes) <= CONFIRM_ABOVE && !saveData) || confirmed().has(opt.value) || agreed.has(opt.value)) return source;
  Object.assign(state.clip, noModel(), { phase: 'confirm', spec: source.spec });
  renderStatus();
  const smaller = $('clip-choice').options[0];
  const why = saveData ? ' Your browser asks pages to save data.' : '';
  const choice = await new Promise((resolve) => {
    const actions = [{ label: `Download ${opt.dataset.size}`, run: () => resolve(opt) }];
    if (smaller !== opt) actions.push({ label: `Use ${smaller.dataset.name} (${smaller.dataset.size})`, run: () => resolve(smaller) });
    showBanner(`CLIP ${opt.dataset.name} is a ${opt.dataset.size} download (once: the browser keeps it).${why}`, actions);
  });
  agreed.add(choice.value);
  $('clip-choice').value = choice.value;
  $('clip-choice').dispatchEvent(new Event('change'));
  return choice === opt ? source : clipSource();
}

/** Loads CLIP (once; the promise of a load in flight is shared), then embeds and scores the photos. */
export function loadClip() {
  if (loading.clip) return loading.clip;
  const run = async () => {
    const source = await consent(sourceOr(clipSource));
    await load('clip', source, async () => {
      forgetScores(); // everything computed with the previous model is stale
      state.scale = await call('logitScale');
    });
    const url = source.spec.model?.url;
    if (agreed.has(url)) rememberConfirmed(url); // downloaded: the next visit need not ask
    await embedAll();
    await rescoreCaptions();
  };
  return remember('clip', run());
}

/** Loads the captioner (once; as loadClip), shows its decoding defaults, and captions the photos. */
export function loadCaptioner() {
  if (loading.captioner) return loading.captioner;
  const run = async () => {
    const r = await load('captioner', sourceOr(captionerSource));
    $('caption-all').disabled = false;
    showDefaults(r.defaults);
    renderCaptionButton();
    await captionAll();
  };
  return remember('captioner', run());
}

// Keeps the promise of a load (a failed one is forgotten, so that the next call tries again).
function remember(which, promise) {
  const p = promise.catch((e) => {
    if (loading[which] === p) loading[which] = null;
    throw e;
  });
  loading[which] = p;
  return p;
}

/** Starts a load of `which` again, even when one is done or in flight (the user asked). */
export function loadAgain(which) {
  loading[which] = null;
  return which === 'clip' ? loadClip() : loadCaptioner();
}

/** Forgets a model: the next need of it loads it (another was chosen, or the engine died). */
export function forget(which) {
  loading[which] = null;
  Object.assign(state[which], noModel());
}

/** "Caption photos", with the download it starts when the published default is not loaded yet. */
export function renderCaptionButton() {
  const sel = $('cap-model').selectedOptions[0];
  let spec = {};
  try {
    spec = captionerSource().spec;
  } catch {
    // a field that is not a URL yet (being typed)
  }
  const pending = !isReady(state.captioner) && spec.model && !params.get('model') && sel?.dataset.size;
  const stale = isReady(state.captioner) ? staleCaptions().length : 0;
  let text = 'Caption photos';
  if (pending) text = `Caption photos (downloads ${sel.textContent.split(':')[0]}, ${sel.dataset.size}, once)`;
  else if (stale) text = `Caption again with these settings (${stale} photo${stale === 1 ? '' : 's'})`;
  $('caption-all').textContent = text;
  $('caption-all').dataset.stale = String(stale);
}
