// The page: user interface only. The model lives in a Web Worker (worker.js); this thread reads
// folders, draws progress and never waits on training.
import { $, dropTarget, element, setText } from "./dom.js";
import { clearDoctor, doctorMessages, initDoctor } from "./doctor.js";
import { addSkipped, clearSkipped, renderClasses } from "./images-view.js";
import { classCounts, classesLeftEmpty, filesFromDrop, filesFromPicker, organise } from "./intake.js";
import { initModels, modelMessages } from "./models.js";
import { registerServiceWorker } from "./offline.js";
import { showExplanation, showPredicting, showPrediction } from "./prediction.js";
import { progressLine, watchFrameGaps } from "./progress.js";
import { afterGpuLoss } from "./recovery.js";
import { addLoss, clearReport, recordFigures, showEpoch, showReport } from "./report.js";
import { readSettings, restoreSettings, saveSettings } from "./settings.js";
import { initWeightsPanel } from "./weights-panel.js";

const state = {
  worker: null,
  collected: [], // [{ file, path }] (and [{ path, folder }] from a drop) from every drop and pick
  items: [], // labelled images sent to the worker
  classFolders: new Map(), // label → its folders, for naming a class whose files are all refused
  filesByName: new Map(),
  imagesReady: false,
  training: false,
  paused: false,
  plan: null,
  progress: progressLine(), // rate and time left of the run
  extractionWorkers: 1, // workers sharing the current run's feature extraction
  trainingWorkers: 1, // workers splitting the current run's training batches
  run: null, // the settings of the run training now, or that failed before its end
  lastSave: null, // the autosave record of its last completed epoch
  engineReady: { weights: false, images: false }, // what the current worker holds
  resume: null, // after a lost GPU: { savedId, settings } of the run to resume (see recovery.js)
};

watchFrameGaps();

// ---- the worker --------------------------------------------------------------------------------

function startWorker() {
  state.worker?.terminate();
  state.worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
  state.worker.onmessage = ({ data }) => onMessage[data.type]?.(data);
  state.worker.onerror = (event) => setText("backend", `The engine stopped: ${event.message}`, true);
  setText("backend", "Starting the engine…");
  state.engineReady = { weights: false, images: false };
  // ?simd=plain: the plain wasm build even where relaxed SIMD is there (for comparing them).
  const plainSimd = new URLSearchParams(location.search).get("simd") === "plain";
  state.worker.postMessage({ type: "init", backend: readSettings().backend, plainSimd });
}

/** Resumes the run a lost GPU interrupted, once the new worker holds its model and images. */
function resumeWhenReady() {
  if (!state.resume || !state.engineReady.weights || !state.engineReady.images) return;
  const { savedId, settings } = state.resume;
  state.resume = null;
  startTraining(settings, savedId);
}

const send = (message) => state.worker.postMessage(message);
const rememberSettings = () => saveSettings(weightsPanel.url());

/** While a run trains, its images and weights stay as they are: says so where `id` shows status. */
function refusedWhileTraining(id, what) {
  if (state.training) setText(id, `Training is running: cancel it or let it finish before ${what}.`, true);
  return state.training;
}

function sendImages() {
  clearDoctor(state.filesByName);
  state.imagesReady = false;
  updateButtons();
  setText("images-status", `Reading ${state.items.length} images…`);
  send({ type: "addImages", items: state.items, replace: true });
}

const onMessage = {
  ready({ backend, wasmBuild }) {
    const simd = wasmBuild === "relaxed-simd" ? "WebAssembly, relaxed SIMD" : "WebAssembly";
    const where = backend.kind === "webgpu" ? `WebGPU (${backend.adapter || "adapter"})` : `the CPU (${simd})`;
    if (!state.resume) setText("backend", `Running on ${where}. ${backend.reason ? `Why: ${backend.reason}.` : ""}`);
    if (state.resume?.savedId) {
      send({ type: "openSaved", id: state.resume.savedId });
    } else if (!weightsPanel.reload()) {
      // None loaded before: the saved choice, else the latest saved model (once listed).
      if (savedChoice.explicitWeights) weightsPanel.choose(savedChoice.weightsUrl);
      else state.openLatestSaved = true;
    }
    send({ type: "listSaved" });
    if (state.items.length) sendImages();
  },
  report({ report }) {
    state.plan = report.plan;
    state.lastAccuracy = showReport(report, state.filesByName);
  },
  savedList(message) {
    modelMessages.savedList(message);
    if (!state.openLatestSaved) return;
    state.openLatestSaved = false;
    if (message.models.length) send({ type: "openSaved", id: message.models[0].id });
    else weightsPanel.choose(savedChoice.weightsUrl);
  },
  imagesProgress({ done, total }) {
    setText("images-status", `Reading images: ${done} of ${total}…`);
  },
  skipped({ name, reason }) {
    addSkipped([{ name, reason }]);
    state.items = state.items.filter((item) => item.name !== name);
    renderClasses(state.items);
  },
  imagesAdded({ count }) {
    addSkipped(classesLeftEmpty(state.classFolders, state.items));
    state.imagesReady = count > 0;
    state.engineReady.images = true;
    const classes = classCounts(state.items).length;
    setText("images-status", `${count} images in ${classes} classes ready.`);
    updateButtons();
    resumeWhenReady();
  },
  plan({ plan }) {
    state.plan = plan;
    const head = plan.continued ? " Continuing to train the opened model's head." : "";
    setText("accuracy-text", `${plan.classes.length} classes · ${plan.train_images} training and ${plan.val_images} validation images.${head}`);
  },
  progress({ progress, memory, helperMemory }) {
    showProgress(progress);
    recordFigures(progress, memory, helperMemory);
  },
  extracting({ workers }) { state.extractionWorkers = workers; },
  splitting({ workers }) {
    state.trainingWorkers = workers;
    $("progress-text").dataset.trainingWorkers = workers; // for the benchmark
  },
  extracted({ workers, helperMemory, imagesBy, seconds, startSeconds }) {
    // For the benchmark: how the extraction was shared and what a helper worker's memory came to.
    Object.assign($("progress-text").dataset, {
      extractionWorkers: workers, helperMemory, extractionSeconds: seconds.toFixed(1), helpersStartSeconds: startSeconds.toFixed(2),
      imagesHere: imagesBy.here, imagesOnHelpers: imagesBy.helpers,
    });
  },
  paused() { state.paused = true; $("pause").textContent = "Resume"; setText("progress-text", "Paused."); },
  resumed() { state.paused = false; $("pause").textContent = "Pause"; },
  stopped({ reason }) {
    state.training = false;
    state.run = null;
    state.paused = false;
    $("pause").textContent = "Pause";
    const prefix = reason === "cancelled" ? "Cancelled; the model trained so far is kept for predictions." : "Training finished.";
    setText("progress-text", `${prefix} ${state.lastAccuracy || ""}`);
    updateButtons();
  },
  prediction({ top, unknown }) { showPrediction(top, unknown); },
  explanation(explanation) { showExplanation(explanation); },
  autosaved(message) {
    state.lastSave = message.record;
    modelMessages.autosaved(message);
  },
  deviceLost({ reason }) {
    // The run may already have failed on the lost device (its error can come first): it resumes too.
    const { message, resume } = afterGpuLoss(reason, state.run, state.lastSave);
    $("settings").elements.backend.value = "cpu";
    rememberSettings();
    state.training = false;
    state.paused = false;
    $("pause").textContent = "Pause";
    state.resume = resume;
    updateButtons();
    startWorker();
    // After startWorker's "Starting the engine…": the new engine's ready leaves it while resuming.
    setText("backend", message, true);
  },
  ...doctorMessages,
  diagnosis: (message) => doctorMessages.diagnosis(message, state.plan.classes),
  saveFailed: modelMessages.saveFailed,
  exported: modelMessages.exported,
  error({ scope, message }) {
    if (scope === "loadWeights" || scope === "loadModelFile" || scope === "openSaved") {
      $("progress").value = 0;
      setText("progress-text", "Idle.");
      setText("weights-status", message, true);
    } else if (scope === "train") {
      state.training = false;
      setText("progress-text", message, true);
      updateButtons();
    } else if (scope === "predict") {
      $("prediction").replaceChildren(element("p", { className: "error", textContent: message }));
    } else if (scope === "export" || scope === "deleteSaved" || scope === "listSaved") {
      setText("storage-status", message, true);
    } else if (scope === "check" || scope === "exclude") {
      setText("doctor-status", message, true);
    } else if (scope === "init") {
      setText("backend", `The engine could not start: ${message}`, true);
    } else {
      setText("images-status", message, true);
    }
  },
};

// ---- intake ------------------------------------------------------------------------------------

function intake(files) {
  if (refusedWhileTraining("images-status", "changing the images")) return;
  const known = new Set(state.collected.map((f) => f.path));
  state.collected.push(...files.filter((f) => !known.has(f.path)));
  const { items, skipped, classFolders } = organise(state.collected);
  clearSkipped();
  addSkipped(skipped);
  state.items = items;
  state.classFolders = classFolders;
  state.filesByName = new Map(items.map((item) => [item.name, item.file]));
  renderClasses(state.items);
  if (items.length) sendImages();
  else setText("images-status", "No usable images found in what was dropped.", true);
}

// ---- training ----------------------------------------------------------------------------------

function updateButtons() {
  $("start").disabled = state.training || !weightsPanel.loaded() || !state.imagesReady;
  $("pause").disabled = !state.training;
  $("cancel").disabled = !state.training;
}

/**
 * Starts a run with the form's settings, or, after a lost GPU, resumes one: `settings` with
 * `resume_after`, from the saved model `resumes` (its report so far stays on the page).
 */
function startTraining(settings, resumes) {
  rememberSettings();
  const run = settings ?? readSettings().run;
  state.run = run;
  if (!resumes) state.lastSave = null;
  state.training = true;
  state.paused = false;
  state.progress.start();
  state.extractionWorkers = 1;
  state.trainingWorkers = 1;
  delete $("progress-text").dataset.trainingWorkers;
  state.lastAccuracy = "";
  window.frameGaps.max = 0;
  if (!resumes) clearReport();
  updateButtons();
  send({ type: "train", settings: run, resumes });
}

function showProgress(p) {
  $("progress").max = p.steps_total;
  $("progress").value = p.steps_done;
  setText("progress-text", state.progress.describe(p, { paused: state.paused, workers: p.phase === "training" ? state.trainingWorkers : state.extractionWorkers }));
  if (p.loss != null) addLoss(p.loss);
  if (p.epoch_report) state.lastAccuracy = showEpoch(p.epoch_report, state.plan.classes, state.filesByName);
}

// ---- prediction --------------------------------------------------------------------------------

/** Classifies `file` in the Predict panel; with `explain` (or the panel's checkbox) also shows where the model looked. */
function predict(file, explain = $("predict-explain").checked) {
  if (!file) return;
  showPredicting(file);
  send({ type: "predict", file, topK: 5, views: $("predict-views").value, explain });
}

// ---- wiring ------------------------------------------------------------------------------------

const savedChoice = restoreSettings();
const weightsPanel = initWeightsPanel({
  send,
  refused: refusedWhileTraining,
  onLoaded() {
    state.engineReady.weights = true;
    rememberSettings();
    updateButtons();
    resumeWhenReady();
  },
});
// The panel answers the worker's messages about the weights (weightsProgress, weightsLoaded, weightsKept).
Object.assign(onMessage, weightsPanel.messages);
initModels(send, weightsPanel.openFile);
initDoctor(send);
$("folder-picker").addEventListener("change", (event) => { intake(filesFromPicker(event.target.files)); event.target.value = ""; });
$("clear-images").addEventListener("click", () => {
  if (refusedWhileTraining("images-status", "changing the images")) return;
  state.collected = [];
  state.items = [];
  state.classFolders = new Map();
  renderClasses(state.items);
  clearSkipped();
  state.imagesReady = false;
  clearDoctor(new Map());
  send({ type: "addImages", items: [], replace: true });
  setText("images-status", "No images yet.");
  updateButtons();
});
dropTarget($("drop-zone"), async (dataTransfer) => {
  setText("images-status", "Reading folders…");
  intake(await filesFromDrop(dataTransfer));
});
dropTarget($("predict-zone"), (dataTransfer) => predict(dataTransfer.files[0]));
$("predict-picker").addEventListener("change", (event) => { predict(event.target.files[0]); event.target.value = ""; });
// A misclassified validation image, clicked: its prediction and where the model looked.
$("misclassified").addEventListener("click", (event) => {
  const file = state.filesByName.get(event.target.closest("figure")?.querySelector("img")?.title);
  if (file) { predict(file, true); $("predict-section").scrollIntoView({ behavior: "smooth" }); }
});
$("start").addEventListener("click", () => startTraining());
$("pause").addEventListener("click", () => send({ type: state.paused ? "resume" : "pause" }));
$("cancel").addEventListener("click", () => send({ type: "cancel" }));
$("settings").addEventListener("change", (event) => {
  rememberSettings();
  if (event.target.name === "backend" && !state.training) startWorker();
});
startWorker();
registerServiceWorker(new URL("../sw.js", import.meta.url));
