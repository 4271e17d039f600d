// The Web Worker that owns the wasm engine: weights, images, training, prediction. The page
// talks to it only through the messages below, so the main thread never waits on the model.
//
// page → worker                                    worker → page
//   {type:"init", backend}                           {type:"ready", backend}
//   {type:"loadWeights", url}                        {type:"weightsProgress", loaded, total}
//   {type:"useRandomWeights"}                        {type:"weightsLoaded", architecture, classes, fromCache, random}
//   {type:"addImages", items:[{file,name,label,subset}]}  {type:"imagesProgress", done, total}
//                                                    {type:"skipped", name, reason}
//                                                    {type:"imagesAdded", count}
//   {type:"train", settings}                         {type:"plan", plan}, {type:"progress", progress}
//   {type:"pause"} {type:"resume"} {type:"cancel"}   {type:"paused"} {type:"resumed"} {type:"stopped", reason}
//   {type:"predict", file, topK}                     {type:"prediction", top}
//   {type:"loadModelFile", file}                     {type:"weightsLoaded", …} as for loadWeights
//   {type:"export", precision}                       {type:"exported", bytes, fileName}
//   {type:"listSaved"}                               {type:"savedList", models}
//   {type:"openSaved", id}                           {type:"weightsLoaded", …, saved}, {type:"report", report}
//   {type:"deleteSaved", id}                         {type:"savedList", models}
//   (after every epoch, by itself)                   {type:"autosaved", record} or {type:"saveFailed", message, quota}
//   (a head-only run on the CPU, see extraction.js)  {type:"extracting", workers}
//                                                    {type:"extracted", workers, helperMemory, imagesBy, seconds}
//                                                    {type:"error", scope, message}
import init, { WebEngine, decodeResized } from "../pkg/browser_finetune.js";
import { decodeInParallel, extractInParallel, helperCount } from "./extraction.js";
import { deleteModel, isQuotaError, listModels, loadModel, saveModel } from "./storage.js";
import { fetchWeights, forgetWeights, rememberWeights } from "./weights.js";

let engine = null;
let wasmModule = null; // compiled once, shared with the extraction helpers
let weightsSource = null; // what the helpers load: { weights } (the bytes loaded here) or { architecture }
let run = null; // { paused, cancelled, resume }
let model = null; // what the engine holds: { architecture, classes } (classes once trained or opened)
let report = null; // the current run's { plan, losses, epochs }, saved with the model
let queue = Promise.resolve();
// Below this many files, starting helper workers costs more than decoding here.
const PARALLEL_DECODING_FROM = 24;

const post = (message) => self.postMessage(message);
const errorText = (err) => (err && err.message) || String(err);

/** Runs engine calls one at a time: the engine is not re-entrant. */
function exclusive(task) {
  const result = queue.then(task);
  queue = result.catch(() => {});
  return result;
}

/** Lets pending messages (pause, cancel, predict) in between two training steps. */
const yieldToEvents = () => new Promise((resolve) => setTimeout(resolve, 0));

/** The file name an export is offered under: backbone, classes and date. */
function exportName(architecture, classes) {
  const date = new Date().toISOString().slice(0, 16).replace(/[:T]/g, "-");
  const names = classes.join("-").replace(/[^\w-]+/g, "_").slice(0, 60);
  return `${architecture}-${names}-${date}.safetensors`;
}

/** Saves the run so far (model, settings, report) after an epoch; reports a failure without stopping the run. */
async function autosave(record, epochReport) {
  const started = performance.now();
  try {
    const bytes = await exclusive(() => engine.exportModel("f32"));
    Object.assign(record, {
      epochs: epochReport.epoch,
      valAccuracy: epochReport.val_accuracy,
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

/** Head-only runs on the CPU share their feature extraction with helper workers (see extraction.js). */
const usesHelpers = (settings) =>
  (settings.strategy?.kind ?? "head_only") === "head_only" && engine.backend.kind === "cpu" && helperCount(false) > 0;

async function extractWithHelpers() {
  const control = {
    waitIfPaused: () => (run.paused ? new Promise((resolve) => { run.resume = resolve; }) : Promise.resolve()),
    cancelled: () => run.cancelled,
  };
  const started = performance.now();
  const onStarted = (workers) => post({ type: "extracting", workers });
  const onProgress = (progress) => post({ type: "progress", progress });
  const { helpers, helperMemory, imagesBy } = await extractInParallel({
    engine, exclusive, module: wasmModule, source: weightsSource, control, onStarted, onProgress,
  });
  post({ type: "extracted", workers: Math.max(1, helpers), helperMemory, imagesBy, seconds: (performance.now() - started) / 1000 });
}

async function train(settings) {
  const plan = await exclusive(() => engine.startTraining(settings));
  post({ type: "plan", plan });
  report = { plan, losses: [], epochs: [] };
  model.classes = plan.classes;
  const record = {
    id: `run-${Date.now()}`,
    name: `${model.architecture} · ${plan.classes.join(", ")}`,
    architecture: model.architecture,
    classes: plan.classes,
    settings,
  };
  run = { paused: false, cancelled: false, resume: null };
  try {
    if (usesHelpers(settings)) await extractWithHelpers();
    for (;;) {
      await yieldToEvents();
      if (run.paused) await new Promise((resolve) => { run.resume = resolve; });
      if (run.cancelled) {
        await exclusive(() => engine.stopTraining());
        post({ type: "stopped", reason: "cancelled" });
        return;
      }
      const progress = await exclusive(() => engine.trainStep());
      post({ type: "progress", progress });
      if (progress.loss != null) report.losses.push(progress.loss);
      if (progress.epoch_report) {
        report.epochs.push(progress.epoch_report);
        await autosave(record, progress.epoch_report);
      }
      if (progress.steps_done >= progress.steps_total || progress.phase === "finished") {
        post({ type: "stopped", reason: "finished" });
        return;
      }
    }
  } finally {
    run = null;
  }
}

/** Decodes the files (on helper workers too, where there are cores to spare) and keeps the images in the engine. */
async function addImages(items) {
  let done = 0;
  let added = 0;
  const onResult = async (item, decoded, error) => {
    try {
      if (error) throw error;
      const { width, height, pixels } = decoded;
      await exclusive(() => engine.addDecoded(item.name, width, height, pixels, item.label, item.subset ?? undefined));
      added += 1;
    } catch (err) {
      post({ type: "skipped", name: item.name, reason: errorText(err) });
    }
    done += 1;
    if (done % 8 === 0 || done === items.length) post({ type: "imagesProgress", done, total: items.length });
  };
  const shorterSide = engine.resizeShorterSide;
  const decodeHere = (name, bytes) => decodeResized(name, bytes, shorterSide);
  if (helperCount(true) > 0 && items.length >= PARALLEL_DECODING_FROM) {
    await decodeInParallel({ items, module: wasmModule, shorterSide, decodeHere, onResult });
  } else {
    for (const item of items) {
      let decoded, error;
      try {
        decoded = decodeHere(item.name, new Uint8Array(await item.file.arrayBuffer()));
      } catch (err) {
        error = err;
      }
      await onResult(item, decoded, error);
    }
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
  async init({ backend }) {
    wasmModule = await WebAssembly.compileStreaming(fetch(new URL("../pkg/browser_finetune_bg.wasm", import.meta.url)));
    await init({ module_or_path: wasmModule });
    engine = await WebEngine.create(backend || "auto");
    post({ type: "ready", backend: engine.backend });
  },
  async loadWeights({ url }) {
    const { bytes, fromCache } = await fetchWeights(url, (loaded, total) => post({ type: "weightsProgress", loaded, total }));
    try {
      await load(bytes, { fromCache });
    } catch (err) {
      if (fromCache) await forgetWeights(url);
      throw new Error(`${url}: ${errorText(err)}`);
    }
    if (!fromCache) await rememberWeights(url, bytes);
  },
  async loadModelFile({ file }) {
    try {
      await load(new Uint8Array(await file.arrayBuffer()), { fileName: file.name });
    } catch (err) {
      throw new Error(`${file.name}: ${errorText(err)}`);
    }
  },
  async useRandomWeights() {
    await exclusive(() => engine.useRandomWeights("ResNet18"));
    weightsSource = { architecture: "ResNet18" };
    model = { architecture: "ResNet18", classes: [] };
    post({ type: "weightsLoaded", architecture: "ResNet18", classes: 1000, fromCache: false, random: true });
  },
  async addImages({ items, replace }) {
    if (replace) await exclusive(() => engine.clearImages());
    await addImages(items);
  },
  async train({ settings }) {
    await train(settings);
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
  async export({ precision }) {
    const bytes = await exclusive(() => engine.exportModel(precision || "f32"));
    const fileName = exportName(model.architecture, model.classes);
    self.postMessage({ type: "exported", bytes, fileName }, [bytes.buffer]);
  },
  async listSaved() {
    post({ type: "savedList", models: await listModels() });
  },
  async openSaved({ id }) {
    const { record, bytes } = await loadModel(id);
    await load(bytes, { saved: { id: record.id, name: record.name } });
    report = record.report;
    post({ type: "report", report: record.report, settings: record.settings });
  },
  async deleteSaved({ id }) {
    await deleteModel(id);
    post({ type: "savedList", models: await listModels() });
  },
  async predict({ file, topK }) {
    const bytes = new Uint8Array(await file.arrayBuffer());
    const top = await exclusive(() => engine.predict(file.name, bytes, topK || 5));
    post({ type: "prediction", top });
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
