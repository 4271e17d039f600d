// Registers the service worker (sw.js at the site's root) that keeps the app working offline after
// one visit. Shared by the page and the embed example; a failure only costs the offline mode.
export async function registerServiceWorker(scriptUrl) {
  if (!("serviceWorker" in navigator)) return null;
  try {
    return await navigator.serviceWorker.register(scriptUrl);
  } catch (err) {
    console.warn(`Offline mode unavailable: ${err.message}`);
    return null;
  }
}
