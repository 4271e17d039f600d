// Data-parallel feature extraction for head-only runs on the CPU: the engine's worker and a few
// helper workers (extractor.js, each its own wasm engine holding the backbone) take batches of
// images from the run until none is left. Plain Web Workers: no SharedArrayBuffer, no special
// headers, so it works on any static host. Runs in the engine's worker.

/** Helpers to start: one per further core, at most 7, and fewer where the device reports little memory. */
export function helperCount() {
  const cores = navigator.hardwareConcurrency || 1;
  // Each helper holds a backbone and a batch's activations: about 100–300 MB.
  const memoryGiB = navigator.deviceMemory || 4;
  return Math.max(0, Math.min(cores - 1, 7, Math.floor(memoryGiB)));
}

/** A helper worker with a loaded backbone; resolves once it is ready. Requests are answered in order. */
export function startHelper(module, source) {
  const worker = new Worker(new URL("./extractor.js", import.meta.url), { type: "module" });
  const pending = []; // { resolve, reject } of the requests in flight, oldest first
  worker.onmessage = ({ data }) => {
    const request = pending.shift();
    if (data.type === "failed") request?.reject(new Error(data.message));
    else request?.resolve(data);
  };
  worker.onerror = (event) => {
    for (const request of pending.splice(0)) request.reject(new Error(event.message || "the helper worker stopped"));
  };
  const request = (message, transfer) => new Promise((resolve, reject) => {
    pending.push({ resolve, reject });
    worker.postMessage(message, transfer);
  });
  const helper = {
    memory: 0,
    async features(job) {
      const reply = await request({ type: "features", pixels: job.pixels, images: job.images, side: job.side }, [job.pixels.buffer]);
      helper.memory = reply.memory;
      return reply.features;
    },
    close: () => worker.terminate(),
  };
  return request({ type: "init", module, ...source }).then(() => helper, (err) => {
    worker.terminate();
    throw err;
  });
}

/**
 * Runs the extraction of the engine's current run to its end.
 * - `exclusive(task)`: runs an engine call when no other is running (the engine is not re-entrant);
 * - `module`: the compiled wasm module, shared with the helpers so that they need not compile it;
 * - `source`: `{ weights }` (the bytes the engine loaded) or `{ architecture }` (random weights);
 * - `control`: `{ waitIfPaused(): Promise, cancelled(): boolean }`, checked before each batch;
 * - `onStarted(workers)` once the helpers are ready, `onProgress(progress)` after each batch.
 * A helper that fails is dropped and its batch computed here, so a failure costs time, not the run.
 * Returns `{ helpers, helperMemory }`: how many helpers took part and the largest helper's wasm memory.
 */
export async function extractInParallel({ engine, exclusive, module, source, control, onStarted, onProgress }) {
  const started = await Promise.allSettled(Array.from({ length: helperCount() }, () => startHelper(module, source)));
  const helpers = started.filter((outcome) => outcome.status === "fulfilled").map((outcome) => outcome.value);
  onStarted(helpers.length + 1);
  const computeHere = (job) => exclusive(() => engine.features(job.pixels, job.images, job.side, job.side));
  const drain = async (compute) => {
    for (;;) {
      await control.waitIfPaused();
      if (control.cancelled()) return;
      const job = await exclusive(() => engine.claimExtraction());
      if (!job) return;
      const features = await compute(job);
      onProgress(await exclusive(() => engine.completeExtraction(job.first, features)));
    }
  };
  const viaHelper = (helper) => {
    let failed = false;
    return async (job) => {
      if (!failed) {
        // The pixels are transferred to the helper: keep a copy in case it fails.
        const copy = job.pixels.slice();
        try {
          return await helper.features(job);
        } catch (err) {
          failed = true;
          console.warn(`A feature-extraction helper failed and is no longer used: ${err.message}`);
          job = { ...job, pixels: copy };
        }
      }
      return computeHere(job);
    };
  };
  try {
    // Two batches queued per helper: while this worker computes a batch (and so cannot hand out
    // the next one), each helper still has one to work on.
    const viaHelpers = helpers.flatMap((helper) => {
      const compute = viaHelper(helper);
      return [drain(compute), drain(compute)];
    });
    await Promise.all([drain(computeHere), ...viaHelpers]);
    return { helpers: helpers.length, helperMemory: Math.max(0, ...helpers.map((helper) => helper.memory)) };
  } finally {
    for (const helper of helpers) helper.close();
  }
}
