// Full fine-tuning (and the other strategies that train the backbone) on every core: each training
// batch is split between the engine's worker and helper workers (extractor.js) that hold a replica
// of the run's model; they add up BatchNorm's sums and the gradients mid-step through shared
// memory (shares.js), so each takes the step one engine takes on the whole batch and all keep the
// same weights. Validation batches are split too, their logits added up. It needs shared memory,
// which a browser gives only a cross-origin-isolated page (the service worker makes it so on any
// static host, from the second visit); without it, or on WebGPU, or with a single core, the run
// trains on one worker as before. A helper that is lost costs the step's time: the engine's worker
// stops waiting for it after `timeoutMs`, takes that step alone (the engine reports it) and the
// rest of the run too. Runs in the engine's worker.
import { helperCount, startHelpers } from "./extraction.js";
import { createShares, joinShares } from "./shares.js";

/** Per-channel sums of the widest BatchNorm (2 × 2048 channels + a count) or a batch's predictions. */
const SUM_CAPACITY = 8192;

/**
 * Starts the helpers of a run that splits its batches, or returns null where it cannot (the
 * reason given to `onUnavailable`).
 * - `engine`, `exclusive(task)`: the engine and its one-call-at-a-time lock;
 * - `module`: the compiled wasm module, shared with the helpers;
 * - `settings`: the run's settings, `plan`: what `startTraining` returned;
 * - `onAlone(reason)`: called when a helper is lost and the engine trains alone from then on.
 * Returns `{ engines, beforeStep(), afterStep(), helperMemory(), close() }`: call `beforeStep`
 * after the step's images are supplied and before `trainStep`, `afterStep` after it;
 * `helperMemory()`: the largest helper's wasm memory in bytes after its last share.
 */
export async function splitBatches({ engine, exclusive, module, settings, plan, timeoutMs = 60_000, onUnavailable = () => {}, onAlone = () => {} }) {
  const unavailable = (reason) => {
    onUnavailable(reason);
    return null;
  };
  if (engine.backend.kind !== "cpu") return unavailable("the WebGPU path trains on one worker");
  if (plan.cached_features) return null;
  if (!self.crossOriginIsolated) return unavailable("the page is not cross-origin isolated, so its workers cannot share memory");
  const count = helperCount(true);
  if (count < 1) return unavailable("one core");
  const model = await exclusive(() => engine.exportModel("f32"));
  const helpers = await startHelpers(count, module, {});
  if (!helpers.length) return unavailable("no helper worker could start");
  const engines = helpers.length + 1;
  const batch = settings.batch_size ?? 32;
  // Every trained parameter's gradient fits in as many float32s as the model file holds.
  // A validation batch's logits are added up too: one value per image and class.
  const sums = Math.max(SUM_CAPACITY, batch * plan.classes.length + 1);
  const shares = createShares(engines, { sums, gradients: Math.ceil(model.byteLength / 4) });
  const started = await Promise.allSettled(helpers.map((helper, index) => helper.startReplica(model, settings, shares, index + 1)));
  const failure = started.find((outcome) => outcome.status === "rejected");
  if (failure) {
    for (const helper of helpers) helper.close();
    return unavailable(`a helper could not hold the model: ${failure.reason?.message ?? failure.reason}`);
  }
  const handle = joinShares(shares, 0, { timeoutMs });
  await exclusive(() => engine.shareBatches(engines, handle));
  let inFlight = [];
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    for (const helper of helpers) helper.close();
    // Nobody waits on the helpers from here on: the engine trains alone.
    await exclusive(() => engine.shareBatches(1, handle));
  };
  return {
    engines,
    async beforeStep() {
      if (stopped) return;
      const jobs = await exclusive(() => engine.claimShareJobs());
      inFlight = jobs.map((job, index) => helpers[index].computeShare(job));
    },
    async afterStep() {
      const outcomes = await Promise.allSettled(inFlight);
      inFlight = [];
      const failure = outcomes.find((outcome) => outcome.status === "rejected");
      if (failure || handle.failed()) {
        await stop();
        onAlone(`a helper computing its share failed (${failure?.reason?.message ?? "it did not keep up"})`);
      }
    },
    helperMemory: () => Math.max(0, ...helpers.map((helper) => helper.memory)),
    async close() {
      if (!stopped) {
        stopped = true;
        for (const helper of helpers) helper.close();
      }
    },
  };
}
