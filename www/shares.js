// How the engines that split a training batch between them (the engine's worker and the helpers,
// each training its share: data-parallel training) add up their values in the middle of a step:
// BatchNorm's per-channel sums at every layer both ways, then the gradients. The wasm engine asks
// synchronously, deep in its forward and backward passes, so the engines meet in shared memory and
// wait with Atomics.wait — which needs a SharedArrayBuffer, so a cross-origin-isolated page.
//
// Each engine writes its values into its own slot and waits until every engine has; then each
// reads every slot and adds them up in engine order (so every engine gets the same bits), and
// waits again until every engine has read before anyone writes the next values. An engine that
// does not come within the timeout (a helper lost) aborts the group: every wait returns at once
// from then on, values unchanged, and `failed()` says so, so that the step is not taken.

const GENERATION = 0;
const ARRIVED = 1;
const ABORTED = 2;
const HEADER_BYTES = 16;

/**
 * Shared memory for `engines` engines adding up at most `sums` float64 statistics and `gradients`
 * float32 gradients at a time.
 * @param {number} engines
 * @param {{ sums: number, gradients: number }} capacity
 */
export function createShares(engines, { sums, gradients }) {
  if (typeof SharedArrayBuffer === "undefined") {
    throw new Error("engines share a batch through shared memory, which this page does not have (it is not cross-origin isolated)");
  }
  const bytes = HEADER_BYTES + engines * (sums * 8 + gradients * 4);
  return { buffer: new SharedArrayBuffer(bytes), engines, sums, gradients };
}

/**
 * Engine `engine`'s handle on shared memory made by `createShares` (passed to it by postMessage).
 * @param {{ buffer: SharedArrayBuffer, engines: number, sums: number, gradients: number }} shares
 * @param {number} engine
 * @param {{ timeoutMs?: number }} [options] how long an engine waits for the others at one point
 */
export function joinShares({ buffer, engines, sums, gradients }, engine, { timeoutMs = 60_000 } = {}) {
  const header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
  const sumSlots = new Float64Array(buffer, HEADER_BYTES, engines * sums);
  const gradientSlots = new Float32Array(buffer, HEADER_BYTES + engines * sums * 8, engines * gradients);

  const abort = () => {
    Atomics.store(header, ABORTED, 1);
    Atomics.notify(header, GENERATION);
  };

  /** Waits until every engine has arrived here; false once the group is aborted. */
  const meet = () => {
    if (Atomics.load(header, ABORTED)) return false;
    const generation = Atomics.load(header, GENERATION);
    if (Atomics.add(header, ARRIVED, 1) === engines - 1) {
      Atomics.store(header, ARRIVED, 0);
      Atomics.add(header, GENERATION, 1);
      Atomics.notify(header, GENERATION);
      return true;
    }
    while (Atomics.load(header, GENERATION) === generation) {
      if (Atomics.load(header, ABORTED)) return false;
      if (Atomics.wait(header, GENERATION, generation, timeoutMs) === "timed-out") {
        abort();
        return false;
      }
    }
    return !Atomics.load(header, ABORTED);
  };

  /** Replaces `values` with their sum over every engine's, through `slots` of `width` values each. */
  const addUp = (values, slots, width) => {
    // More values than the memory was made for: a mistake, but one that must not leave the
    // other engines waiting (and must not throw through the wasm engine asking).
    if (values.length > width) {
      abort();
      return;
    }
    slots.set(values, engine * width);
    if (!meet()) return;
    for (let i = 0; i < values.length; i++) {
      let total = 0;
      for (let other = 0; other < engines; other++) total += slots[other * width + i];
      values[i] = total;
    }
    meet();
  };

  return {
    engine,
    engines,
    /** @param {Float64Array} values */
    addUp: (values) => addUp(values, sumSlots, sums),
    /** @param {Float32Array} values */
    addUpGradients: (values) => addUp(values, gradientSlots, gradients),
    /** Whether the group was aborted (an engine did not come, or one gave up). */
    failed: () => Atomics.load(header, ABORTED) === 1,
    abort,
  };
}
