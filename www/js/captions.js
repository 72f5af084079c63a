// Captions: the decoding options (those the user set; the rest are the checkpoint's own defaults,
// resolved in Rust), captioning the photos, their word chips, and CLIPScore of each caption.

import { renderCardState, setError } from './cards.js';
import { $, download, el } from './dom.js';
import { photoBytes, textEmbeds } from './embeddings.js';
import { describe } from './errors.js';
import { renderCaptionButton } from './models.js';
import { drawOverlay, prefetchHeat, renderLayerChoice } from './overlay.js';
import { call, cancel } from './rpc.js';
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
let current = null; // the caption being made: {ph, id, options}

/** Whether two sets of caption options ask for the same decoding. */
const same = (a, b) => JSON.stringify(a ?? {}) === JSON.stringify(b ?? {});

/** Whether a photo waits for a caption: none yet, or one the user asked to redo. */
export function wantsCaption(ph) {
  return !ph.error && !ph.captionError && (!ph.caption || ph.recaption);
}

/** Photos captioned with other decoding settings than the fields now say. */
export function staleCaptions() {
  const options = captionOptions();
  return state.photos.filter((p) => p.caption && !p.recaption && !same(p.captionOptions, options));
}

/**
 * Captions every photo that wants one, one at a time, streaming each caption's words onto its
 * card. The worker runs zero-shot, search and loads ahead of it, between decoding steps.
 */
export function captionAll() {
  if (captioning || !isReady(state.captioner)) return captioning;
  captioning = (async () => {
    for (;;) {
      const ph = state.photos.find(wantsCaption);
      if (!ph || !isReady(state.captioner)) break;
      const options = captionOptions();
      ph.captionPhase = 'captioning';
      renderCardState(ph);
      try {
        const bytes = await photoBytes(ph);
        const r = await call('caption', { bytes, name: ph.path, options }, {
          transfer: [bytes.buffer],
          timed: true,
          onId: (id) => (current = { ph, id, options }),
          onStep: (m) => showPartial(ph, m),
        });
        ph.caption = r.result;
        ph.captionedAt = performance.now();
        ph.captionOptions = options;
        ph.recaption = false;
        ph.heat = new Map();
        addTiming('caption', r.seconds);
        renderCaption(ph);
        renderStatus();
        await prefetchHeat(ph).catch(() => {});
        await rescoreCaption(ph, ph.caption.text);
      } catch (e) {
        if (e.kind !== 'cancelled') {
          ph.captionError = describe(e, 'image');
          setError(ph, ph.captionError);
        } else if (ph.caption) renderCaption(ph); // the caption it had stays
      } finally {
        current = null;
        ph.captionPhase = null;
        renderCardState(ph);
      }
    }
  })().finally(() => {
    captioning = null;
    renderCaptionButton();
  });
  return captioning;
}

/** Stops the caption being made (it is made again, with the settings of then, when it is next its turn). */
export function cancelCurrent() {
  if (current) cancel([current.id]).catch(() => {});
}

/** Asks again, with the settings now shown, for the captions made with other ones. */
export function recaptionStale() {
  for (const ph of staleCaptions()) ph.recaption = true;
  return captionAll();
}

// The words so far of a caption being made, on its card.
function showPartial(ph, m) {
  ph.partial = m.text;
  const c = ph.card;
  c.chips.replaceChildren(el('span', 'partial', m.text || '…'));
  c.chips.dataset.streaming = String(m.tokens);
}

/** The caption's word chips (hover or focus one to see its attention) and its editor. */
export function renderCaption(ph) {
  const c = ph.card;
  const cap = ph.caption;
  c.chips.replaceChildren();
  delete c.chips.dataset.streaming;
  cap.chips.forEach(({ text: w }, i) => {
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
  c.scale.hidden = !cap.attention.length;
  c.figure.hidden = !cap.attention.length;
  c.figure.onclick = () => downloadFigure(ph).catch((e) => setError(ph, `Could not draw the figure: ${e.message}`));
  c.edit.hidden = false;
  c.edit.value = cap.text;
  renderLayerChoice();
  drawOverlay(ph, null);
}

/** The PNG bytes of a caption's attention figure (Rust's attentionFigure, as the CLI draws it). */
export function attentionFigure(ph) {
  const cap = ph.caption;
  return call('attentionFigure', { seen: cap.seen, size: cap.size, words: cap.words, attention: cap.attention, grid: cap.grid[0] });
}

async function downloadFigure(ph) {
  const png = await attentionFigure(ph);
  download(`${ph.name.replace(/\.[^.]*$/, '')}_attention.png`, new Blob([png], { type: 'image/png' }));
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
  const { score, cosine } = await call('clipScore', { image: ph.embed, text: t });
  ph.score = score;
  ph.cosine = cosine;
  ph.scoredText = text;
  ph.card.score.textContent = `CLIPScore ${score.toFixed(4)} (cosine ${cosine.toFixed(4)})`;
  ph.card.score.title =
    cosine < 0
      ? 'CLIPScore = 2.5 × max(cosine, 0): this caption and image point apart in CLIP space, so it scores 0.'
      : 'CLIPScore = 2.5 × max(cosine of the image and text embeddings, 0) (Hessel et al. 2021).';
  markExtremes();
}

/** Picks out the photos whose captions score best and worst (two or more scored). */
function markExtremes() {
  const scored = state.photos.filter((p) => p.caption && Number.isFinite(p.cosine));
  for (const p of state.photos) delete p.card.root.dataset.rank;
  if (scored.length < 2) return;
  const by = [...scored].sort((a, b) => b.cosine - a.cosine);
  by[0].card.root.dataset.rank = 'best';
  by[by.length - 1].card.root.dataset.rank = 'worst';
}

/** CLIPScore of every caption shown (the edited text where edited). */
export async function rescoreCaptions() {
  for (const ph of state.photos.filter((p) => p.caption)) await rescoreCaption(ph, ph.card.edit.value);
}

/** Wires the decoding fields (a field the user changes is theirs from then on) and the prefix choice. */
export function initCaptions() {
  for (const [id] of FIELDS) {
    for (const ev of ['input', 'change']) {
      $(id).addEventListener(ev, () => {
        $(id).dataset.touched = '1';
        // A caption being made with the old settings is stopped and made again with the new.
        if (current && !same(current.options, captionOptions())) cancelCurrent();
        renderCaptionButton();
      });
    }
  }
  $('prefix').onchange = () => rescoreCaptions().catch(() => {});
}
