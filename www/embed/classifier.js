// An image classifier trained with browser-finetune, for any web page: load an exported
// .safetensors model and classify images, canvases, video frames or files, off the main thread.
//
//   import { Classifier } from "browser-finetune-classifier";   // or the path to classifier.js
//   const classifier = await Classifier.load("model.safetensors");
//   classifier.labels;                                   // ["ants", "bees"]
//   await classifier.classify(imageElement, { topK: 3 }); // [{ label, probability }, …], and .unknown
//   (await classifier.classify(file, { explain: true })).explanation; // where it looked: a heat map
//
// The worker and the inference-only wasm builds are found relative to this file (./inference/,
// ./inference-webgpu/ for WebGPU, as the npm package lays them out), never on a CDN.
const WORKER_URL = new URL("./classifier-worker.js", import.meta.url);

/** The bytes of a model given as a URL (relative to the page), a Blob or File, or bytes. */
async function modelBytes(source) {
  if (typeof source === "string" || source instanceof URL) {
    const url = new URL(source, document.baseURI);
    let response;
    try {
      response = await fetch(url);
    } catch (err) {
      throw new Error(`Could not fetch the model ${url}: ${err.message}`);
    }
    if (!response.ok) throw new Error(`Could not fetch the model ${url}: the server answered ${response.status}`);
    return new Uint8Array(await response.arrayBuffer());
  }
  if (source instanceof Blob) return new Uint8Array(await source.arrayBuffer());
  if (source instanceof ArrayBuffer) return new Uint8Array(source.slice(0));
  if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer.slice(source.byteOffset, source.byteOffset + source.byteLength));
  throw new TypeError("Classifier.load takes a URL, a Blob or File, an ArrayBuffer or a typed array");
}

/** What the worker needs to see an image: file bytes for a Blob, else pixels in an ImageBitmap. */
async function imageMessage(image) {
  if (image instanceof Blob) return { kind: "file", name: image.name || "image", bytes: await image.arrayBuffer() };
  if (typeof ImageData !== "undefined" && image instanceof ImageData) {
    return { kind: "pixels", width: image.width, height: image.height, rgba: image.data.buffer.slice(0) };
  }
  if (typeof HTMLImageElement !== "undefined" && image instanceof HTMLImageElement) await image.decode();
  if (typeof HTMLVideoElement !== "undefined" && image instanceof HTMLVideoElement && image.readyState < 2) {
    throw new Error("the video has no frame yet: wait for its 'loadeddata' event");
  }
  return { kind: "bitmap", bitmap: await createImageBitmap(image) };
}

export class Classifier {
  #worker;
  #pending = new Map();
  #nextId = 1;

  /** Use Classifier.load. */
  constructor(worker, info) {
    this.#worker = worker;
    this.labels = info.labels;
    this.architecture = info.architecture;
    this.backend = info.backend;
    this.training = info.training;
    this.unknownBelow = info.training?.unknown_below ?? null;
    this.temperature = info.training?.temperature ?? 1;
    worker.onmessage = ({ data }) => {
      const pending = this.#pending.get(data.id);
      if (!pending) return;
      this.#pending.delete(data.id);
      if (data.error) pending.reject(new Error(data.error));
      else pending.resolve(data.result);
    };
  }

  static async load(source, { device = "cpu" } = {}) {
    const bytes = await modelBytes(source);
    const worker = new Worker(WORKER_URL, { type: "module" });
    const info = await new Promise((resolve, reject) => {
      worker.onmessage = ({ data }) => (data.error ? reject(new Error(data.error)) : resolve(data.result));
      worker.onerror = (event) => reject(new Error(`the classifier's worker failed to start: ${event.message}`));
      worker.postMessage({ id: 0, type: "load", device, bytes }, [bytes.buffer]);
    }).catch((err) => { worker.terminate(); throw err; });
    return new Classifier(worker, info);
  }

  #call(type, payload, transfer) {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      if (!this.#worker) return reject(new Error("this classifier was disposed"));
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage({ id, type, ...payload }, transfer);
    });
  }

  /**
   * The `topK` most likely labels (all by default), most likely first; `unknown` on the array:
   * whether the top probability is under the model's `unknownBelow` (null without one);
   * `explanation`: with `explain`, where the model looked for the top label (Grad-CAM), else null.
   */
  async classify(image, { topK = this.labels.length, views = "centre", explain = false } = {}) {
    const message = await imageMessage(image);
    const transfer = [message.bitmap ?? message.bytes ?? message.rgba];
    const { top, unknown, explanation } = await this.#call("classify", { image: message, topK: Math.max(1, topK), views, explain }, transfer);
    return Object.assign(top.slice(0, topK), { unknown, explanation });
  }

  /** Stops the worker; the classifier cannot be used afterwards. */
  dispose() {
    this.#worker?.terminate();
    this.#worker = null;
    for (const { reject } of this.#pending.values()) reject(new Error("this classifier was disposed"));
    this.#pending.clear();
  }
}
