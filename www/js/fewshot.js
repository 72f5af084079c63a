// Few-shot: teach CLIP the user's labels from a handful of labelled photos. Labelled photos are
// marked as training shots (k per class at random with a seed, as `glimpse fewshot --shots k
// --seed s` picks them, or one by one on their cards); the other labelled photos are the test
// set. Tip-Adapter's cache model and CLIP's linear probe are fitted in the worker by the same
// Rust as the CLI (task/fewshot; the probe's gradients on the page's device), and give rows of
// the accuracy table, a confusion view and, when chosen, the predictions shown. A fitted
// classifier downloads as a `glimpse fewshot --save` file, and such a file can be loaded.

import { $, download, el } from './dom.js';
import { concat, textEmbeds } from './embeddings.js';
import { call } from './rpc.js';
import { isReady, state } from './state.js';
import { onRescored, renderAccuracy, renderPredictions, setLabelsText, showWith } from './zeroshot.js';

const NAMES = { zero_shot: 'zero-shot', tip: 'Tip-Adapter', probe: 'linear probe', head: 'loaded classifier' };
const fs = state.fewshot;

const labelled = () => state.photos.filter((p) => p.truth !== null && p.truth !== undefined);
const isTrain = (p) => p.split === 'train' && p.truth !== null && p.truth !== undefined;
const shots = () => Math.max(1, Math.floor(Number($('shots').value) || 1));
const seed = () => Math.max(0, Math.floor(Number($('fs-seed').value) || 0));
const methods = () => ['tip', 'probe'].filter((m) => $(`fs-${m}`).checked);

/** What a fit depends on: a result made for another signature is out of date. */
function signature() {
  const photos = state.photos.filter((p) => p.embed).map((p) => [p.id, isTrain(p) ? -2 : p.truth ?? -1]);
  return JSON.stringify([state.clip.spec, state.labels, state.templates, photos, methods()]);
}

/** Training photos per class: `{k, text}`, k the most of any class (the text says a range if uneven). */
function shotsOf(train) {
  const per = state.labels.map((_, c) => train.filter((p) => p.truth === c).length);
  const [lo, hi] = [Math.min(...per), Math.max(...per)];
  return { k: hi, text: lo === hi ? `${hi}-shot` : `${lo}–${hi}-shot` };
}

/** Whether the result shown was made for what the page shows now. */
export const isCurrent = () => Boolean(fs.result && fs.result.signature === signature());

/** Marks `k` labelled photos per class as training shots, picked with the seed (Rust's pick_shots). */
async function pick() {
  const truth = Int32Array.from(state.photos, (p) => p.truth ?? -1);
  try {
    const picked = new Set(await call('pickShots', { truth, labels: state.labels, k: shots(), seed: seed() }));
    state.photos.forEach((p, i) => (p.split = picked.has(i) ? 'train' : undefined));
    fs.pickedWith = seed();
    fs.error = null;
  } catch (e) {
    fs.error = e.message;
  }
  changed();
}

/** Makes a photo a training shot, or a test photo again (its card's button). */
export function toggleSplit(ph) {
  ph.split = isTrain(ph) ? undefined : 'train';
  fs.pickedWith = null; // the user's own pick
  changed();
}

function clearMarks() {
  for (const p of state.photos) p.split = undefined;
  fs.result = null;
  fs.pickedWith = null;
  fs.auto = false;
  fs.error = null;
  if (fs.method !== 'head') fs.method = 'zero_shot';
  applyPredictions();
  render();
}

let timer = null;
/** The marks, labels, templates or photos changed: re-fit (once Fit was pressed), debounced. */
function changed() {
  render();
  if (!fs.auto) return;
  clearTimeout(timer);
  timer = setTimeout(() => fit().catch(() => {}), 300);
}

/** Fits the chosen methods on the training shots and scores them on the test photos. */
export async function fit() {
  if (fs.fitting) {
    fs.again = true; // one more fit once this one ends, on what the page shows then
    return fs.fitting;
  }
  fs.fitting = (async () => {
    do {
      fs.again = false;
      await fitOnce();
    } while (fs.again);
  })().finally(() => {
    fs.fitting = null;
    render();
  });
  return fs.fitting;
}

async function fitOnce() {
  fs.auto = true;
  const train = state.photos.filter((p) => isTrain(p) && p.embed);
  // Every embedded photo is predicted (the training photos too, so every card shows the method
  // chosen); only the labelled test photos are scored.
  const images = state.photos.filter((p) => p.embed);
  const want = methods();
  fs.error = null;
  if (!isReady(state.clip) || !state.labels.length) fs.error = 'load CLIP and labelled photos first';
  else if (!train.length) fs.error = 'mark training photos first (Pick, or a card’s “train” button)';
  else if (!want.length) fs.error = 'choose Tip-Adapter, the linear probe or both';
  if (fs.error) return render();
  const sig = signature();
  fs.progress = { done: 0, total: 1 };
  render();
  try {
    const prompts = await call('fillTemplates', { templates: state.templates, labels: state.labels });
    const texts = concat(await textEmbeds(prompts));
    const dim = train[0].embed.length;
    const args = {
      texts,
      dim,
      labels: state.labels,
      templates: state.templates,
      scale: state.scale,
      keys: concat(train.map((p) => p.embed)),
      y: Uint32Array.from(train, (p) => p.truth),
      images: concat(images.map((p) => p.embed)),
      truth: Int32Array.from(images, (p) => (isTrain(p) ? -1 : p.truth ?? -1)),
      options: { methods: want, shots: shotsOf(train).k, seed: fs.pickedWith ?? 0, model: state.clip.spec?.model?.url || 'CLIP' },
    };
    const t0 = performance.now();
    const onProgress = (m) => {
      fs.progress = { done: m.done, total: m.total };
      renderProgress();
    };
    const res = await call('fewShot', args, { onProgress });
    const n = state.labels.length;
    const byId = (flat) => new Map(images.map((p, i) => [p.id, flat.slice(i * n, (i + 1) * n)]));
    fs.result = {
      signature: sig,
      report: res.report,
      heads: res.heads,
      probs: Object.fromEntries(Object.entries(res.probs).map(([m, flat]) => [m, byId(flat)])),
      methods: want,
      shots: shotsOf(train).k,
      shotsText: shotsOf(train).text,
      seed: fs.pickedWith ?? null,
      train: train.map((p) => p.path),
      test: images.filter((p) => !isTrain(p) && p.truth !== null && p.truth !== undefined).length,
      labels: state.labels.slice(),
      templates: state.templates.slice(),
      seconds: (performance.now() - t0) / 1000,
    };
    if (!want.includes(fs.method) && fs.method !== 'head' && fs.method !== 'zero_shot') fs.method = want[0];
    if (fs.method === 'zero_shot' && !fs.chosen) fs.method = want[0]; // the first fit shows what it learned
    state.fewshotAt = performance.now();
  } catch (e) {
    fs.error = e.message;
  } finally {
    fs.progress = null;
  }
  applyPredictions();
  renderAccuracy();
  render();
}

/** The method whose predictions the page shows: 'zero_shot', 'tip', 'probe' or 'head'. */
export function shownMethod() {
  if (fs.method === 'head') return fs.head ? 'head' : 'zero_shot';
  return fs.method !== 'zero_shot' && isCurrent() ? fs.method : 'zero_shot';
}

/** The probabilities the page shows for a photo: the chosen method's, else zero-shot's. */
export function shownProbs(ph) {
  if (fs.method === 'head') return fs.head?.probs.get(ph.id) || null;
  if (fs.method !== 'zero_shot' && isCurrent()) return fs.result.probs[fs.method]?.get(ph.id) || ph.probs;
  return ph.probs;
}

function applyPredictions() {
  renderPredictions();
  renderConfusion();
}

/**
 * The few-shot rows of the accuracy table (null when there is no current fit): zero-shot and the
 * cache model per template and for the ensemble, the probe on the ensemble, all on the test photos.
 */
export function fewshotRows() {
  if (!isCurrent()) return null;
  const { report, shotsText: k, test, templates } = fs.result;
  const count = (a) => ({ accuracy: a, right: a === null ? 0 : Math.round(a * test), n: test });
  const rows = [];
  const name = (t) => (t === 'ensemble' ? `ensemble of ${templates.length}` : t);
  for (const r of report.per_template) {
    rows.push({ template: name(r.template), method: 'zero_shot', shots: 0, ...count(r.zero_shot) });
    if (r.tip) rows.push({ template: name(r.template), method: 'tip', shots: k, ...count(r.tip.accuracy), alpha: r.tip.alpha, beta: r.tip.beta });
  }
  const probe = report.methods.probe;
  if (probe) rows.push({ template: name(report.per_template[report.per_template.length - 1].template), method: 'probe', shots: k, ...count(probe.accuracy), c: probe.c });
  return rows;
}

/** `glimpse fewshot`'s JSON fields for the fit shown (the export, and the suite's comparison). */
export function fewshotReport() {
  if (!isCurrent()) return null;
  const r = fs.result;
  return {
    templates: r.templates,
    labels: r.labels,
    zero_shot_accuracy: r.report.zero_shot_accuracy,
    fewshot: { method: r.methods[0], shots: r.shots, seed: r.seed, train: r.train, methods: r.report.methods, confusion: r.report.confusion },
    per_template: r.report.per_template,
  };
}

/** A method's name with its shots (`k` as '4-shot'). */
export const methodName = (m, k) => (m === 'zero_shot' ? 'zero-shot' : `${NAMES[m]}, ${k}`);

async function renderConfusion() {
  const box = $('confusion');
  const m = fs.method;
  let counts = null;
  let where = '';
  if (m !== 'head' && isCurrent() && fs.result.report.confusion[m]) {
    counts = fs.result.report.confusion[m];
    where = `${NAMES[m]} on the ${fs.result.test} test photos`;
  } else {
    const photos = state.photos.filter((p) => shownProbs(p) && p.truth !== null && p.truth !== undefined && !isTrain(p));
    if (photos.length && state.labels.length) {
      const n = state.labels.length;
      const probs = new Float32Array(photos.length * n);
      photos.forEach((p, i) => probs.set(shownProbs(p), i * n));
      const truth = Int32Array.from(photos, (p) => p.truth);
      counts = (await call('scoreProbs', { probs, labels: n, truth }).catch(() => null))?.confusion || null;
      where = `${NAMES[m]} on ${photos.length} labelled photos`;
    }
  }
  box.hidden = !counts;
  if (!counts) return;
  $('confusion-note').textContent = `Rows: the true label; columns: the predicted one (${where}).`;
  const table = $('confusion-table');
  const head = el('tr');
  head.append(el('th', '', 'true \\ predicted'), ...state.labels.map((l) => Object.assign(el('th', 'num', l), { scope: 'col' })));
  const body = counts.map((row, t) => {
    const tr = el('tr');
    const th = el('th', '', state.labels[t]);
    th.scope = 'row';
    const max = Math.max(1, ...row);
    tr.append(th, ...row.map((c, p) => {
      const td = el('td', `num${t === p ? ' diag' : ''}${c ? '' : ' zero'}`, String(c));
      td.style.setProperty('--share', String(c / max));
      return td;
    }));
    return tr;
  });
  table.replaceChildren(el('thead'), el('tbody'));
  table.tHead.append(head);
  table.tBodies[0].append(...body);
}

function renderProgress() {
  const p = fs.progress;
  $('fs-progress').hidden = !p;
  if (!p) return;
  $('fs-bar').max = p.total;
  $('fs-bar').value = p.done;
  $('fs-text').textContent = p.total > 1 ? `fitting: ${p.done} of ${p.total} fits (the probe's C by cross-validation)` : 'fitting…';
}

function renderMethods() {
  const sel = $('fs-method');
  const options = [['zero_shot', 'zero-shot']];
  // A fit out of date keeps its place (predictions fall back to zero-shot until it is redone).
  const late = isCurrent() ? '' : fs.fitting ? ' (re-fitting…)' : ' (out of date)';
  if (fs.result) for (const m of fs.result.methods) options.push([m, methodName(m, fs.result.shotsText) + late]);
  if (fs.head) options.push(['head', `${fs.head.name} (${NAMES[fs.head.info.method] || fs.head.info.method}, ${fs.head.info.shots}-shot)`]);
  sel.replaceChildren(...options.map(([v, t]) => new Option(t, v, false, v === fs.method)));
  if (!options.some(([v]) => v === fs.method)) {
    fs.method = 'zero_shot';
    sel.value = 'zero_shot';
  }
  $('fs-save').disabled = !(isCurrent() && fs.result.heads[fs.method]);
}

/** Renders the panel and every card's train / test button. */
export function render() {
  const any = labelled().length > 0;
  $('fewshot').hidden = !any && !fs.head;
  const train = state.photos.filter(isTrain);
  for (const ph of state.photos) {
    const b = ph.card?.split;
    if (!b) continue;
    const known = ph.truth !== null && ph.truth !== undefined;
    b.hidden = !known;
    b.textContent = isTrain(ph) ? 'train' : train.length ? 'test' : 'use to train';
    b.setAttribute('aria-pressed', String(isTrain(ph)));
    b.title = isTrain(ph) ? 'a few-shot training photo: press to make it a test photo' : 'press to make it a few-shot training photo';
    ph.card.root.dataset.split = isTrain(ph) ? 'train' : known ? 'test' : '';
  }
  const per = new Map();
  for (const p of train) per.set(p.truth, (per.get(p.truth) || 0) + 1);
  const stale = fs.result && !isCurrent();
  let summary = `${train.length} training photo${train.length === 1 ? '' : 's'}`;
  if (train.length) summary += ` (${[...per].sort((a, b) => a[0] - b[0]).map(([c, n]) => `${state.labels[c] ?? c}: ${n}`).join(', ')})`;
  summary += `, ${labelled().length - train.length} labelled test photos.`;
  if (isCurrent()) summary += ` Fitted in ${fs.result.seconds.toFixed(1)} s on this device.`;
  else if (stale) summary += fs.fitting ? ' Re-fitting for the changes…' : ' The fit is out of date: press Fit.';
  $('fs-summary').textContent = summary;
  $('fs-error').textContent = fs.error || '';
  $('fs-fit').disabled = !train.length || Boolean(fs.fitting);
  renderMethods();
  renderProgress();
}

async function loadHead(file) {
  const photos = state.photos.filter((p) => p.embed);
  fs.error = null;
  try {
    if (!photos.length) throw new Error('add photos (and let CLIP embed them) before loading a classifier');
    const bytes = new Uint8Array(await file.arrayBuffer());
    const args = { bytes, name: file.name, images: concat(photos.map((p) => p.embed)), dim: photos[0].embed.length };
    const { info, probs } = await call('headPredict', args);
    if (JSON.stringify(info.labels) !== JSON.stringify(state.labels)) await setLabelsText(info.labels.join('\n'), file.name);
    const n = info.labels.length;
    fs.head = { name: file.name, bytes, info, probs: new Map(photos.map((p, i) => [p.id, probs.slice(i * n, (i + 1) * n)])) };
    fs.method = 'head';
    fs.chosen = true;
  } catch (e) {
    fs.error = e.message.startsWith(file.name) ? e.message : `${file.name}: ${e.message}`;
  }
  applyPredictions();
  render();
}

/** A loaded classifier predicts photos embedded after it was loaded too. */
async function refreshHead() {
  const h = fs.head;
  const photos = state.photos.filter((p) => p.embed && !h.probs.has(p.id));
  if (!photos.length) return;
  const args = { bytes: h.bytes, name: h.name, images: concat(photos.map((p) => p.embed)), dim: photos[0].embed.length };
  const { probs } = await call('headPredict', args);
  const n = h.info.labels.length;
  photos.forEach((p, i) => h.probs.set(p.id, probs.slice(i * n, (i + 1) * n)));
}

function save() {
  const m = fs.method;
  const bytes = isCurrent() && fs.result.heads[m];
  if (bytes) download(`glimpse-${m}-${fs.result.shots}shot.safetensors`, new Blob([bytes], { type: 'application/octet-stream' }));
}

/** Wires the few-shot panel. */
export function initFewshot() {
  showWith(shownProbs, fewshotRows);
  $('fs-pick').onclick = () => pick();
  $('fs-clear').onclick = clearMarks;
  $('fs-fit').onclick = () => fit().catch(() => {});
  $('fs-save').onclick = save;
  for (const id of ['fs-tip', 'fs-probe']) $(id).onchange = changed;
  for (const id of ['shots', 'fs-seed']) $(id).onchange = () => render();
  $('fs-method').onchange = () => {
    fs.method = $('fs-method').value;
    fs.chosen = true;
    applyPredictions();
    render();
  };
  $('fs-head').onchange = async (e) => {
    const f = e.target.files[0];
    if (f) await loadHead(f);
    e.target.value = '';
  };
  onRescored(async () => {
    if (fs.head) await refreshHead().catch((e) => (fs.error = e.message));
    applyPredictions();
    if (fs.result && !isCurrent() && fs.auto) changed();
    else render();
  });
}
