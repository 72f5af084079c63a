// Cross-origin isolation where the server cannot send the headers (GitHub Pages), for the
// threaded CPU build (WebAssembly threads need SharedArrayBuffer, which needs
// `crossOriginIsolated`). A small service worker of this site's own (../coi-sw.js) adds
// COOP/COEP to its pages and worker scripts, which takes one reload on the first visit. It
// leaves every other request alone: model downloads from the hub go straight to the network.
//
// `isolation` resolves to what happened ('isolated', 'off' when not needed or not possible,
// 'failed') once the page may start its engine; while a reload is pending it never resolves, so
// nothing is started (or downloaded) only to be cut short. app.js imports this module first.
//
// Only done when more than one CPU thread is wanted (threadsParam) and WebGPU is not forced
// (threads serve only the CPU path); skipped with ?isolation=off and where the browser has no
// service workers (an insecure origin, a private window in some browsers): the page then runs
// on one thread, and says why.

import { backendParam, params, threadsParam } from './params.js';

export const isolation = (async () => {
  const KEY = 'glimpse-isolation-reload';
  if (window.crossOriginIsolated) {
    try {
      sessionStorage.removeItem(KEY);
    } catch {} // storage may be off; only the reload guard lives there
    return 'isolated';
  }
  if (params.get('isolation') === 'off' || threadsParam() <= 1 || backendParam() === 'webgpu') return 'off';
  if (!window.isSecureContext || !('serviceWorker' in navigator)) return 'off';
  try {
    await navigator.serviceWorker.register(new URL('../coi-sw.js', import.meta.url));
    if (sessionStorage.getItem(KEY)) {
      // Reloaded once already and still not isolated: this browser does not take the headers
      // from a service worker. One thread, and no reload loop.
      sessionStorage.removeItem(KEY);
      return 'failed';
    }
    // Once the worker is active, the next load of this page goes through it.
    const active = await Promise.race([navigator.serviceWorker.ready.then(() => true), new Promise((done) => setTimeout(() => done(false), 10000))]);
    if (!active) return 'failed';
    sessionStorage.setItem(KEY, '1');
    location.reload();
    return new Promise(() => {}); // the reload takes over
  } catch (e) {
    console.warn(`glimpse: no cross-origin isolation (${e && e.message ? e.message : e}); the CPU runs on one thread`);
    return 'failed';
  }
})();
