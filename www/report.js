// The run's report on the page: loss and accuracy curves, per-class accuracy, the confusion matrix,
// the probabilities' calibration and misclassified images, drawn live from the worker's progress
// or restored from a saved model.
import { LineChart } from "./charts.js";
import { $, element, percent, setText, thumbnail } from "./dom.js";

const lossChart = new LineChart($("loss-chart"), { series: [{ name: "train loss", color: "#2a6fdb" }], xLabel: "batch" });
const accuracyChart = new LineChart($("accuracy-chart"), {
  series: [{ name: "train", color: "#2a6fdb" }, { name: "validation", color: "#e07b00" }],
  yRange: [0, 1],
  xLabel: "epoch",
});
/** Accuracy against mean confidence per bin, before and after temperature scaling. */
const reliabilityChart = new LineChart($("reliability-chart"), {
  series: [{ name: "ideal", color: "#bbb" }, { name: "before", color: "#2a6fdb" }, { name: "after", color: "#e07b00" }],
  yRange: [0, 1],
  xLabel: "confidence",
});

export function clearReport() {
  lossChart.clear();
  accuracyChart.clear();
  $("results-section").hidden = true;
  setText("accuracy-text", "");
}

export function addLoss(loss) {
  lossChart.add(0, lossChart.series[0].points.length + 1, loss);
}

/** Draws one epoch's report; returns its accuracy in a sentence. `filesByName` gives thumbnails. */
export function showEpoch(report, classes, filesByName) {
  accuracyChart.add(0, report.epoch, report.train_accuracy);
  if (report.val_accuracy != null) accuracyChart.add(1, report.epoch, report.val_accuracy);
  setText("accuracy-text", `Epoch ${report.epoch}: loss ${report.train_loss.toFixed(4)} · training accuracy ${percent(report.train_accuracy)} · validation accuracy ${percent(report.val_accuracy)}${stagesText(report.trained_stages)}${fitText(report.fit)}`);
  $("accuracy-text").dataset.valAccuracy = report.val_accuracy ?? "";
  $("accuracy-text").dataset.epoch = report.epoch;

  $("results-section").hidden = false;
  setText("results-epoch", String(report.epoch));
  $("per-class").tBodies[0].replaceChildren(...classes.map((name, i) =>
    element("tr", {}, [element("td", { textContent: name }), element("td", { textContent: percent(report.per_class_accuracy[i]) })])));
  $("confusion").replaceChildren(...confusionRows(report.confusion.counts, classes));
  showCalibration(report.calibration);
  $("misclassified").replaceChildren(...report.misclassified.map((m) => {
    const file = filesByName.get(m.name);
    const caption = `${classes[m.predicted]} (${percent(m.confidence)}), truly ${classes[m.truth]}`;
    return element("figure", {}, [file ? thumbnail(file, m.name) : "", element("figcaption", { textContent: caption })]);
  }));
  if (!report.misclassified.length) $("misclassified").append(element("p", { className: "muted", textContent: "None." }));
  return `Validation accuracy ${percent(report.val_accuracy)}, training ${percent(report.train_accuracy)}.`;
}

/** The reliability diagram and the expected calibration error before and after the temperature
 * fitted on the validation images (absent for runs without them, or saved before calibration). */
function showCalibration(calibration) {
  $("calibration").hidden = !calibration;
  if (!calibration) return;
  const { temperature, fit, before, after } = calibration;
  reliabilityChart.clear();
  reliabilityChart.add(0, 0, 0);
  reliabilityChart.add(0, 1, 1);
  for (const [series, { bins }] of [[1, before], [2, after]]) {
    for (const bin of bins) if (bin.count) reliabilityChart.add(series, bin.confidence, bin.accuracy);
  }
  const how = fit === "likelihood"
    ? "fitted on the validation images"
    : "chosen so that the mean confidence is the accuracy the validation images vouch for, as every one of them is right";
  setText("calibration-text", `Expected calibration error ${percent(before.ece)} → ${percent(after.ece)}: the probabilities shown and exported are the logits divided by a temperature of ${temperature.toFixed(2)}, ${how}.`);
  Object.assign($("calibration-text").dataset, { eceBefore: before.ece, eceAfter: after.ece, temperature });
}

/** Up to this many classes the whole confusion matrix is drawn; beyond, its largest confusions. */
const FULL_CONFUSION_CLASSES = 30;
const LARGEST_CONFUSIONS = 15;

/** The confusion matrix as table rows: whole for a few classes, else the most frequent mistakes
 * (a 200-class matrix is 40,000 cells, redrawn every epoch). */
function confusionRows(counts, classes) {
  const cell = (tag, text) => element(tag, { textContent: text });
  if (classes.length <= FULL_CONFUSION_CLASSES) {
    const header = element("tr", {}, [cell("th", "true ↓ predicted →"), ...classes.map((name) => cell("th", name))]);
    return [header, ...counts.map((row, i) => element("tr", {}, [cell("th", classes[i]), ...row.map((n) => cell("td", String(n)))]))];
  }
  const mistakes = counts.flatMap((row, truth) => row.map((n, predicted) => ({ truth, predicted, n })))
    .filter(({ truth, predicted, n }) => truth !== predicted && n > 0)
    .sort((a, b) => b.n - a.n)
    .slice(0, LARGEST_CONFUSIONS);
  const header = element("tr", {}, [cell("th", "True class"), cell("th", "Predicted as"), cell("th", "Images")]);
  const rows = mistakes.map(({ truth, predicted, n }) => element("tr", {}, [cell("td", classes[truth]), cell("td", classes[predicted]), cell("td", String(n))]));
  return [header, ...(rows.length ? rows : [element("tr", {}, [cell("td", "No confusions.")])])];
}

/** Which part of the backbone trained in the epoch, when it was not all or none of it. */
const stagesText = (stages) => (stages ? ` · trained: head + last ${stages} stage${stages > 1 ? "s" : ""}` : "");

/** How a fitted classifier's C was chosen, in words. */
function fitText(fit) {
  if (!fit) return "";
  const how = fit.cv_accuracy != null
    ? `chosen by ${fit.folds}-fold cross-validation (held-out accuracy ${percent(fit.cv_accuracy)})`
    : "(a class has one training image: no cross-validation)";
  return ` · C = ${fit.c} ${how}${fit.converged ? "" : " · the fit did not fully converge"}`;
}

/** Redraws a saved run's whole report: `{ plan, losses, epochs }`. */
export function showReport({ plan, losses, epochs }, filesByName) {
  clearReport();
  losses.forEach(addLoss);
  let summary = "";
  for (const epoch of epochs) summary = showEpoch(epoch, plan.classes, filesByName);
  return summary;
}

/**
 * Keeps the run's figures on the progress line's data attributes, for the benchmarks: the engine
 * worker's wasm `memory` now and at its largest, and for each epoch so far its memory at the end,
 * comma-separated; and the largest wasm memory of a helper that computes shares of the batches
 * (`helperMemory`, when they are split across workers).
 */
export function recordFigures(progress, memory, helperMemory) {
  const data = $("progress-text").dataset;
  data.wasmMemory = memory;
  data.peakWasmMemory = Math.max(memory, Number(data.peakWasmMemory || 0));
  if (helperMemory) data.peakHelperMemory = Math.max(helperMemory, Number(data.peakHelperMemory || 0));
  const epoch = progress.epoch_report?.epoch;
  if (!epoch) return;
  data.epochWasmMemory = epoch > 1 && data.epochWasmMemory ? `${data.epochWasmMemory},${memory}` : `${memory}`;
}
