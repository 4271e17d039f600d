// The service worker: after one visit the page and the weights the user loaded work without
// network, at whatever path the site is served from. (The embed example has its own, in its folder.)
//
// sw-manifest.js (written by build.sh with each build) sets self.SHELL = { version, files }: the
// app shell's paths relative to this file, and a version derived from their contents. A new build
// changes that script, so the browser installs this worker again with a new cache; old shell
// caches are removed on activation. Weights stay in the weights cache that the page's worker fills.
importScripts("./sw-manifest.js");

const SHELL_CACHE = `browser-finetune-shell-${self.SHELL.version}`;
const SHELL_PREFIX = "browser-finetune-shell-";
const scoped = (path) => new URL(path, self.registration.scope).href;

// Of the two wasm builds (www/wasm-build.js), the one the registering page runs (?wasm=, set by
// www/offline.js); both when it did not say.
const WASM_BUILDS = { "relaxed-simd": "pkg/browser_finetune_relaxed_bg.wasm", simd128: "pkg/browser_finetune_bg.wasm" };
const build = new URL(location.href).searchParams.get("wasm");
const otherBuilds = build in WASM_BUILDS ? Object.entries(WASM_BUILDS).filter(([name]) => name !== build).map(([, file]) => file) : [];
const shellFiles = self.SHELL.files.filter((file) => !otherBuilds.includes(file));

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL_CACHE).then((cache) => cache.addAll(shellFiles.map(scoped))));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    const names = await caches.keys();
    await Promise.all(names.filter((n) => n.startsWith(SHELL_PREFIX) && n !== SHELL_CACHE).map((n) => caches.delete(n)));
    await self.clients.claim();
  })());
});

/** A folder's URL stands for its index.html, as static servers serve it. */
function shellKey(url) {
  const key = new URL(url);
  if (key.pathname.endsWith("/")) key.pathname += "index.html";
  return key.href;
}

/**
 * `response` with the headers that make the page cross-origin isolated (COOP and COEP), which a
 * static host does not send: isolated, the page's workers may share memory, which training split
 * across them needs (www/shares.js). The app's own pages (the shell's) get them, and every
 * same-origin file, as the page's worker scripts must carry COEP too; other pages in this scope
 * (the embed example, whose own service worker then serves its worker script without COEP) are
 * left as they are. Cross-origin fetches (weights from a hub) are not seen here, and CORS
 * requests pass under COEP.
 */
function isolated(request, response, inShell) {
  if (response.type === "opaque" || response.status === 0) return response;
  if (request.mode === "navigate" && !inShell) return response;
  const headers = new Headers(response.headers);
  headers.set("Cross-Origin-Opener-Policy", "same-origin");
  headers.set("Cross-Origin-Embedder-Policy", "require-corp");
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}

/** The shell from its cache (query strings ignored: `index.html?seed=1` is the page); everything
 * else from the network, falling back to any cache (weights the user loaded) when offline. */
self.addEventListener("fetch", (event) => {
  const { request } = event;
  if (request.method !== "GET" || !request.url.startsWith(self.registration.scope)) return;
  event.respondWith((async () => {
    const shell = await caches.open(SHELL_CACHE);
    const cached = await shell.match(shellKey(request.url), { ignoreSearch: true });
    if (cached) return isolated(request, cached, true);
    try {
      return isolated(request, await fetch(request), false);
    } catch (err) {
      const fallback = await caches.match(request, { ignoreSearch: true });
      if (fallback) return isolated(request, fallback, false);
      throw err;
    }
  })());
});
