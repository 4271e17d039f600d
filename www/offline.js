// Registers the service worker (sw.js at the site's root) that keeps the app working offline after
// one visit. Shared by the page and the embed example; a failure only costs the offline mode.

/**
 * @param {URL | string} scriptUrl where sw.js is, relative to the calling module
 * @returns {Promise<ServiceWorkerRegistration | null>}
 */
export async function registerServiceWorker(scriptUrl) {
  if (!("serviceWorker" in navigator)) return null;
  try {
    return await navigator.serviceWorker.register(scriptUrl);
  } catch (err) {
    console.warn(`Offline mode unavailable: ${err instanceof Error ? err.message : err}`);
    return null;
  }
}
