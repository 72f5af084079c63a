// Search: the gallery ranked by the similarity of each photo to a typed text.

import { $ } from './dom.js';
import { textEmbeds } from './embeddings.js';
import { isReady, state } from './state.js';

// Cosine similarity of normalised embeddings.
const dot = (a, b) => a.reduce((s, v, i) => s + v * b[i], 0);

async function search() {
  const q = $('search-box').value.trim();
  const gallery = $('gallery');
  if (!q || !isReady(state.clip)) {
    for (const ph of state.photos) {
      ph.card.search.textContent = '';
      gallery.append(ph.card.root);
    }
    return;
  }
  const [t] = await textEmbeds([q]);
  const scored = state.photos.map((ph) => ({ ph, s: ph.embed ? dot(ph.embed, t) : -Infinity }));
  scored.sort((a, b) => b.s - a.s);
  for (const { ph, s } of scored) {
    ph.card.search.textContent = Number.isFinite(s) ? ` · similarity ${s.toFixed(3)}` : '';
    gallery.append(ph.card.root);
  }
}

export function initSearch() {
  let timer = null;
  $('search-box').addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => search().catch(() => {}), 200);
  });
}
