// A photo's card in the gallery: the image (or the overlay canvas), its name, true label and
// search similarity, the top predictions, the caption's word chips, the caption editor, the
// CLIPScore, and an error line.

import { el } from './dom.js';

/**
 * Builds the card of `ph` (stored as `ph.card`, and returned).
 * @param {object} ph the photo
 * @param {(text: string) => void} onEdit called (debounced) with an edited caption
 */
export function makeCard(ph, onEdit) {
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
  title.append(el('span', 'file', ph.path), truth, search);
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
    timer = setTimeout(() => onEdit(edit.value), 150);
  });
  ph.card = { root, img, canvas, truth, search, top, chips, edit, score, error };
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
