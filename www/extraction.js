// Data-parallel work on the CPU, shared between the engine's worker and a few helper workers
// (extractor.js, each its own wasm instance): starting them (for step-images.js's decoding and
// data-parallel.js's replicas too), a head-only run's feature extraction, where each helper
// reads, decodes and extracts a batch of files itself (an engine holding the backbone), batches
// taken from the run until none is left, and the frozen stages of a run that trains later ones,
// computed ahead of its steps.
// The images stay `File`s until then: memory does not grow with their number. Plain Web Workers:
// no SharedArrayBuffer, no special headers, so it works on any static host. Runs in the engine's
// worker.

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

/** A helper worker with a loaded backbone (or none, to decode); resolves once it is ready. Requests are answered in order. */
export function startHelper(module, source) {
  const worker = new Worker(new URL("./extractor.js", import.meta.url), { type: "module" });
  const pending = []; // { resolve, reject } of the requests in flight, oldest first
  let stopped = null; // the error it stopped with: later requests fail at once
  worker.onmessage = ({ data }) => {
    const request = pending.shift();
    if (data.type === "failed") request?.reject(new Error(data.message));
    else request?.resolve(data);
  };
  worker.onerror = (event) => {
    stopped = Object.assign(new Error(event.message || "the helper worker stopped"), { helperStopped: true });
    for (const request of pending.splice(0)) request.reject(stopped);
  };
  const request = (message, transfer) => stopped ? Promise.reject(stopped) : new Promise((resolve, reject) => {
    pending.push({ resolve, reject });
    worker.postMessage(message, transfer);
  });
  const helper = {
    memory: 0,
    /** `{ features, failed }` of image files (`{ name, file }`), read and decoded by the helper. */
    async fileFeatures(files) {
      const reply = await request({ type: "fileFeatures", files });
      helper.memory = reply.memory;
      return reply;
    },
    /** Features of normalised `images × 3 × side × side` pixels (transferred): the benchmark's measure. */
    async features({ pixels, images, side }) {
      const reply = await request({ type: "features", pixels, images, side }, [pixels.buffer]);
      helper.memory = reply.memory;
      return reply.features;
    },
    /** `{ activations, shape, failed }`: a frozen job's output from its image files (`{ name, file }`). */
    async frozenActivations(job, files) {
      const reply = await request({ type: "frozenActivations", job, files });
      helper.memory = reply.memory;
      return reply;
    },
    /** Makes the helper a replica of a run (its model's bytes and settings) that computes shares
     * of its batches as engine `index`, adding up through `shares` (data-parallel.js). */
    startReplica: (model, settings, shares, index) => request({ type: "startReplica", model, settings, shares, index }),
    /** Trains on, or evaluates, a share of a step (`claimShareJobs`); resolves when the step is
     * done on every worker. */
    async computeShare(job) {
      const reply = await request({ type: "computeShare", job }, [job.pixels.buffer]);
      helper.memory = reply.memory;
    },
    /** `{ width, height, pixels }` of an image file resized as training keeps it; rejects for a bad file. */
    decode: (name, file, resizing) => request({ type: "decode", name, file, resizing }),
    close: () => worker.terminate(),
  };
  return request({ type: "init", module, ...source }).then(() => helper, (err) => {
    worker.terminate();
    throw err;
  });
}

/** Starts `count` helpers; those that fail to start are left out. */
export async function startHelpers(count, module, source) {
  const started = await Promise.allSettled(Array.from({ length: count }, () => startHelper(module, source)));
  return started.filter((outcome) => outcome.status === "fulfilled").map((outcome) => outcome.value);
}

/** The features of image files (`{ name, file }`) computed by this worker's engine. */
export async function fileFeaturesHere(engine, exclusive, files) {
  const bytes = await Promise.all(files.map(async ({ file }) => new Uint8Array(await file.arrayBuffer())));
  return exclusive(() => engine.fileFeatures(files.map(({ name }) => name), bytes));
}

/**
 * Runs the extraction of the engine's current run to its end, on helper workers (here only if
 * none could start).
 * - `exclusive(task)`: runs an engine call when no other is running (the engine is not re-entrant);
 * - `images`: the registered images by index (`{ name, file }`), whose files the helpers read;
 * - `module`: the compiled wasm module, shared with the helpers so that they need not compile it;
 * - `source`: `{ weights }` (the bytes the engine loaded) or `{ architecture }` (random weights);
 * - `control`: `{ waitIfPaused(): Promise, cancelled(): boolean }`, checked before each batch;
 * - `onStarted(workers)` once the helpers are ready, `onProgress(progress)` after each batch,
 *   `onFailed(image, reason)` for a file that could not be decoded (the run goes on without it).
 * A helper that fails is dropped and its batches computed here, so a failure costs time, not the run.
 * Returns `{ helpers, helperMemory, imagesBy, startSeconds }`: how many helpers took part, the
 * largest helper's wasm memory, the images extracted `here` and by the `helpers`, and the seconds
 * the helpers took to start (their backbones loaded).
 */
export async function extractInParallel({ engine, exclusive, images, module, source, control, onStarted, onProgress, onFailed }) {
  const starting = performance.now();
  const helpers = await startHelpers(helperCount(false), module, source);
  const startSeconds = (performance.now() - starting) / 1000;
  onStarted(Math.max(1, helpers.length));
  const computeHere = (files) => fileFeaturesHere(engine, exclusive, files);
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
      const files = job.examples.map((index) => images[index]);
      const { features, failed } = await compute(files);
      for (const { position, reason } of failed) {
        await exclusive(() => engine.imageFailed(job.examples[position]));
        onFailed(files[position], reason);
      }
      imagesBy[where] += job.examples.length;
      onProgress(await exclusive(() => engine.completeExtraction(job.first, features)));
    }
  };
  const viaHelper = (helper) => {
    let failed = false;
    return async (files) => {
      if (!failed) {
        try {
          return await helper.fileFeatures(files);
        } catch (err) {
          failed = true;
          console.warn(`A feature-extraction helper failed and is no longer used: ${err.message}`);
        }
      }
      return computeHere(files);
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
    return { helpers: helpers.length, helperMemory: Math.max(0, ...helpers.map((helper) => helper.memory)), imagesBy, startSeconds };
  } finally {
    for (const helper of helpers) helper.close();
  }
}

/**
 * The frozen stages of a run that trains later ones (last stages, progressive unfreezing), on
 * helper workers holding the same backbone, while this worker's engine trains: before each step,
 * `supplyNext()` claims the coming batches (`engine.claimFrozenJob`), waits for the step's own
 * batch and hands its output over (`engine.completeFrozenJob`); that step then needs no pixels.
 * Of every `2 × helpers + 1` batches, each helper computes two and this worker one, the old way
 * (decoded as the step asks, frozen stages in the step): a helper decoding and computing every
 * batch's frozen stages would leave this worker, which only trains the later stages, waiting. A file a helper cannot decode is reported through `onFailed(image, reason)` and
 * left out. Where no helper can start or one fails, the batch's pixels are decoded and its frozen
 * stages computed here as before (the engine asks for them): a failure costs time, not the run.
 * `close()` stops the helpers.
 */
export function frozenStagesOnHelpers({ engine, exclusive, images, module, source, onFailed }) {
  let helpers = null; // started on first use
  let failed = false;
  let turn = 0;
  const queue = []; // the claimed jobs' replies, in claim order: the coming steps' batches
  const compute = (helper, job) => helper.frozenActivations(job, job.examples.map((index) => images[index]))
    .then((reply) => ({ job, reply }), (error) => ({ job, error }));
  return {
    async supplyNext() {
      if (failed) return;
      // Helpers start with the first job: a run that freezes nothing never starts them.
      for (let live = helpers && (await helpers); !live || queue.length < 2 * live.length + 1;) {
        const job = await exclusive(() => engine.claimFrozenJob());
        if (!job) break;
        helpers ??= startHelpers(helperCount(true), module, source);
        live = await helpers;
        if (!live.length) {
          failed = true; // no helper could start: this worker computes every batch, as without them
          return;
        }
        const slot = turn++ % (2 * live.length + 1);
        queue.push(slot < 2 * live.length ? compute(live[slot % live.length], job) : Promise.resolve({ job, here: true }));
      }
      if (!queue.length) return;
      const { job, reply, error, here } = await queue.shift();
      if (here) return;
      try {
        if (error) throw error;
        await exclusive(() => {
          for (const { position, reason } of reply.failed) {
            engine.imageFailed(job.examples[position]);
            onFailed(images[job.examples[position]], reason);
          }
          if (reply.failed.length < job.examples.length) engine.completeFrozenJob(job, reply.activations, reply.shape);
        });
      } catch (err) {
        // The step computes its batch here; so do the rest of the run's.
        failed = true;
        queue.length = 0;
        console.warn(`A helper computing frozen stages failed and helpers are no longer used for them: ${err.message}`);
      }
    },
    async close() {
      if (helpers) for (const helper of await helpers) helper.close();
      helpers = null;
    },
  };
}
