// Registers the service worker (sw.js at the site's root) that keeps the app working offline after
// one visit; a failure only costs the offline mode.
import { wasmBuild } from "./wasm-build.js";

/**
 * @param {URL | string} scriptUrl where sw.js is, relative to the calling module
 * @returns {Promise<ServiceWorkerRegistration | null>}
 */
export async function registerServiceWorker(scriptUrl) {
  if (!("serviceWorker" in navigator)) return null;
  try {
    // It keeps the one wasm build this browser runs, not both.
    const url = new URL(scriptUrl, location.href);
    url.searchParams.set("wasm", wasmBuild());
    return await navigator.serviceWorker.register(url);
  } catch (err) {
    console.warn(`Offline mode unavailable: ${err instanceof Error ? err.message : err}`);
    return null;
  }
}
