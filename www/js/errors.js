// What the page says about an error, by its kind (see worker.js), never by its text.

import { state } from './state.js';

/**
 * The advice that follows an error's message, or ''.
 * @param {{kind?: string}} e
 */
export function advice(e) {
  switch (e.kind) {
    case 'network':
      return 'Check the connection (or that the server allows this page to read the files), then retry.';
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

/** The message of `e` followed by its advice. */
export function describe(e) {
  const a = advice(e);
  return a ? `${e.message.replace(/[.\s]+$/, '')}. ${a}` : e.message;
}
