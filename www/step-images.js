// The pixels a training or validation step needs, handed to the engine before the step: the files
// of the step's images are decoded here and on helper workers (one per further core), resized as
// training keeps them. Decoded images are kept, within a memory budget, for the epochs and runs
// that follow: a folder that fits is decoded once, not once per epoch, and a larger one keeps
// what fits (the same images each epoch: an epoch's order is random, so replacing kept images
// would only trade one decode for another). Runs in the engine's worker.
import { helperCount, startHelpers } from "./extraction.js";

/**
 * Bytes of decoded images kept: 32 MB per GiB the device reports (4 when it does not say), at most
 * 256 MB: about a thousand 4:3 photos at 256 px, each 341 × 256 × 3 bytes.
 */
export function keptBytesBudget() {
  return Math.min(256, 32 * (navigator.deviceMemory || 4)) * 1048576;
}

/**
 * Decoded images kept by dataset index for one way of resizing them; `clear()` when the images
 * change. `budget`: bytes of pixels at most.
 */
export function keptImages(budget = keptBytesBudget()) {
  let kept = new Map(); // index → { width, height, pixels }
  let resizingKey = null;
  let bytes = 0;
  const clear = () => {
    kept = new Map();
    bytes = 0;
  };
  /** Forgets every kept image when `resizing` is not the one they were kept for. */
  const useResizing = (resizing) => {
    const key = JSON.stringify(resizing);
    if (key !== resizingKey) clear();
    resizingKey = key;
  };
  return {
    get(index, resizing) {
      useResizing(resizing);
      return kept.get(index);
    },
    keep(index, resizing, decoded) {
      useResizing(resizing);
      if (kept.has(index) || bytes + decoded.pixels.byteLength > budget) return;
      kept.set(index, decoded);
      bytes += decoded.pixels.byteLength;
    },
    clear,
    get bytes() {
      return bytes;
    },
  };
}

/**
 * Decoders for the files a step needs: this worker (`decodeHere(name, bytes)`) and, where there
 * are cores to spare, helper workers started on first use. `decode(images, resizing)` resolves to
 * `{ decoded }` or `{ error }` per image (`{ name, file }`), in order; `close()` stops the helpers.
 * A helper that stops is dropped and its files decoded here.
 */
export function decoders(module, decodeHere) {
  let helpers = null;
  const here = async (name, file) => decodeHere(name, new Uint8Array(await file.arrayBuffer()));
  return {
    async decode(images, resizing) {
      helpers ??= startHelpers(helperCount(true), module, {});
      const live = await helpers;
      const results = new Array(images.length);
      let next = 0;
      const decodeWith = async (decode) => {
        while (next < images.length) {
          const index = next++;
          const { name, file } = images[index];
          try {
            results[index] = { decoded: await decode(name, file) };
          } catch (error) {
            results[index] = { error };
          }
        }
      };
      const viaHelper = (helper) => async (name, file) => {
        try {
          return await helper.decode(name, file, resizing);
        } catch (err) {
          if (!err.helperStopped) throw err;
          return here(name, file);
        }
      };
      await Promise.all([decodeWith(here), ...live.map((helper) => decodeWith(viaHelper(helper)))]);
      return results;
    },
    async close() {
      if (helpers) for (const helper of await helpers) helper.close();
      helpers = null;
    },
  };
}

/**
 * Hands the engine the pixels of the images its next step needs (`engine.imagesNeeded()`): kept
 * ones from `kept`, the others decoded by `decoding` (and kept where the budget allows). A file
 * that fails to decode is left out of the run (`engine.imageFailed`) and reported through
 * `onFailed(image, reason)`. `images`: the registered images by index (`{ name, file }`).
 */
export async function supplyStepImages({ engine, exclusive, images, decoding, kept, onFailed }) {
  const needed = await exclusive(() => engine.imagesNeeded());
  if (!needed.length) return;
  const resizing = engine.resizing;
  const outcomes = new Map(); // index → { decoded } or { error }
  for (const index of needed) {
    const decoded = kept.get(index, resizing);
    if (decoded) outcomes.set(index, { decoded });
  }
  const missing = [...needed].filter((index) => !outcomes.has(index));
  const results = await decoding.decode(missing.map((index) => images[index]), resizing);
  for (const [position, index] of missing.entries()) {
    outcomes.set(index, results[position]);
    if (results[position].decoded) kept.keep(index, resizing, results[position].decoded);
  }
  await exclusive(() => {
    for (const index of needed) {
      const { decoded, error } = outcomes.get(index);
      if (decoded) {
        engine.supplyImage(index, decoded.width, decoded.height, decoded.pixels);
      } else {
        engine.imageFailed(index);
        onFailed(images[index], error?.message || String(error));
      }
    }
  });
}
