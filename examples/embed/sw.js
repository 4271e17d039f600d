// The example's service worker: after one visit the site and the classifier work offline, at any
// path. It precaches the site and the package files a CPU classifier needs, then answers from the
// network when there is one (so a new build shows at once) and from its cache when there is not;
// what it fetched (a model by URL, the WebGPU build) is kept for the next offline visit.
const CACHE = "embed-example";
const PACKAGE = "./node_modules/browser-finetune-classifier/";
const FILES = [
  "./", "./app.js", "./style.css",
  `${PACKAGE}classifier.js`, `${PACKAGE}classifier-worker.js`,
  `${PACKAGE}inference/browser_finetune.js`, `${PACKAGE}inference/browser_finetune_bg.wasm`,
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(FILES)));
});

self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("fetch", (event) => {
  const { request } = event;
  if (request.method !== "GET" || !request.url.startsWith(self.registration.scope)) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const response = await fetch(request);
      if (response.ok) await cache.put(request, response.clone());
      return response;
    } catch (err) {
      const cached = await cache.match(request, { ignoreSearch: true });
      if (cached) return cached;
      throw err;
    }
  })());
});
