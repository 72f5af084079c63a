// A photo's card in the gallery: the image (or the overlay canvas), its name, true label, search
// similarity and few-shot role (train / test), what is being done for it (queued, computing, waiting for a model), the top
// predictions, the caption's word chips, the caption editor, the CLIPScore, and an error line.

import { el } from './dom.js';
import { state } from './state.js';

/**
 * Builds the card of `ph` (stored as `ph.card`, and returned).
 * @param {object} ph the photo
 * @param {(text: string) => void} onEdit called (debounced) with an edited caption
 * @param {() => void} onSplit called when its few-shot button (train / test) is pressed
 */
export function makeCard(ph, onEdit, onSplit) {
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
  const truth = el('span', 'truth');
  const search = el('span', 'sim');
  const split = el('button', 'split', 'use to train');
  split.type = 'button';
  split.hidden = true;
  split.setAttribute('aria-pressed', 'false');
  split.onclick = onSplit;
  title.append(el('span', 'file', ph.path), truth, search, split);
  const top = el('ol', 'top');
  const cap = el('div', 'caption');
  const chips = el('div', 'chips');
  const edit = el('input', 'edit');
  edit.type = 'text';
  edit.setAttribute('aria-label', `caption of ${ph.name} (edit to re-score)`);
  edit.hidden = true;
  const score = el('span', 'score');
  const scale = el('div', 'scale');
  scale.hidden = true;
  scale.title = "each word's map is scaled from its own least to its most attended patch";
  scale.append(el('span', '', 'hover a word: attention low'), el('span', 'ramp'), el('span', '', 'high'));
  const figure = el('button', 'figure', 'attention figure (PNG)');
  figure.type = 'button';
  figure.hidden = true;
  figure.title = "the image, then each word's attention over it: the seed report's section 2.2 figure (glimpse caption --attention-dir draws the same)";
  cap.append(chips, scale, edit, score, figure);
  const error = el('p', 'error');
  error.setAttribute('role', 'alert');
  const work = el('p', 'work');
  root.append(media, title, work, top, cap, error);
  let timer = null;
  edit.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => onEdit(edit.value), 150);
  });
  ph.card = { root, img, canvas, truth, search, split, work, top, chips, scale, edit, score, figure, error };
  return ph.card;
}

/**
 * Shows (or, with a null message, clears) a photo's error.
 * @param {object} ph
 * @param {string|null} message
 */
export function setError(ph, message) {
  ph.error = message;
  ph.card.error.textContent = message || '';
  ph.card.root.classList.toggle('bad', Boolean(message));
}

// What the card says while CLIP is not there to embed it.
const CLIP_WAIT = {
  none: 'no CLIP loaded (Load CLIP above adds zero-shot and CLIPScore)',
  confirm: 'waiting for CLIP: confirm its download above',
  loading: 'waiting for CLIP to load',
  failed: 'CLIP did not load: see the message above',
};

/**
 * What is being done for a photo: `[phase, text]`, phase one of 'waiting', 'queued',
 * 'computing', 'done' (its data-work attribute, for styles and tests).
 */
export function workOf(ph) {
  if (ph.error) return ['done', ''];
  const parts = [];
  const phases = [];
  const add = (phase, text) => {
    phases.push(phase);
    parts.push(text);
  };
  if (!ph.embed) {
    if (state.clip.phase !== 'ready') add('waiting', CLIP_WAIT[state.clip.phase]);
    else add(ph.embedding ? 'computing' : 'queued', ph.embedding ? 'embedding…' : 'queued for CLIP');
  }
  const cap = state.captioner.phase;
  if (ph.captionPhase === 'captioning') add('computing', ph.recaption ? 'captioning again…' : 'captioning…');
  else if (!ph.captionError && (!ph.caption || ph.recaption) && cap !== 'none') {
    if (cap === 'ready') add('queued', 'caption queued');
    else add('waiting', cap === 'failed' ? 'the captioner did not load' : 'waiting for the captioner');
  }
  // The most active part names the card's phase.
  const phase = ['computing', 'queued', 'waiting'].find((p) => phases.includes(p)) || 'done';
  return [phase, parts.join(' · ')];
}

/** Renders what is being done for a photo. */
export function renderCardState(ph) {
  const [phase, text] = workOf(ph);
  ph.card.work.textContent = text;
  ph.card.root.dataset.work = phase;
}
