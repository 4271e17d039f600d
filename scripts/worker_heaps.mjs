// The JS heap of a browser's dedicated workers, nested ones included, for the benchmarks:
// `performance.memory` exists only on windows, so each worker is asked over DevTools
// (Runtime.getHeapUsage). Workers are attached through a browser session without flattening, so
// that Playwright's own sessions are left as they are; a worker that has ended, or does not answer
// in time, is left out of that sample.

/** A heap's figures come back within milliseconds; a garbage collection waits for a busy worker's thread. */
const ANSWER_MS = { usage: 2000, collect: 30000 };

/**
 * Watches the dedicated workers of `browser` (Playwright). `sample({ collect, only })` resolves to
 * `[{ url, used, buffers }]` for every worker alive now whose script URL passes `only`: its used JS
 * heap and its ArrayBuffers' backing stores, in bytes, after a full garbage collection when
 * `collect` is true (what is live then, rather than what garbage has not yet been collected).
 * `close()` detaches.
 */
export async function watchWorkerHeaps(browser) {
  const devtools = await browser.newBrowserCDPSession();
  const answers = new Map(); // message id → resolve
  const attached = new Map(); // target id → Promise of its session id (null if it could not attach)
  let lastId = 0;
  devtools.on("Target.receivedMessageFromTarget", ({ message }) => {
    const { id, result } = JSON.parse(message);
    answers.get(id)?.(result ?? null);
    answers.delete(id);
  });
  const ask = (sessionId, method, waitMs) => new Promise((resolve) => {
    const id = ++lastId;
    answers.set(id, resolve);
    setTimeout(() => { answers.delete(id); resolve(null); }, waitMs);
    devtools.send("Target.sendMessageToTarget", { sessionId, message: JSON.stringify({ id, method }) }).catch(() => resolve(null));
  });
  const sessionOf = (targetId) => {
    if (!attached.has(targetId)) {
      attached.set(targetId, devtools.send("Target.attachToTarget", { targetId, flatten: false }).then(({ sessionId }) => sessionId, () => null));
    }
    return attached.get(targetId);
  };
  return {
    async sample({ collect = false, only = () => true } = {}) {
      const { targetInfos } = await devtools.send("Target.getTargets");
      const workers = targetInfos.filter((target) => target.type === "worker" && only(target.url));
      const heaps = await Promise.all(workers.map(async ({ targetId, url }) => {
        const sessionId = await sessionOf(targetId);
        if (!sessionId) return null;
        if (collect) await ask(sessionId, "HeapProfiler.collectGarbage", ANSWER_MS.collect);
        const usage = await ask(sessionId, "Runtime.getHeapUsage", ANSWER_MS.usage);
        return usage && { url, used: usage.usedSize, buffers: usage.backingStorageSize };
      }));
      return heaps.filter(Boolean);
    },
    close: () => devtools.detach(),
  };
}
