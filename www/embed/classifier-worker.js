// The embeddable classifier's worker: owns one inference-only wasm build and the opened model.
//   {id, type:"load", device, bytes}        → {id, result: {labels, architecture, backend, training}}
//   {id, type:"classify", image, topK, views, explain}
//                                           → {id, result: {top: [{label, probability}], unknown, explanation}}
// Errors come back as {id, error}.

// The engine built without its training code (build.sh), beside this file in the package: the CPU
// build, and the WebGPU one, which is larger and fetched only when the page asks for WebGPU.
const BUILDS = {
  cpu: new URL("./inference/browser_finetune.js", import.meta.url),
  webgpu: new URL("./inference-webgpu/browser_finetune.js", import.meta.url),
};

let classifier = null;

/** Whether "auto" should fetch the WebGPU build: a hardware adapter (a software one is slower than the CPU). */
async function hardwareWebGpu() {
  const adapter = await navigator.gpu?.requestAdapter().catch(() => null);
  return Boolean(adapter) && !(adapter.info?.isFallbackAdapter ?? adapter.isFallbackAdapter);
}

/** RGBA pixels of an ImageBitmap, at its own size. */
function pixels(bitmap) {
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  return context.getImageData(0, 0, canvas.width, canvas.height);
}

/** The engine's Grad-CAM explanation as the package's `HeatMap`. */
function heatMap({ class: label, map, crop_share: cropShare }) {
  return { label, width: map.width, height: map.height, values: map.values, cropShare };
}

const handlers = {
  async load({ device, bytes }) {
    const build = device === "webgpu" || (device === "auto" && await hardwareWebGpu()) ? "webgpu" : "cpu";
    let engine;
    try {
      engine = await import(BUILDS[build].href);
    } catch (err) {
      throw new Error(`could not load the classifier's ${build} build (${BUILDS[build].pathname}): ${err.message}. ` +
        "Serve the package's files as npm installs them (`./build.sh package` builds both)");
    }
    await engine.default();
    classifier = await engine.WebClassifier.open(new Uint8Array(bytes), device);
    return { labels: classifier.classes, architecture: classifier.architecture, backend: classifier.backend, training: classifier.training };
  },
  async classify({ image, topK, views, explain }) {
    // The map explains the top label of the averaged views (the centre crop's own may differ).
    let predictions, explanation = null;
    if (image.kind === "file") {
      const bytes = new Uint8Array(image.bytes);
      predictions = await classifier.predict(image.name, bytes, topK, views);
      if (explain) explanation = await classifier.explain(image.name, bytes, predictions.top[0].class);
    } else {
      const { data, width, height } = image.kind === "bitmap" ? pixels(image.bitmap) : { ...image, data: image.rgba };
      const rgba = new Uint8Array(data.buffer ?? data);
      predictions = await classifier.predictPixels(rgba, width, height, topK, views);
      if (explain) explanation = await classifier.explainPixels(rgba, width, height, predictions.top[0].class);
    }
    const top = predictions.top.map(({ class: label, probability }) => ({ label, probability }));
    return { top, unknown: predictions.unknown, explanation: explanation && heatMap(explanation) };
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
