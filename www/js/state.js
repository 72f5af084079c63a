// The page's state. Everything shown is rendered from it; the browser suite reads it through
// window.glimpse.state.

/**
 * A model's state.
 * @typedef {object} ModelState
 * @property {'none'|'confirm'|'loading'|'ready'|'failed'} phase ('confirm': waiting for the
 *   user's go-ahead to a large download)
 * @property {object|null} spec what was (or is being) loaded: the worker's load spec
 * @property {string[]} files the names of the files the user picked for it
 * @property {number} bytes weight bytes loaded
 * @property {number} fromNetwork bytes downloaded for it
 * @property {number} fromCache bytes taken from the browser cache
 * @property {{kind: string, message: string}|null} error why it failed
 * @property {object|null} defaults the captioner's decoding defaults ({beams, maxTokens, lengthPenalty, noRepeatNgram})
 */

/** @returns {ModelState} */
export function noModel() {
  return { phase: 'none', spec: null, files: [], bytes: 0, fromNetwork: 0, fromCache: 0, error: null, defaults: null };
}

/**
 * A photo: {id, name, path, file, url, card, embed (Float32Array), truth (label index or null),
 * probs (Float32Array), caption ({tokens, text, words, grid, attention, seen, size}),
 * captionOptions (what was asked of the captioner), heat (Map of attention maps), score,
 * scoredText, error, captionError, split ('train': a few-shot training photo)}.
 */
export const state = {
  ready: false, // the engine is started
  startError: null, // why it could not start (the status line says it)
  adapter: null, // what the worker's init said
  restarts: 0, // engines started again after one died
  clip: noModel(),
  captioner: noModel(),
  photos: [],
  labels: [],
  labelsFromFile: null, // the text of a loaded id2label.json (its ids give the true labels)
  labelsGiven: false, // the labels are the user's (typed or loaded), not the built-in examples
  templates: [],
  textCache: new Map(), // prompt -> Float32Array, for the CLIP model loaded
  scale: null, // the CLIP model's logit scale
  accuracy: null, // [{template (text), right, n}]
  timings: {},
  hover: null, // {photo, word} shown in an overlay
  // Few-shot (fewshot.js): the fit shown ({signature, report, probs, heads, ...}) or null, a
  // loaded classifier ({name, bytes, info, probs}) or null, the method predictions use
  // ('zero_shot', 'tip', 'probe', 'head'), the fit running (a promise) and its progress.
  fewshot: { result: null, head: null, method: 'zero_shot', chosen: false, auto: false, fitting: null, again: false, progress: null, error: null, pickedWith: null },
};

/** Whether a model is loaded and usable. */
export const isReady = (m) => m.phase === 'ready';

/** Adds `seconds` to the running time of `what` (`embed`, `text`, `caption`). */
export function addTiming(what, seconds) {
  state.timings[what] = (state.timings[what] || 0) + seconds;
  state.timings[`${what}N`] = (state.timings[`${what}N`] || 0) + 1;
}
