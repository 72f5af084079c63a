// Captions: the decoding options (those the user set; the rest are the checkpoint's own defaults,
// resolved in Rust), captioning the photos, their word chips, and CLIPScore of each caption.

import { setError } from './cards.js';
import { $, el } from './dom.js';
import { photoBytes, textEmbeds } from './embeddings.js';
import { describe } from './errors.js';
import { drawOverlay, prefetchHeat, renderLayerChoice } from './overlay.js';
import { call, timedCall } from './rpc.js';
import { addTiming, isReady, state } from './state.js';
import { renderStatus } from './status.js';
import { embedAll } from './zeroshot.js';

// The decoding fields: element id, option name, and how the field's text becomes its value.
const FIELDS = [
  ['beams', 'beams', Number],
  ['max-tokens', 'maxTokens', Number],
  ['length-penalty', 'lengthPenalty', Number],
  ['no-repeat-ngram', 'noRepeatNgram', Number],
];

/** The caption options the user set (a field they touched); absent ones take the model's defaults. */
export function captionOptions() {
  const options = {};
  for (const [id, name, parse] of FIELDS) {
    const v = $(id).value.trim();
    if ($(id).dataset.touched && v !== '') options[name] = parse(v);
  }
  return options;
}

/**
 * Shows a captioner's decoding defaults in the fields the user has not touched.
 * @param {{beams: number, maxTokens: number, lengthPenalty: number, noRepeatNgram: number}} defaults
 */
export function showDefaults(defaults) {
  if (!defaults) return;
  for (const [id, name] of FIELDS) {
    const field = $(id);
    if (field.dataset.touched || defaults[name] === undefined) continue;
    const v = String(defaults[name]);
    if (field instanceof HTMLSelectElement && ![...field.options].some((o) => o.value === v)) field.append(new Option(v, v));
    field.value = v;
  }
}

let captioning = null;

/** Captions every photo without a caption, one at a time. */
export function captionAll() {
  if (captioning || !isReady(state.captioner)) return captioning;
  captioning = (async () => {
    for (;;) {
      const ph = state.photos.find((p) => !p.caption && !p.captionError && !p.error);
      if (!ph || !isReady(state.captioner)) break;
      try {
        const bytes = await photoBytes(ph);
        const options = captionOptions();
        const r = await timedCall('caption', { bytes, name: ph.path, options }, [bytes.buffer]);
        ph.caption = r.result;
        ph.captionOptions = options;
        ph.heat = new Map();
        addTiming('caption', r.seconds);
        renderCaption(ph);
        renderStatus();
        await prefetchHeat(ph).catch(() => {});
        await rescoreCaption(ph, ph.caption.text);
      } catch (e) {
        ph.captionError = describe(e);
        setError(ph, ph.captionError);
      }
    }
  })().finally(() => (captioning = null));
  return captioning;
}

/** The caption's word chips (hover or focus one to see its attention) and its editor. */
export function renderCaption(ph) {
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

/**
 * CLIPScore of `text` for a photo (with the CLIP model loaded; none without).
 * @param {object} ph
 * @param {string} text
 */
export async function rescoreCaption(ph, text) {
  if (!isReady(state.clip)) {
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

/** CLIPScore of every caption shown (the edited text where edited). */
export async function rescoreCaptions() {
  for (const ph of state.photos.filter((p) => p.caption)) await rescoreCaption(ph, ph.card.edit.value);
}

/** Wires the decoding fields (a field the user changes is theirs from then on) and the prefix choice. */
export function initCaptions() {
  for (const [id] of FIELDS) for (const ev of ['input', 'change']) $(id).addEventListener(ev, () => ($(id).dataset.touched = '1'));
  $('prefix').onchange = () => rescoreCaptions().catch(() => {});
}
