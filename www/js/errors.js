// What the page says about an error and which next steps it offers, by the error's kind (and
// HTTP status), never by its text.

import { state } from './state.js';

/** HTTP statuses worth retrying: the server may answer later. */
const TRANSIENT = new Set([408, 425, 429, 500, 502, 503, 504]);

/** Whether trying again may help: no answer came, or the server's error is passing. */
export function retryable(e) {
  return e.kind === 'network' || (e.kind === 'http' && TRANSIENT.has(e.status));
}

/**
 * The advice that follows an error's message, or ''.
 * @param {{kind?: string, status?: number}} e
 * @param {'model'|'image'} [about] what failed: a model's files, or a photo
 */
export function advice(e, about = 'model') {
  if (about === 'image' && e.kind === 'invalid-file') return 'The file is damaged or not an image: open it elsewhere, or save it again as PNG or JPEG.';
  switch (e.kind) {
    case 'network':
      return 'The server could not be reached: check the connection (or that the server allows this page to read its files), then retry. Models in a local folder need no network (README, "Local and offline models").';
    case 'http':
      if (e.status === 401 || e.status === 403)
        return 'The server refused: the repository may be private or gated (accept its terms on the hub), or the URL may be wrong.';
      if (TRANSIENT.has(e.status)) return 'The server is busy or failing: retry in a moment.';
      return 'Check the URL: it should be the folder that holds config.json and the weights.';
    case 'not-found':
      return 'Check the URL: it should be the folder that holds config.json and the weights (on the hub: https://huggingface.co/OWNER/NAME/resolve/main/).';
    case 'invalid-file':
      return 'The file is damaged, incomplete, or belongs to another model: download it again or pick another model.';
    case 'unsupported':
      return 'glimpse cannot read this format: save the model as safetensors (README, "Real weights").';
    case 'out-of-memory':
      return state.adapter?.backend === 'webgpu'
        ? 'Try a smaller model (ViT-B/32, distilvit), close other tabs, or run on the CPU (?backend=cpu).'
        : 'Try a smaller model (ViT-B/32, distilvit), or close other tabs.';
    case 'device':
      return 'The GPU failed; ?backend=cpu runs on the CPU instead.';
    default:
      return '';
  }
}

/**
 * The message of `e` followed by its advice.
 * @param {{kind?: string, status?: number, message: string}} e
 * @param {'model'|'image'} [about]
 */
export function describe(e, about = 'model') {
  const a = advice(e, about);
  return a ? `${e.message.replace(/[.\s]+$/, '')}. ${a}` : e.message;
}
