// www/step-images.js: the images a step needs are decoded once and kept within the budget; what
// does not fit is decoded again each time, a file that fails is left out of the run, and kept
// images resized another way are never handed over. The engine here records what it is given.
import { test } from "node:test";
import assert from "node:assert/strict";
import { keptImages, supplyStepImages } from "../../www/step-images.js";

const RESIZING = { shorter_side: 256, interpolation: "bilinear" };
/** A decoded image of `bytes` bytes whose pixels all hold `value`. */
const decodedOf = (value, bytes = 12) => ({ width: 2, height: bytes / 6, pixels: new Uint8Array(bytes).fill(value) });

/** An engine whose next step needs `needed`, recording what it is given. */
function recordingEngine(resizing = RESIZING) {
  return {
    needed: [],
    supplied: new Map(),
    failed: [],
    resizing,
    imagesNeeded() { return Uint32Array.from(this.needed); },
    supplyImage(index, width, height, pixels) { this.supplied.set(index, { width, height, value: pixels[0] }); },
    imageFailed(index) { this.failed.push(index); },
  };
}

/** Decodes image `i` to pixels of value `i`; a name with "broken" throws. Counts what it decodes. */
function countingDecoder() {
  return {
    decodedNames: [],
    async decode(images) {
      return images.map(({ name }) => {
        this.decodedNames.push(name);
        if (name.includes("broken")) return { error: new Error(`${name}: not an image`) };
        return { decoded: decodedOf(Number(name.match(/\d+/)[0])) };
      });
    },
  };
}

const images = Array.from({ length: 6 }, (_, i) => ({ name: i === 5 ? `broken${i}.jpg` : `photo${i}.jpg`, file: null }));
const exclusive = async (task) => task();

test("images are decoded once while they fit, and again each step when they do not", async () => {
  const engine = recordingEngine();
  const decoding = countingDecoder();
  const kept = keptImages(3 * 12); // three images of 12 bytes
  const failures = [];
  const supply = () => supplyStepImages({ engine, exclusive, images, decoding, kept, onFailed: (image, reason) => failures.push([image.name, reason]) });

  engine.needed = [0, 1, 2, 3];
  await supply();
  assert.deepEqual(decoding.decodedNames, ["photo0.jpg", "photo1.jpg", "photo2.jpg", "photo3.jpg"]);
  assert.equal(kept.bytes, 36);
  assert.deepEqual([...engine.supplied.keys()], [0, 1, 2, 3]);
  assert.deepEqual([...engine.supplied.values()].map(({ value }) => value), [0, 1, 2, 3]);

  // The next epoch: the three kept are not decoded again; the one beyond the budget is.
  engine.supplied.clear();
  decoding.decodedNames.length = 0;
  engine.needed = [3, 2, 1, 0];
  await supply();
  assert.deepEqual(decoding.decodedNames, ["photo3.jpg"]);
  assert.deepEqual([...engine.supplied.entries()].map(([index, { value }]) => [index, value]), [[3, 3], [2, 2], [1, 1], [0, 0]]);

  // A file that fails is reported and left out; the others of its step are supplied.
  engine.supplied.clear();
  engine.needed = [4, 5];
  await supply();
  assert.deepEqual([...engine.supplied.keys()], [4]);
  assert.deepEqual(engine.failed, [5]);
  assert.deepEqual(failures, [["broken5.jpg", "broken5.jpg: not an image"]]);
});

test("kept images resized another way are forgotten, and cleared with the images", () => {
  const kept = keptImages(100);
  kept.keep(0, RESIZING, decodedOf(7));
  assert.equal(kept.get(0, RESIZING).pixels[0], 7);
  // The same image already kept: counted once.
  kept.keep(0, RESIZING, decodedOf(7));
  assert.equal(kept.bytes, 12);
  assert.equal(kept.get(0, { shorter_side: 299, interpolation: "bicubic" }), undefined);
  assert.equal(kept.bytes, 0);
  kept.keep(1, RESIZING, decodedOf(1));
  kept.clear();
  assert.equal(kept.get(1, RESIZING), undefined);
  assert.equal(kept.bytes, 0);
});
