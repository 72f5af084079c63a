// Calls into the worker (worker.js), and its restart when the engine dies: a panic or an
// allocation failure in wasm poisons its instance, so a fresh worker (a fresh wasm engine) takes
// its place, started on the backend the first one chose.

/** An error from the worker: `kind` is what the page reacts to (see worker.js). */
export class EngineError extends Error {
  /**
   * @param {string} message
   * @param {string} kind
   * @param {number} [status] the HTTP status of kind 'http'
   */
  constructor(message, kind, status = undefined) {
    super(message);
    this.name = 'EngineError';
    this.kind = kind;
    if (status !== undefined) this.status = status;
  }
}

let worker = null;
let nextId = 1;
const waiting = new Map(); // id -> {resolve, reject, timed, onProgress, onStep}
let initArgs = null;
const restartListeners = [];
const failureListeners = [];

function startWorker() {
  worker = new Worker(new URL('../worker.js', import.meta.url), { type: 'module' });
  worker.onmessage = (ev) => {
    const m = ev.data;
    const w = waiting.get(m.id);
    if (!w) return;
    if (m.type === 'progress') {
      w.onProgress?.(m);
      return;
    }
    if (m.type === 'step') {
      w.onStep?.(m);
      return;
    }
    waiting.delete(m.id);
    if (m.ok) {
      w.resolve(w.timed ? { result: m.result, seconds: m.ms / 1000 } : m.result);
      return;
    }
    const err = new EngineError(m.error.message, m.error.kind, m.error.status);
    if (err.kind === 'crashed') restart(err);
    w.reject(err);
  };
  worker.onerror = (e) => {
    for (const fn of failureListeners) fn(e.message || 'could not start (is pkg/ built?)');
  };
}

function restart(err) {
  worker.terminate();
  for (const [id, w] of waiting) {
    waiting.delete(id);
    w.reject(new EngineError(err.message, 'crashed'));
  }
  startWorker();
  // `init` goes first into the fresh worker, before any call made in reaction to the crash.
  const ready = call('init', initArgs);
  for (const fn of restartListeners) fn(err, ready);
}

/**
 * Calls `op` in the worker.
 * @param {string} op
 * @param {object} [args]
 * @param {{onProgress?: (m: object) => void, onStep?: (m: object) => void, onId?: (id: number) => void,
 *   transfer?: Transferable[], timed?: boolean}} [how]
 *   `timed`: resolve to {result, seconds} (the time the worker spent on it, not counting the
 *   wait behind earlier requests); `onStep`: a caption's steps ({text, tokens}); `onId`: the
 *   request's id (what `cancel` takes)
 */
export function call(op, args = {}, { onProgress = null, onStep = null, onId = null, transfer = [], timed = false } = {}) {
  const id = nextId++;
  onId?.(id);
  if (!worker) startWorker(); // a call before startEngine: answered once init has loaded the module
  return new Promise((resolve, reject) => {
    waiting.set(id, { resolve, reject, timed, onProgress, onStep });
    worker.postMessage({ id, op, args }, transfer);
  });
}

/** Stops the captions of requests `ids` at their next step (they fail with kind 'cancelled'). */
export function cancel(ids) {
  return call('cancel', { ids });
}

/** `call`, resolving to {result, seconds}. */
export function timedCall(op, args, transfer = []) {
  return call(op, args, { transfer, timed: true });
}

/**
 * Starts the worker and its engine on `backend`; resolves to what init says (the adapter, the
 * wasm build and its threads).
 * @param {'auto'|'webgpu'|'cpu'} backend
 * @param {number} threads the CPU threads wanted
 */
export function startEngine(backend, threads) {
  initArgs = { backend, threads };
  if (!worker) startWorker();
  return call('init', initArgs).then((info) => {
    if (info.backend) initArgs = { backend: info.backend, threads }; // a restart keeps the choice made
    return info;
  });
}

/** `fn(error, ready)` after a dead engine was replaced; `ready` resolves when the new one is started. */
export function onRestart(fn) {
  restartListeners.push(fn);
}

/** `fn(message)` when the worker itself fails (its script could not load). */
export function onWorkerFailure(fn) {
  failureListeners.push(fn);
}
