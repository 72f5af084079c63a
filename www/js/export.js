// Taking results away: the predictions (glimpse classify --compare's JSON, made by the same Rust
// code, or CSV), the accuracy table and the captions with their CLIPScores (the captions as
// glimpse caption prints them: {"<image stem>": "caption"}), as files or on the clipboard.

import { showBanner } from './banner.js';
import { $, download } from './dom.js';
import { call } from './rpc.js';
import { fewshotReport, shownMethod, shownProbs } from './fewshot.js';
import { state } from './state.js';
import { accuracyRows } from './zeroshot.js';

/** One CSV field: quoted when it holds a comma, quote or line break (RFC 4180). */
function field(v) {
  const s = v === null || v === undefined ? '' : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** CSV text of a header and rows. */
export function csv(header, rows) {
  return [header, ...rows].map((r) => r.map(field).join(',')).join('\r\n') + '\r\n';
}

const scored = () => state.photos.filter((p) => p.probs);
const captioned = () => state.photos.filter((p) => p.caption);
/** The image's stem, as glimpse caption keys its output (the file name without extension). */
const stem = (path) => path.split('/').pop().replace(/\.[^.]*$/, '');

/** Accuracy of each template row (null where no photo has a known label), in template order. */
function perTemplate() {
  const rows = state.accuracy || [];
  return state.templates.map((_, i) => (rows[i] ? rows[i].right / rows[i].n : null));
}

const EXPORTS = {
  // The predictions shown: zero-shot as `glimpse classify --compare` prints them; with a few-shot
  // method chosen, its predictions of the test photos as `glimpse fewshot` prints them (the
  // training photos left out); with a loaded classifier, as `glimpse classify --head` does.
  async predictions(format) {
    const method = shownMethod();
    const photos = scored().filter((p) => (method === 'tip' || method === 'probe' ? p.split !== 'train' : true) && shownProbs(p));
    const probsOf = (p) => shownProbs(p);
    if (format === 'json') {
      const n = state.labels.length;
      const probs = new Float32Array(photos.length * n);
      photos.forEach((p, i) => probs.set(probsOf(p), i * n));
      const args = {
        templates: state.templates,
        labels: state.labels,
        images: photos.map((p) => p.path),
        probs,
        truth: Int32Array.from(photos, (p) => p.truth ?? -1),
        topK: Number($('topk').value),
        perTemplate: perTemplate(),
      };
      const text = await call('classifyReport', args);
      if (method === 'zero_shot') return `${text}\n`;
      const out = JSON.parse(text);
      if (method === 'head') {
        const h = state.fewshot.head;
        out.head = { method: h.info.method, file: h.name, shots: h.info.shots };
        delete out.per_template;
      } else {
        const few = fewshotReport();
        Object.assign(out, { zero_shot_accuracy: few.zero_shot_accuracy, fewshot: { ...few.fewshot, method }, per_template: few.per_template });
      }
      return `${JSON.stringify(out, null, 2)}\n`;
    }
    const header = ['image', 'truth', 'method', 'prediction', 'probability', ...state.labels];
    return csv(
      header,
      photos.map((p) => {
        const pr = probsOf(p);
        const best = [...pr.keys()].reduce((a, b) => (pr[b] > pr[a] ? b : a), 0);
        return [p.path, p.truth === null ? '' : state.labels[p.truth], method, state.labels[best], pr[best], ...pr];
      }),
    );
  },
  // The table as shown: zero-shot rows, and with a current few-shot fit its rows (on the test photos).
  async accuracy(format) {
    const rows = accuracyRows().map((r) => ({ template: r.template, method: r.method, shots: r.shots, accuracy: r.accuracy, right: r.right, n: r.n }));
    if (format === 'json') return `${JSON.stringify(rows, null, 2)}\n`;
    return csv(['template', 'method', 'shots', 'accuracy', 'right', 'n'], rows.map((r) => [r.template, r.method, r.shots, r.accuracy, r.right, r.n]));
  },
  // glimpse fewshot's fields for the fit shown: per-template rows, each method's fit, confusion.
  async fewshot() {
    const report = fewshotReport();
    if (!report) throw new Error('nothing fitted yet');
    return `${JSON.stringify(report, null, 2)}\n`;
  },
  async captions(format) {
    const photos = captioned();
    if (format === 'json') return `${JSON.stringify(Object.fromEntries(photos.map((p) => [stem(p.path), p.caption.text])), null, 2)}\n`;
    const prefix = $('prefix').checked ? 'A photo depicts ' : '';
    return csv(
      ['image', 'caption', 'edited_caption', 'clipscore', 'cosine', 'clipscore_prefix'],
      photos.map((p) => [p.path, p.caption.text, p.scoredText !== p.caption.text ? p.scoredText : '', p.score, p.cosine, prefix]),
    );
  },
};

const TYPES = { json: 'application/json', csv: 'text/csv' };

/**
 * The text of an export: `what` one of predictions, accuracy, fewshot (JSON only), captions;
 * `format` json or csv.
 * @param {string} what
 * @param {string} format
 */
export function exportText(what, format) {
  return EXPORTS[what](format);
}

/** Wires the export buttons: data-what and data-format, and data-copy for the clipboard. */
export function initExport() {
  for (const b of document.querySelectorAll('#export button[data-what]')) {
    b.onclick = async () => {
      const { what, format } = b.dataset;
      try {
        const text = await exportText(what, format);
        if (b.dataset.copy !== undefined) {
          await navigator.clipboard.writeText(text);
          b.dataset.copied = '1';
          setTimeout(() => delete b.dataset.copied, 1500);
        } else download(`glimpse-${what}.${format}`, new Blob([text], { type: TYPES[format] }));
      } catch (e) {
        showBanner(`Could not export the ${what}: ${e.message}`);
      }
    };
  }
  renderExport();
}

/** Enables the buttons of what there is to export. */
export function renderExport() {
  const have = { predictions: scored().length > 0, accuracy: (state.accuracy || []).length > 0, captions: captioned().length > 0, fewshot: Boolean(fewshotReport()) };
  for (const b of document.querySelectorAll('#export button[data-what]')) b.disabled = !have[b.dataset.what];
}
