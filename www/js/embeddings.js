// CLIP embeddings of the photos and of texts, kept in the state (texts by prompt) so that
// re-scoring never embeds anything twice.

import { renderCardState, setError } from './cards.js';
import { describe } from './errors.js';
import { timedCall } from './rpc.js';
import { addTiming, isReady, state } from './state.js';
import { renderStatus } from './status.js';

/** The bytes of a photo's file. */
export async function photoBytes(ph) {
  return new Uint8Array(await ph.file.arrayBuffer());
}

/**
 * Normalised text embeddings of `prompts` (Float32Array each), from the cache or one worker call.
 * @param {string[]} prompts
 */
export async function textEmbeds(prompts) {
  const missing = [...new Set(prompts.filter((p) => !state.textCache.has(p)))];
  if (missing.length) {
    const { result: flat, seconds } = await timedCall('embedTexts', { texts: missing });
    addTiming('text', seconds);
    const dim = flat.length / missing.length;
    missing.forEach((p, i) => state.textCache.set(p, flat.slice(i * dim, (i + 1) * dim)));
  }
  return prompts.map((p) => state.textCache.get(p));
}

/**
 * Rows of equal length, concatenated.
 * @param {Float32Array[]} rows
 */
export function concat(rows) {
  const dim = rows[0].length;
  const out = new Float32Array(rows.length * dim);
  rows.forEach((r, i) => out.set(r, i * dim));
  return out;
}

let embedding = null;

/**
 * Embeds every photo that has no embedding yet (one at a time; a bad image gets its error on its
 * card), calling `onEach()` after each new embedding (the page scores photos as they come).
 * Resolves to whether any photo got a new embedding.
 * @param {() => void} [onEach]
 */
export function embedPhotos(onEach = () => {}) {
  if (embedding) return embedding;
  embedding = (async () => {
    if (!isReady(state.clip)) return false;
    let any = false;
    for (;;) {
      const ph = state.photos.find((p) => !p.embed && !p.error);
      if (!ph || !isReady(state.clip)) break;
      ph.embedding = true;
      renderCardState(ph);
      try {
        const bytes = await photoBytes(ph);
        const r = await timedCall('embedImage', { bytes, name: ph.path }, [bytes.buffer]);
        ph.embed = r.result;
        addTiming('embed', r.seconds);
        any = true;
        onEach();
      } catch (e) {
        setError(ph, describe(e, 'image'));
      } finally {
        ph.embedding = false;
        renderCardState(ph);
      }
    }
    renderStatus();
    return any;
  })().finally(() => (embedding = null));
  return embedding;
}
