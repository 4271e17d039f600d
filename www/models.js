// Keeping what was trained: the saved-models list, autosave status, export (download) and opening
// model files. The worker does the work (storage.js, the engine); this module only draws and asks.
import { $, element, percent } from "./dom.js";

const megabytes = (bytes) => `${(bytes / 1048576).toFixed(1)} MB`;

let send = null;
let persistence = null; // the answer to the one request for persistent storage (see persistenceNote)

const cell = (text) => element("td", { textContent: text });
const button = (text, onclick) => element("button", { type: "button", textContent: text, onclick });

function setStorageText(text, isError = false) {
  $("storage-status").textContent = text;
  $("storage-status").classList.toggle("error", isError);
}

/** Hands the browser a file to save, under `fileName`. */
function download(bytes, fileName) {
  const url = URL.createObjectURL(new Blob([bytes], { type: "application/octet-stream" }));
  const link = Object.assign(document.createElement("a"), { href: url, download: fileName });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

function exportModel() {
  setStorageText("Preparing the model file…");
  send({ type: "export", format: $("export-format").value });
}

/**
 * Asks once, after the first save, that the browser keep this site's storage under pressure. One
 * promise for every save: their messages then land in the order the saves came, so a slow first
 * answer cannot write an older epoch over a newer one.
 */
function persistenceNote() {
  persistence ??= navigator.storage?.persist
    ? (async () => ((await navigator.storage.persisted()) || (await navigator.storage.persist())
      ? " Storage is persistent."
      : " The browser may clear it when space runs low: download models you want to keep."))()
    : Promise.resolve("");
  return persistence;
}

export const modelMessages = {
  async autosaved({ record, milliseconds }) {
    const note = await persistenceNote();
    setStorageText(`Saved in this browser after epoch ${record.epochs} (${megabytes(record.size)} in ${milliseconds} ms).${note}`);
    send({ type: "listSaved" });
  },
  saveFailed({ message, quota }) {
    const reason = quota ? "this browser's storage for the site is full" : message;
    setStorageText(`The model could not be saved in this browser: ${reason}. Training goes on; download the model to keep it. `, true);
    $("storage-status").append(button("Download the model", exportModel));
  },
  exported({ bytes, fileName, note }) {
    download(bytes, fileName);
    setStorageText(`Downloaded ${fileName} (${megabytes(bytes.byteLength)}).${note ? ` ${note}` : ""}`);
  },
  savedList({ models }) {
    const body = $("saved-models").tBodies[0];
    const best = bestRuns(models);
    body.replaceChildren(...models.map((m) => {
      const actions = element("td", {}, [
        button("Open", () => send({ type: "openSaved", id: m.id })),
        button("Download", () => send({ type: "exportSaved", id: m.id })),
        button("Delete", () => { if (confirm(`Delete the saved model “${m.name}”?`)) send({ type: "deleteSaved", id: m.id }); }),
      ]);
      const accuracy = cell(`${percent(m.valAccuracy)}${best.has(m.id) ? " ★" : ""}`);
      accuracy.classList.toggle("best", best.has(m.id));
      return element("tr", {}, [cell(m.architecture), cell(m.classes.join(", ")), cell(describeRun(m)),
        accuracy, cell(`${m.epochs}`), cell(m.seconds != null ? duration(m.seconds) : "–"),
        cell(new Date(m.date).toLocaleString()), cell(megabytes(m.size)), actions]);
    }));
    $("saved-models").hidden = !models.length;
    $("saved-empty").hidden = models.length > 0;
  },
};

const duration = (seconds) => (seconds < 60 ? `${seconds.toFixed(0)} s` : `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`);

/** The ids of the runs with the best validation accuracy (ties included) among those on the same classes. */
function bestRuns(models) {
  const task = (m) => m.classes.join("\n");
  const best = new Map(); // classes → best accuracy
  for (const m of models) if (m.valAccuracy != null) best.set(task(m), Math.max(best.get(task(m)) ?? 0, m.valAccuracy));
  return new Set(models.filter((m) => m.valAccuracy != null && m.valAccuracy === best.get(task(m))).map((m) => m.id));
}

const STRATEGIES = {
  head_only: () => "Head only",
  last_stages: (s) => `Last ${s.stages} stage${s.stages > 1 ? "s" : ""} + head`,
  full: () => "Full fine-tune",
  progressive: (s) => `Progressive: a stage every ${(s.every ?? 2) === 1 ? "epoch" : `${s.every ?? 2} epochs`}${(s.lr_factor ?? 1) < 1 ? `, rate ×${s.lr_factor} per earlier stage` : ""}`,
  logistic_regression: () => "Logistic regression",
  linear_svm: () => "Linear SVM",
};

/** A run's strategy and the settings that matter for it, in words. */
function describeRun({ settings: run = {}, fit }) {
  const strategy = run.strategy ?? { kind: "head_only" };
  const name = (STRATEGIES[strategy.kind] ?? (() => strategy.kind))(strategy);
  if (fit) return `${name} · C ${fit.c}${fit.cv_accuracy != null ? ` (${fit.folds}-fold CV)` : ""}`;
  const optimizer = run.optimizer?.kind === "sgd" ? `SGD momentum ${run.optimizer.momentum}` : "Adam";
  return `${name} · ${optimizer} lr ${run.learning_rate ?? 0.001} · batch ${run.batch_size ?? 32}`;
}

/** What the status line says about a model opened from a file, a URL or this browser's storage. */
export function describeOpenedModel({ architecture, class_names, training, saved, fileName }) {
  const from = saved ? `saved model “${saved.name}”` : fileName ? `model file ${fileName}` : "model";
  const trained = training
    ? ` Trained ${training.epochs_completed ?? "?"} epoch(s)${training.val_accuracy != null ? `, validation accuracy ${percent(training.val_accuracy)}` : ""}${training.date ? `, ${new Date(training.date).toLocaleDateString()}` : ""}.`
    : "";
  return `Opened the ${from}: ${architecture}, classes ${class_names.join(", ")}.${trained} ` +
    "Predict below, download it, or train on the same classes to continue training it.";
}

export function initModels(sendMessage, openFile) {
  send = sendMessage;
  $("export").addEventListener("click", exportModel);
  $("model-picker").addEventListener("change", (event) => {
    const file = event.target.files[0];
    if (file) openFile(file);
    event.target.value = "";
  });
}
