// A helper worker (see extraction.js): decodes image files, or, with its own wasm engine on the
// CPU holding only the backbone, reads, decodes and extracts the features of batches of image
// files the engine's worker hands it.
//
// engine worker → helper                          helper → engine worker
//   {type:"init", module[, weights | architecture]} {type:"ready"} | {type:"failed", message}
//   {type:"decode", name, file, resizing}           {type:"decoded", width, height, pixels} | {type:"failed", message}
//   {type:"fileFeatures", files:[{name, file}]}     {type:"features", features, failed, memory} | {type:"failed", message}
//   {type:"features", pixels, images, side}         {type:"features", features, memory} | {type:"failed", message}
//   {type:"frozenActivations", job, files}          {type:"frozen", activations, shape, failed, memory} | {type:"failed", message}
//   {type:"startReplica", model, settings, shares, index}  {type:"replica"} | {type:"failed", message}
//   {type:"computeShare", job}                       {type:"computed", memory} | {type:"failed", message}
// (`frozenActivations`: the frozen stages of a batch of a run that trains later stages, see
// `claimFrozenJob` in the engine's worker; `files` the job's images as `{name, file}`.)
// (`features` of normalised pixels: the benchmark's, comparable with other runtimes' tensors in.)
// `failed`: `[{position, reason}]`, the files that could not be decoded (left out of `features`).
// (`startReplica`/`computeShare`: a replica of the run's model training, or evaluating, shares
// of its batches, adding up with the other workers through shared memory, see data-parallel.js.)
// `memory`: the bytes of this helper's wasm memory, for the page's and the benchmark's figures.
import init, { WebEngine, decodeResized } from "../pkg/browser_finetune.js";
import { joinShares } from "./shares.js";

let engine = null;
let wasm = null;
let shares = null; // a replica's handle on the shared memory it adds up through

const bytesOf = async (file) => new Uint8Array(await file.arrayBuffer());

const handlers = {
  async init({ module, weights, architecture }) {
    wasm = await init({ module_or_path: module });
    if (!weights && !architecture) return; // a decoding helper
    engine = await WebEngine.create("cpu");
    if (weights) engine.loadWeights(weights);
    else engine.useRandomWeights(architecture);
  },
  async decode({ name, file, resizing }) {
    const { width, height, pixels } = decodeResized(name, await bytesOf(file), resizing);
    self.postMessage({ type: "decoded", width, height, pixels }, [pixels.buffer]);
  },
  async fileFeatures({ files }) {
    const bytes = await Promise.all(files.map(({ file }) => bytesOf(file)));
    const { features, failed } = await engine.fileFeatures(files.map(({ name }) => name), bytes);
    self.postMessage({ type: "features", features, failed, memory: wasm.memory.buffer.byteLength }, [features.buffer]);
  },
  async frozenActivations({ job, files }) {
    const bytes = await Promise.all(files.map(({ file }) => bytesOf(file)));
    const { activations, shape, failed } = await engine.frozenActivations(job, files.map(({ name }) => name), bytes);
    self.postMessage({ type: "frozen", activations, shape, failed, memory: wasm.memory.buffer.byteLength }, [activations.buffer]);
  },
  async startReplica({ model, settings, shares: memory, index }) {
    engine ??= await WebEngine.create("cpu");
    engine.startReplica(model, settings);
    shares = joinShares(memory, index);
    self.postMessage({ type: "replica" });
  },
  async computeShare({ job }) {
    await engine.computeReplicaShare(job, shares);
    self.postMessage({ type: "computed", memory: wasm.memory.buffer.byteLength });
  },
  async features({ pixels, images, side }) {
    const features = await engine.features(pixels, images, side, side);
    self.postMessage({ type: "features", features, memory: wasm.memory.buffer.byteLength }, [features.buffer]);
  },
};

// One message at a time, in order: the engine is not re-entrant, and replies must keep the order.
let queue = Promise.resolve();
self.onmessage = ({ data }) => {
  queue = queue.then(async () => {
    try {
      await handlers[data.type](data);
      if (data.type === "init") self.postMessage({ type: "ready" });
    } catch (err) {
      self.postMessage({ type: "failed", message: (err && err.message) || String(err) });
    }
  });
};
