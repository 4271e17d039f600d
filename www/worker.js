// The Web Worker that owns the wasm engine: weights, images, training, prediction. The page
// talks to it only through the messages below, so the main thread never waits on the model.
//
// page → worker                                    worker → page
//   {type:"init", backend, plainSimd}                {type:"ready", backend, wasmBuild}
//   {type:"loadWeights", url}                        {type:"weightsProgress", loaded, total}
//                                                    {type:"weightsKept", url, failure} (a download, once in the weights cache or not)
//   {type:"useRandomWeights"}                        {type:"weightsLoaded", architecture, classes, fromCache, random}
//   {type:"addImages", items:[{file,name,label,subset}]}  {type:"imagesProgress", done, total}
//                                                    {type:"skipped", name, reason}
//                                                    {type:"imagesAdded", count}
//   {type:"train", settings, resumes}                {type:"plan", plan}, {type:"progress", progress, memory}
//                                                    {type:"skipped", name, reason} (a file that fails to decode in a run)
//   {type:"pause"} {type:"resume"} {type:"cancel"}   {type:"paused"} {type:"resumed"} {type:"stopped", reason}
//   {type:"predict", file, topK, views, explain}     {type:"prediction", top, unknown}, then with explain
//                                                    {type:"explanation", class, map, crop_share} (Grad-CAM)
//   {type:"loadModelFile", file}                     {type:"weightsLoaded", …} as for loadWeights
//   {type:"export", format: f32|f16|onnx|onnx-int8}  {type:"exported", bytes, fileName, note?}
//   {type:"listSaved"}                               {type:"savedList", models}
//   {type:"openSaved", id}                           {type:"weightsLoaded", …, saved}, {type:"report", report}
//   {type:"deleteSaved", id}                         {type:"savedList", models}
//   {type:"exportSaved", id}                         {type:"exported", bytes, fileName}
//   (after every epoch, by itself)                   {type:"autosaved", record} or {type:"saveFailed", message, quota}
// `memory`: the bytes of this worker's wasm memory, for the page's and the benchmark's figures;
// `helperMemory`: the largest helper's, when the run's batches are split across workers.
// The images stay `File`s, checked by their header when added and decoded when a step needs them.
//   (a head-only run on the CPU, see extraction.js)  {type:"extracting", workers}
//                                                    {type:"extracted", workers, helperMemory, imagesBy, seconds, startSeconds}
//   (a run that trains the backbone, its batches split across workers, see data-parallel.js)
//                                                    {type:"splitting", workers} (again with 1 if a helper is lost)
//   (a run on cached features, after its 1st epoch)  {type:"checking", …}, {type:"diagnosis", …} (see check.js)
//                                                    {type:"leak", effect} (after the run, when it was checked)
//   {type:"exclude", indices, excluded}              {type:"excluded", indices, excluded} (removed from later runs, or back)
//   (the WebGPU device is lost)                      {type:"deviceLost", reason}
//                                                    {type:"error", scope, message}
// `resumes`: the id of the saved model (opened with openSaved) of a run this one resumes, after
// the GPU was lost: its saved entry and report go on.
import init, { WebEngine, decodeResized } from "../pkg/browser_finetune.js";
import { checkData, reportLeak } from "./check.js";
import { splitBatches } from "./data-parallel.js";
import { extractInParallel, frozenStagesOnHelpers, helperCount } from "./extraction.js";
import { decoders, keptImages, supplyStepImages } from "./step-images.js";
import { deleteModel, isQuotaError, listModels, loadModel, saveModel } from "./storage.js";
import { wasmBuild, wasmUrl } from "./wasm-build.js";
import { fetchWeights, forgetWeights, rememberWeights } from "./weights.js";

let engine = null;
let onGpu = false; // whether the engine runs on WebGPU (read once: the lost device's handler must not call it)
let wasm = null; // the instance's exports, for its memory
let wasmModule = null; // compiled once, shared with the extraction helpers
let images = []; // the registered images by engine index: { file, name }
const decodedImages = keptImages(); // decoded for a step, kept for the epochs and runs that follow
/** How many validation photos an int8 ONNX export calibrates its activations on. */
const CALIBRATION_IMAGES = 32;
let weightsSource = null; // what the helpers load: { weights } (the bytes loaded here) or { architecture }
let run = null; // { paused, cancelled, resume }
let model = null; // what the engine holds: { architecture, classes } (classes once trained or opened)
let report = null; // the current run's { plan, losses, epochs }, saved with the model
let queue = Promise.resolve();

const post = (message) => self.postMessage(message);
const postProgress = (progress, helperMemory) => post({ type: "progress", progress, memory: wasm.memory.buffer.byteLength, helperMemory });
const errorText = (err) => (err && err.message) || String(err);
/** A file left out of the run: it could not be decoded. */
const skipped = (image, reason) => post({ type: "skipped", name: image.name, reason });

/** A run's images and weights stay as they are until it ends: other messages that would change them are refused. */
function refuseDuringRun(what) {
  if (run) throw new Error(`a training run is in progress: cancel it or let it finish before ${what}`);
}

/**
 * Watches the WebGPU device the engine asks for: when it is lost while the engine runs on it (a
 * driver reset, the GPU switched or removed), the page is told and starts a new worker on the CPU.
 * The device stays reachable as `self.gpuDevice`, where a test destroys it to cause a loss.
 */
function watchGpuDevice() {
  const adapter = self.GPUAdapter?.prototype;
  if (!adapter || adapter.requestDevice.watched) return;
  const requestDevice = adapter.requestDevice;
  adapter.requestDevice = Object.assign(async function watchedRequestDevice(...args) {
    const device = await requestDevice.apply(this, args);
    self.gpuDevice = device;
    // Only a loss while the engine runs on WebGPU matters ("auto" may have chosen the CPU).
    device.lost.then((info) => {
      if (onGpu) post({ type: "deviceLost", reason: info.message || String(info.reason) });
    });
    return device;
  }, { watched: true });
}

/** Runs engine calls one at a time: the engine is not re-entrant. */
function exclusive(task) {
  const result = queue.then(task);
  queue = result.catch(() => {});
  return result;
}

/** Lets pending messages (pause, cancel, predict) in between two training steps. */
const yieldToEvents = () => new Promise((resolve) => setTimeout(resolve, 0));

/** The file name an export is offered under: backbone, classes and date. */
function exportName(architecture, classes, extension = "safetensors") {
  const date = new Date().toISOString().slice(0, 16).replace(/[:T]/g, "-");
  const names = classes.join("-").replace(/[^\w-]+/g, "_").slice(0, 60);
  return `${architecture}-${names}-${date}.${extension}`;
}

/** Saves the run so far (model, settings, report) after an epoch; reports a failure without stopping the run. */
async function autosave(record, epochReport) {
  const started = performance.now();
  try {
    const bytes = await exclusive(() => engine.exportModel("f32"));
    Object.assign(record, {
      epochs: epochReport.epoch,
      valAccuracy: epochReport.val_accuracy,
      seconds: report.seconds,
      fit: epochReport.fit,
      date: new Date().toISOString(),
      size: bytes.length,
      report,
    });
    await saveModel(record, bytes);
    const { report: _, ...summary } = record;
    post({ type: "autosaved", record: summary, milliseconds: Math.round(performance.now() - started) });
  } catch (err) {
    post({ type: "saveFailed", message: errorText(err), quota: isQuotaError(err) });
  }
}

/** Runs on cached features on the CPU share their extraction with helper workers (see extraction.js). */
const usesHelpers = (plan) => plan.cached_features && engine.backend.kind === "cpu" && helperCount(false) > 0;

async function extractWithHelpers() {
  const control = {
    waitIfPaused: () => (run.paused ? new Promise((resolve) => { run.resume = resolve; }) : Promise.resolve()),
    cancelled: () => run.cancelled,
  };
  const started = performance.now();
  const onStarted = (workers) => post({ type: "extracting", workers });
  const { helpers, helperMemory, imagesBy, startSeconds } = await extractInParallel({
    engine, exclusive, images, module: wasmModule, source: weightsSource, control, onStarted, onProgress: postProgress, onFailed: skipped,
  });
  post({ type: "extracted", workers: Math.max(1, helpers), helperMemory, imagesBy, seconds: (performance.now() - started) / 1000, startSeconds });
}

/**
 * On the CPU, a run that trains later stages has its frozen stages computed on helper workers
 * ahead of its steps (see extraction.js); they load the same weights file. Not with random
 * weights: each instance would draw its own.
 */
function frozenStages() {
  if (engine.backend.kind !== "cpu" || !weightsSource?.weights) return null;
  return frozenStagesOnHelpers({ engine, exclusive, images, module: wasmModule, source: weightsSource, onFailed: skipped });
}

async function train(settings, resumes) {
  // Taken before the first await, so that messages refused during a run are refused from now on.
  run = { paused: false, cancelled: false, resume: null };
  const decoding = decoders(wasmModule, (name, bytes) => decodeResized(name, bytes, engine.resizing));
  let frozen = null;
  let split = null;
  try {
    const plan = await exclusive(() => engine.startTraining(settings));
    post({ type: "plan", plan });
    // Batches split across workers where the page may share memory; else, for a run that trains
    // later stages, its frozen stages computed on helpers ahead of the steps.
    split = await splitBatches({ engine, exclusive, module: wasmModule, settings, plan,
      onUnavailable: (reason) => console.info(`Training on one worker: ${reason}`),
      onAlone: (reason) => {
        console.warn(`Training on one worker from here on: ${reason}`);
        post({ type: "splitting", workers: 1 });
      } });
    if (split) post({ type: "splitting", workers: split.engines });
    else frozen = frozenStages();
    // A resumed run's report goes on from the saved one (opened with it).
    report = resumes && report
      ? { plan, losses: report.losses, epochs: report.epochs, seconds: report.seconds ?? 0 }
      : { plan, losses: [], epochs: [], seconds: 0 };
    // Training time, summed over the runs of a resumed one.
    const startedAt = performance.now() - report.seconds * 1000;
    model.classes = plan.classes;
    const record = {
      id: resumes ?? `run-${Date.now()}`,
      name: `${model.architecture} · ${plan.classes.join(", ")}`,
      architecture: model.architecture,
      classes: plan.classes,
      settings,
    };
    if (usesHelpers(plan)) await extractWithHelpers();
    let checked = !plan.cached_features;
    for (;;) {
      await yieldToEvents();
      if (run.paused) await new Promise((resolve) => { run.resume = resolve; });
      if (run.cancelled) {
        await exclusive(() => engine.stopTraining());
        post({ type: "stopped", reason: "cancelled" });
        return;
      }
      await frozen?.supplyNext();
      await supplyStepImages({ engine, exclusive, images, decoding, kept: decodedImages, onFailed: skipped });
      await split?.beforeStep();
      const progress = await exclusive(() => engine.trainStep());
      await split?.afterStep();
      postProgress(progress, split?.helperMemory());
      if (progress.loss != null) report.losses.push(progress.loss);
      if (progress.epoch_report) {
        report.epochs.push(progress.epoch_report);
        report.seconds = (performance.now() - startedAt) / 1000;
        await autosave(record, progress.epoch_report);
      }
      // After the first accuracy, which should not wait on it (its work grows with the square of
      // the images); a run of one epoch (or one fit) lets its features go with its last step, so
      // it is checked as soon as they are all extracted.
      if (!checked && progress.phase !== "extracting" && (progress.epoch_report || progress.epochs === 1)) {
        checked = true;
        await checkData({ engine, exclusive, images, post, yieldToEvents, cancelled: () => run.cancelled });
      }
      if (progress.steps_done >= progress.steps_total || progress.phase === "finished") {
        await reportLeak({ engine, exclusive, post });
        post({ type: "stopped", reason: "finished" });
        return;
      }
    }
  } catch (err) {
    // The run ends here; what it trained so far is kept for predictions and export.
    await exclusive(() => engine.stopTraining());
    throw err;
  } finally {
    run = null;
    await decoding.close();
    await frozen?.close();
    await split?.close();
  }
}

/** Headers are read from the start of a file; a file whose header runs further is read whole. */
const HEADER_BYTES = 256 * 1024;

/** Registers an image file with the engine, which checks its header; returns its index. */
async function register({ file, name, label, subset }) {
  const add = async (blob) => {
    const bytes = new Uint8Array(await blob.arrayBuffer());
    return exclusive(() => engine.addImageFile(name, bytes, label, subset ?? undefined));
  };
  if (file.size <= HEADER_BYTES) return add(file);
  try {
    return await add(file.slice(0, HEADER_BYTES));
  } catch {
    return add(file);
  }
}

/**
 * Checks each file's header and registers it with the engine: the files stay here and are decoded
 * when a step needs them, so that memory does not grow with their number.
 */
async function addImages(items) {
  let added = 0;
  for (const [done, item] of items.entries()) {
    try {
      const index = await register(item);
      images[index] = { file: item.file, name: item.name };
      added += 1;
    } catch (err) {
      post({ type: "skipped", name: item.name, reason: errorText(err) });
    }
    if ((done + 1) % 32 === 0 || done + 1 === items.length) post({ type: "imagesProgress", done: done + 1, total: items.length });
  }
  post({ type: "imagesAdded", count: added });
}

/** Loads weights or an exported model from bytes and tells the page what they hold. */
async function load(bytes, extra) {
  const loaded = await exclusive(() => engine.loadWeights(bytes));
  weightsSource = { weights: bytes };
  model = { architecture: loaded.architecture, classes: loaded.class_names ?? [] };
  post({ type: "weightsLoaded", ...loaded, fromCache: false, random: false, ...extra });
}

const handlers = {
  async init({ backend, plainSimd }) {
    const build = wasmBuild({ plain: plainSimd });
    wasmModule = await WebAssembly.compileStreaming(fetch(wasmUrl(build)));
    wasm = await init({ module_or_path: wasmModule });
    watchGpuDevice();
    engine = await WebEngine.create(backend || "auto");
    onGpu = engine.backend.kind === "webgpu";
    post({ type: "ready", backend: engine.backend, wasmBuild: build });
  },
  async loadWeights({ url }) {
    refuseDuringRun("loading other weights");
    const { bytes, fromCache } = await fetchWeights(url, (loaded, total) => post({ type: "weightsProgress", loaded, total }));
    try {
      await load(bytes, { fromCache });
    } catch (err) {
      if (fromCache) await forgetWeights(url);
      throw new Error(`${url}: ${errorText(err)}`);
    }
    if (fromCache) return;
    // The page says when the file is kept: a reload before then would download it again. A full
    // storage costs the next visit a download, not the weights just loaded.
    try {
      await rememberWeights(url, bytes);
      post({ type: "weightsKept", url });
    } catch (err) {
      post({ type: "weightsKept", url, failure: isQuotaError(err) ? "this browser's storage is full" : errorText(err) });
    }
  },
  async loadModelFile({ file }) {
    refuseDuringRun("opening a model");
    try {
      await load(new Uint8Array(await file.arrayBuffer()), { fileName: file.name });
    } catch (err) {
      throw new Error(`${file.name}: ${errorText(err)}`);
    }
  },
  async useRandomWeights() {
    refuseDuringRun("changing the weights");
    await exclusive(() => engine.useRandomWeights("ResNet18"));
    weightsSource = { architecture: "ResNet18" };
    model = { architecture: "ResNet18", classes: [] };
    post({ type: "weightsLoaded", architecture: "ResNet18", classes: 1000, fromCache: false, random: true });
  },
  async addImages({ items, replace }) {
    refuseDuringRun("changing the images");
    if (replace) {
      await exclusive(() => engine.clearImages());
      images = [];
      decodedImages.clear();
    }
    await addImages(items);
  },
  async exclude({ indices, excluded }) {
    refuseDuringRun("removing or bringing back images");
    await exclusive(() => engine.setExcluded(Uint32Array.from(indices), excluded));
    post({ type: "excluded", indices, excluded });
  },
  async train({ settings, resumes }) {
    refuseDuringRun("starting another");
    await train(settings, resumes);
  },
  pause() {
    if (run) { run.paused = true; post({ type: "paused" }); }
  },
  resume() {
    if (run && run.paused) { run.paused = false; run.resume?.(); post({ type: "resumed" }); }
  },
  cancel() {
    if (run) { run.cancelled = true; run.paused = false; run.resume?.(); }
  },
  async export({ format = "f32" }) {
    const onnx = format.startsWith("onnx");
    const int8 = format === "onnx-int8";
    // int8 activations calibrated on the latest run's validation photos (none after opening a
    // saved model: then only the weights are int8, and the file's metadata says so).
    const calibration = int8 ? Array.from(await exclusive(() => engine.calibrationImages(CALIBRATION_IMAGES)), (index) => images[index]) : [];
    const names = calibration.map(({ name }) => name);
    const files = await Promise.all(calibration.map(async ({ file }) => new Uint8Array(await file.arrayBuffer())));
    const bytes = await exclusive(() => (onnx ? engine.exportOnnx(false, int8, names, files) : engine.exportModel(format)));
    const fileName = exportName(model.architecture, model.classes, { onnx: "onnx", "onnx-int8": "int8.onnx" }[format] ?? "safetensors");
    const note = int8 && !calibration.length
      ? "Only its weights are int8: no photos of a run are at hand to calibrate the activations on (train on your folder in this visit, then download again)."
      : int8 ? `Its activations were calibrated on ${calibration.length} of your validation photos.` : undefined;
    self.postMessage({ type: "exported", bytes, fileName, note }, [bytes.buffer]);
  },
  async listSaved() {
    post({ type: "savedList", models: await listModels() });
  },
  async openSaved({ id }) {
    refuseDuringRun("opening a saved model");
    const { record, bytes } = await loadModel(id);
    await load(bytes, { saved: { id: record.id, name: record.name } });
    report = record.report;
    post({ type: "report", report: record.report, settings: record.settings });
  },
  async exportSaved({ id }) {
    const { record, bytes } = await loadModel(id);
    self.postMessage({ type: "exported", bytes, fileName: exportName(record.architecture, record.classes) }, [bytes.buffer]);
  },
  async deleteSaved({ id }) {
    await deleteModel(id);
    post({ type: "savedList", models: await listModels() });
  },
  async predict({ file, topK, views, explain }) {
    const bytes = new Uint8Array(await file.arrayBuffer());
    const { top, unknown } = await exclusive(() => engine.predict(file.name, bytes, topK || 5, views || "centre"));
    post({ type: "prediction", top, unknown });
    if (explain) post({ type: "explanation", ...(await exclusive(() => engine.explain(file.name, bytes, null))) });
  },
};

self.onmessage = async ({ data }) => {
  const handler = handlers[data.type];
  if (!handler) return post({ type: "error", scope: data.type, message: `unknown message ${data.type}` });
  try {
    await handler(data);
  } catch (err) {
    post({ type: "error", scope: data.type, message: errorText(err) });
  }
};
