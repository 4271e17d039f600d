// The embeddable classifier's worker: owns one wasm engine and the opened model.
//   {id, type:"load", device, bytes}        → {id, result: {labels, architecture, backend, training}}
//   {id, type:"classify", image, topK}      → {id, result: {top: [{label, probability}], unknown}}
// Errors come back as {id, error}.
import init, { WebEngine } from "../../pkg/browser_finetune.js";
import { wasmBuild, wasmUrl } from "../wasm-build.js";

let engine = null;

/** RGBA pixels of an ImageBitmap, at its own size. */
function pixels(bitmap) {
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  return context.getImageData(0, 0, canvas.width, canvas.height);
}

const handlers = {
  async load({ device, bytes }) {
    await init({ module_or_path: wasmUrl(wasmBuild()) });
    engine = await WebEngine.create(device);
    const loaded = engine.loadWeights(bytes);
    if (!loaded.class_names) {
      throw new Error("this file holds weights, not a model exported by browser-finetune: it has no class names. " +
        "Train a model on the page and use “Download model”.");
    }
    return { labels: loaded.class_names, architecture: loaded.architecture, backend: engine.backend, training: loaded.training };
  },
  async classify({ image, topK }) {
    let predictions;
    if (image.kind === "file") {
      predictions = await engine.predict(image.name, new Uint8Array(image.bytes), topK);
    } else {
      const { data, width, height } = image.kind === "bitmap" ? pixels(image.bitmap) : { ...image, data: image.rgba };
      predictions = await engine.predictPixels(new Uint8Array(data.buffer ?? data), width, height, topK);
    }
    const top = predictions.top.map(({ class: label, probability }) => ({ label, probability }));
    return { top, unknown: predictions.unknown };
  },
};

/** One call at a time: the engine is not re-entrant. */
let queue = Promise.resolve();
self.onmessage = ({ data }) => {
  queue = queue.then(async () => {
    try {
      self.postMessage({ id: data.id, result: await handlers[data.type](data) });
    } catch (err) {
      self.postMessage({ id: data.id, error: (err && err.message) || String(err) });
    }
  });
};
