// The service worker of coi.js: answers this site's own page and worker-script requests with
// Cross-Origin-Opener-Policy and Cross-Origin-Embedder-Policy added, which makes the page
// cross-origin isolated (so the threaded CPU build can share memory between its workers).
// Every other request (the wasm, modules, images, and every model download, cross-origin or not)
// is not touched: the browser fetches it as if there were no service worker.

const ISOLATE = new Set(['document', 'worker', 'sharedworker']);

self.addEventListener('install', (event) => {
  // Where the browser has static routing (Chrome 123+), every other request bypasses this worker
  // entirely (not even a fetch event): model downloads run exactly as without it.
  if (event.addRoutes && typeof URLPattern === 'function') {
    const routes = [...ISOLATE].map((d) => ({ condition: { requestDestination: d }, source: 'fetch-event' }));
    event.waitUntil(event.addRoutes([...routes, { condition: { urlPattern: new URLPattern({}) }, source: 'network' }]).catch(() => {}));
  }
  self.skipWaiting();
});
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (!ISOLATE.has(request.destination) || new URL(request.url).origin !== self.location.origin) return;
  event.respondWith(withIsolation(request));
});

async function withIsolation(request) {
  const response = await fetch(request);
  if (response.type === 'opaque' || response.type === 'opaqueredirect' || response.status === 0) return response;
  const headers = new Headers(response.headers);
  headers.set('Cross-Origin-Opener-Policy', 'same-origin');
  headers.set('Cross-Origin-Embedder-Policy', 'require-corp');
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}
