// Zero-shot classification: labels and templates, the true labels of photos, predictions and
// the accuracy table. The prompts, probabilities and accuracies come from Rust
// (fillTemplates, zeroShotReport).

import { $, el } from './dom.js';
import { concat, embedPhotos, textEmbeds } from './embeddings.js';
import { renderExport } from './export.js';
import { call } from './rpc.js';
import { isReady, state } from './state.js';

export const DEFAULT_LABELS = ['cat', 'dog', 'bird', 'horse', 'car', 'bicycle', 'flower', 'food', 'beach', 'mountain', 'city street', 'person'];

// A JSON label file (an id2label.json, a list) is kept as it is: its ids give the true labels.
const isJson = (text) => /^\s*[{[]/.test(text);
const labelsText = () => state.labelsFromFile || $('labels').value;

/** Embeds the photos not embedded yet, scoring them as they come, and once more at the end. */
export async function embedAll() {
  if (await embedPhotos(() => rescore().catch(() => {}))) await rescore();
}

/**
 * Takes a label list (a file's text, or typed), shows it, and re-scores.
 * @param {string} text
 * @param {string} [name] the file's name, for messages
 */
export async function setLabelsText(text, name = 'labels') {
  try {
    const names = await call('parseLabels', { text, name });
    $('labels').value = isJson(text) ? names.join('\n') : text;
    state.labelsFromFile = isJson(text) ? text : null;
    state.labelsGiven = true;
    $('template-error').textContent = '';
  } catch (e) {
    $('template-error').textContent = e.message;
  }
  await updateTruth();
  scheduleRescore();
}

/**
 * The true label of each photo, from its path and the labels (Rust's truthOf): by `{id}_{n}`
 * names only with labels the user gave (typed, or loaded from a file); by folder names always
 * (the folders are the user's own labelling).
 */
export async function updateTruth() {
  if (!state.ready) return;
  const args = { labels: labelsText(), paths: state.photos.map((p) => p.path), folderOnly: !state.labelsGiven };
  const truth = await call('truthOf', args).catch(() => []);
  state.photos.forEach((p, i) => (p.truth = truth[i] ?? null));
}

let rescoreTimer = null;
export function scheduleRescore() {
  clearTimeout(rescoreTimer);
  rescoreTimer = setTimeout(() => rescore().catch((e) => ($('template-error').textContent = e.message)), 200);
}

// What predictions and the accuracy table show beyond zero-shot (fewshot.js sets them): the
// probabilities of a photo under the method chosen, and the few-shot table's rows (or null).
let shownOf = (ph) => ph.probs;
let fewshotRowsOf = () => null;
/**
 * @param {(ph: object) => Float32Array|null} probs
 * @param {() => object[]|null} rows
 */
export function showWith(probs, rows) {
  shownOf = probs;
  fewshotRowsOf = rows;
}
const rescoredListeners = [];
/** `fn()` after every re-scoring (new photos embedded, labels or templates changed). */
export const onRescored = (fn) => rescoredListeners.push(fn);

let generation = 0; // of rescore calls: the results of a superseded one are dropped

/** Probabilities of every embedded photo and the accuracy table, for the labels and templates shown. */
export async function rescore() {
  if (!isReady(state.clip)) return;
  const mine = ++generation;
  const stale = () => mine !== generation;
  const templates = $('templates').value.split('\n').map((t) => t.trim()).filter(Boolean);
  let labels;
  let prompts;
  try {
    labels = await call('parseLabels', { text: labelsText(), name: 'labels' });
    if (!templates.length) throw new Error('enter at least one template');
    prompts = await call('fillTemplates', { templates, labels });
  } catch (e) {
    if (!stale()) $('template-error').textContent = e.message;
    return;
  }
  if (stale()) return;
  $('template-error').textContent = '';
  const texts = concat(await textEmbeds(prompts));
  const photos = state.photos.filter((p) => p.embed);
  if (stale()) return;
  state.labels = labels;
  state.templates = templates;
  if (!photos.length) return;
  const images = concat(photos.map((p) => p.embed));
  const truth = Int32Array.from(photos, (p) => p.truth ?? -1);
  const args = { images, texts, dim: photos[0].embed.length, labels: labels.length, templates: templates.length, truth, scale: state.scale };
  const { probs, accuracy } = await call('zeroShotReport', args, { transfer: [images.buffer, texts.buffer] });
  if (stale()) return;
  photos.forEach((p, i) => (p.probs = probs.slice(i * labels.length, (i + 1) * labels.length)));
  state.scoredAt = performance.now(); // when the predictions shown were made (the suite orders work by it)
  state.accuracy = accuracy.map((r) => ({
    template: typeof r.template === 'number' ? templates[r.template] : `ensemble of ${templates.length}`,
    right: r.right,
    n: r.n,
  }));
  renderPredictions();
  renderAccuracy();
  for (const fn of rescoredListeners) fn();
}

/** Forgets the results of a CLIP model (another one is loaded). */
export function forgetScores() {
  state.textCache.clear();
  for (const ph of state.photos) {
    ph.embed = null;
    ph.probs = null;
    ph.score = undefined;
  }
}

export function renderPredictions() {
  const k = Number($('topk').value);
  for (const ph of state.photos) {
    const c = ph.card;
    c.top.replaceChildren();
    c.truth.textContent = ph.truth !== null && state.labels[ph.truth] ? ` · true: ${state.labels[ph.truth]}` : '';
    const probs = shownOf(ph);
    if (!probs) continue;
    const order = [...probs.keys()].sort((a, b) => probs[b] - probs[a] || a - b).slice(0, k);
    for (const i of order) {
      const li = el('li', i === ph.truth ? 'right' : ph.truth !== null && i === order[0] ? 'wrong' : '');
      const bar = el('span', 'bar');
      bar.style.setProperty('--p', probs[i]);
      li.append(el('span', 'label', state.labels[i]), bar, el('span', 'p', `${(probs[i] * 100).toFixed(1)}%`));
      c.top.append(li);
    }
  }
}

const METHODS = { zero_shot: 'zero-shot', tip: 'Tip-Adapter', probe: 'linear probe' };

/**
 * The accuracy table's rows: `{template, method, shots, accuracy, right, n}`, zero-shot on every
 * labelled photo, or (with a current few-shot fit) zero-shot and few-shot on the test photos.
 */
export function accuracyRows() {
  const few = fewshotRowsOf();
  if (few) return few;
  return (state.accuracy || []).map((r) => ({ template: r.template, method: 'zero_shot', shots: 0, accuracy: r.right / r.n, right: r.right, n: r.n }));
}

export function renderAccuracy() {
  renderExport();
  const rows = accuracyRows();
  $('accuracy').hidden = !rows.length;
  const few = rows.some((r) => r.method !== 'zero_shot');
  $('accuracy-note').textContent = rows.length
    ? few
      ? `On the ${rows[0].n} labelled test photos (the training photos are left out).`
      : `On the ${rows[0].n} labelled photos.`
    : '';
  const body = $('accuracy-table').tBodies[0];
  body.replaceChildren();
  for (const r of rows) {
    const tr = el('tr', r.method === 'zero_shot' ? '' : 'fewshot');
    const method = r.method === 'zero_shot' ? METHODS.zero_shot : `${METHODS[r.method]}, ${r.shots}`;
    const pct = r.accuracy === null ? '–' : `${(100 * r.accuracy).toFixed(2)}%`;
    tr.append(el('td', '', r.template), el('td', '', method), el('td', 'num', pct), el('td', 'num', `${r.right} / ${r.n}`));
    tr.dataset.accuracy = String(r.accuracy);
    tr.dataset.method = r.method;
    body.append(tr);
  }
}

/** Wires the labels, templates and top-k controls. */
export function initZeroShot() {
  $('labels').value = DEFAULT_LABELS.join('\n');
  $('labels').addEventListener('input', () => {
    state.labelsFromFile = null;
    state.labelsGiven = true;
    updateTruth().then(scheduleRescore);
  });
  $('templates').addEventListener('input', scheduleRescore);
  $('topk').onchange = renderPredictions;
  $('labels-file').onchange = async (e) => {
    const f = e.target.files[0];
    if (f) await setLabelsText(await f.text(), f.name);
    e.target.value = '';
  };
}
