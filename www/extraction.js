// Data-parallel work on the CPU, shared between the engine's worker and a few helper workers
// (extractor.js, each its own wasm instance): decoding the dropped image files, and a head-only
// run's feature extraction (each helper then an engine holding the backbone), batches of images
// taken from the run until none is left. Plain Web Workers: no SharedArrayBuffer, no special
// headers, so it works on any static host. Runs in the engine's worker.

/**
 * Helper workers to start: one per core (extraction: this worker only hands out batches, so that
 * it stays free to answer the helpers and the page) or one per further core (decoding: this
 * worker decodes too); at most 8, and fewer where the device reports little memory.
 */
export function helperCount(thisWorkerComputes) {
  const cores = navigator.hardwareConcurrency || 1;
  if (cores < 2) return 0;
  // An extraction helper holds a backbone and a batch's activations: 40–170 MB measured.
  const memoryGiB = navigator.deviceMemory || 4;
  return Math.max(0, Math.min(thisWorkerComputes ? cores - 1 : cores, 8, Math.floor(memoryGiB * 2)));
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
    const stopped = Object.assign(new Error(event.message || "the helper worker stopped"), { helperStopped: true });
    for (const request of pending.splice(0)) request.reject(stopped);
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
    /** `{ width, height, pixels }` of an image file resized as training keeps it; rejects for a bad file. */
    decode: (name, bytes, shorterSide) => request({ type: "decode", name, bytes, shorterSide }, [bytes.buffer]),
    close: () => worker.terminate(),
  };
  return request({ type: "init", module, ...source }).then(() => helper, (err) => {
    worker.terminate();
    throw err;
  });
}

/**
 * Runs the extraction of the engine's current run to its end, on helper workers (here only if
 * none could start).
 * - `exclusive(task)`: runs an engine call when no other is running (the engine is not re-entrant);
 * - `module`: the compiled wasm module, shared with the helpers so that they need not compile it;
 * - `source`: `{ weights }` (the bytes the engine loaded) or `{ architecture }` (random weights);
 * - `control`: `{ waitIfPaused(): Promise, cancelled(): boolean }`, checked before each batch;
 * - `onStarted(workers)` once the helpers are ready, `onProgress(progress)` after each batch.
 * A helper that fails is dropped and its batches computed here, so a failure costs time, not the run.
 * Returns `{ helpers, helperMemory, imagesBy }`: how many helpers took part, the largest helper's
 * wasm memory, and the images extracted `here` and by the `helpers`.
 */
export async function extractInParallel({ engine, exclusive, module, source, control, onStarted, onProgress }) {
  const started = await Promise.allSettled(Array.from({ length: helperCount(false) }, () => startHelper(module, source)));
  const helpers = started.filter((outcome) => outcome.status === "fulfilled").map((outcome) => outcome.value);
  onStarted(Math.max(1, helpers.length));
  const computeHere = (job) => exclusive(() => engine.features(job.pixels, job.images, job.side, job.side));
  const imagesBy = { here: 0, helpers: 0 };
  const drain = async (compute, where) => {
    for (;;) {
      // A task boundary: batches computed here resolve as microtasks, which would otherwise keep
      // the helpers' replies and the page's messages waiting until every batch was done.
      await new Promise((resolve) => setTimeout(resolve, 0));
      await control.waitIfPaused();
      if (control.cancelled()) return;
      const job = await exclusive(() => engine.claimExtraction());
      if (!job) return;
      const features = await compute(job);
      imagesBy[where] += job.images;
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
    // Two batches queued per helper: while this worker prepares the next one, each helper still
    // has one to work on.
    const viaHelpers = helpers.flatMap((helper) => {
      const compute = viaHelper(helper);
      return [drain(compute, "helpers"), drain(compute, "helpers")];
    });
    await Promise.all(helpers.length ? viaHelpers : [drain(computeHere, "here")]);
    return { helpers: helpers.length, helperMemory: Math.max(0, ...helpers.map((helper) => helper.memory)), imagesBy };
  } finally {
    for (const helper of helpers) helper.close();
  }
}

/**
 * Decodes `items` (`{ file, name }`) here and on helpers at once — decoding is most of the time
 * from a dropped folder to the first features — and hands each result to `onResult(item, decoded,
 * error)` in the items' order, so that a run's split stays the same. `decodeHere(name, bytes)`
 * decodes in this worker. A helper that stops is dropped and its files decoded here.
 */
export async function decodeInParallel({ items, module, shorterSide, decodeHere, onResult }) {
  const started = await Promise.allSettled(Array.from({ length: helperCount(true) }, () => startHelper(module, {})));
  const helpers = started.filter((outcome) => outcome.status === "fulfilled").map((outcome) => outcome.value);
  const results = items.map(() => {
    let settle;
    const promise = new Promise((resolve) => { settle = resolve; });
    return { promise, settle };
  });
  let next = 0;
  const decodeWith = async (decode) => {
    while (next < items.length) {
      const index = next++;
      const item = items[index];
      try {
        const bytes = new Uint8Array(await item.file.arrayBuffer());
        results[index].settle({ decoded: await decode(item.name, bytes) });
      } catch (error) {
        results[index].settle({ error });
      }
    }
  };
  const viaHelper = (helper) => async (name, bytes) => {
    const copy = bytes.slice();
    try {
      return await helper.decode(name, bytes, shorterSide);
    } catch (err) {
      if (!err.helperStopped) throw err;
      return decodeHere(name, copy);
    }
  };
  const decoding = Promise.all([decodeWith(async (name, bytes) => decodeHere(name, bytes)), ...helpers.map((helper) => decodeWith(viaHelper(helper)))]);
  try {
    for (const [index, item] of items.entries()) {
      const { decoded, error } = await results[index].promise;
      await onResult(item, decoded, error);
    }
    await decoding;
  } finally {
    for (const helper of helpers) helper.close();
  }
}
