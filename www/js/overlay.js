// Attention overlays: while a word of the caption is hovered or focused, the image the encoder
// saw (the thumbnail's own centre crop) over the photo, and over it where the decoder looked when
// it wrote that word; otherwise the photo itself. The heat maps (CLS
// skipped, min-max scaled, viridis) come from Rust (attentionHeat); they are kept per photo,
// word and layer, and fetched for every word as soon as a caption arrives, so that hovering
// draws at once.

import { $ } from './dom.js';
import { call } from './rpc.js';
import { state } from './state.js';

/** The layer chosen: an index, or -1 for the mean over layers. */
function chosenLayer() {
  const v = $('layer').value;
  return v === 'mean' ? -1 : Number(v);
}

/**
 * The attention rows (`[layer][src]`) of chip `i` of a caption: its token's, or the mean over
 * the tokens of a character split across several.
 */
export function chipAttention(cap, i) {
  const { start, end } = cap.chips[i];
  if (end - start === 1) return cap.attention[start];
  const rows = cap.attention.slice(start, end);
  return rows[0].map((layer, l) => layer.map((_, j) => rows.reduce((sum, r) => sum + r[l][j], 0) / rows.length));
}

// The heat map of chip `word` at `layer`: {rgba (once there), promise}.
function heat(ph, word, layer) {
  ph.heat ??= new Map();
  const key = `${layer}:${word}`;
  let entry = ph.heat.get(key);
  if (!entry) {
    const [rows, cols] = ph.caption.grid;
    entry = { rgba: null, promise: null };
    entry.promise = call('attentionHeat', { attention: chipAttention(ph.caption, word), rows, cols, layer }).then(
      (rgba) => (entry.rgba = rgba),
      () => ph.heat.delete(key), // asked again next time
    );
    ph.heat.set(key, entry);
  }
  return entry;
}

/** Fetches the heat maps of every word of a photo's caption at the layer chosen. */
export async function prefetchHeat(ph) {
  const layer = chosenLayer();
  await Promise.all(ph.caption.chips.map((_, i) => heat(ph, i, layer).promise));
}

function paintHeat(ph, rgba) {
  const [rows, cols] = ph.caption.grid;
  const small = document.createElement('canvas');
  small.width = cols;
  small.height = rows;
  small.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(rgba.buffer, rgba.byteOffset, rgba.byteLength), cols, rows), 0, 0);
  const ctx = ph.card.canvas.getContext('2d');
  const size = ph.caption.size;
  ctx.globalAlpha = Number($('opacity').value);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(small, 0, 0, size, size);
  ctx.globalAlpha = 1;
}

/**
 * Draws a photo's overlay: the image seen, and the heat map of `word` (an index, or null for
 * none). The canvas's data-word says which word's map is drawn ('' for none).
 * @param {object} ph
 * @param {number|null} word
 */
export function drawOverlay(ph, word) {
  const cap = ph.caption;
  const c = ph.card;
  const canvas = c.canvas;
  ph.overlayWord = word;
  canvas.width = cap.size;
  canvas.height = cap.size;
  canvas.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(cap.seen), cap.size, cap.size), 0, 0);
  canvas.dataset.word = '';
  canvas.hidden = word === null;
  for (const b of c.chips.children) b.classList.toggle('active', Number(b.dataset.index) === word);
  if (word === null || !cap.chips[word] || !cap.attention[cap.chips[word].start]) return;
  const layer = chosenLayer();
  const entry = heat(ph, word, layer);
  if (!entry.rgba) {
    // Drawn when it arrives, if the word and layer are still the ones wanted.
    entry.promise.then(() => entry.rgba && ph.overlayWord === word && chosenLayer() === layer && drawOverlay(ph, word));
    return;
  }
  paintHeat(ph, entry.rgba);
  canvas.dataset.word = String(word);
  state.hover = { photo: ph.name, word };
}

/** The layer list: the mean, then each layer of the captions shown. */
export function renderLayerChoice() {
  const sel = $('layer');
  const c = state.photos.find((p) => p.caption && p.caption.attention.length);
  const n = c ? c.caption.attention[0].length : 0;
  if (sel.options.length === n + 1) return;
  const v = sel.value;
  sel.replaceChildren(new Option('mean over layers', 'mean'), ...Array.from({ length: n }, (_, i) => new Option(`layer ${i + 1}`, String(i))));
  sel.value = [...sel.options].some((o) => o.value === v) ? v : 'mean';
}

/** Redraws every overlay with its active word (after a change of layer or opacity). */
export function initOverlays() {
  $('layer').onchange = $('opacity').oninput = () => {
    for (const ph of state.photos) if (ph.caption) drawOverlay(ph, ph.overlayWord ?? null);
  };
}
