// The data check's findings (check.js in the worker, src/doctor/ in the engine): near-duplicates,
// labels that look wrong, images unlike their class and the classes most confused, each image
// with its thumbnail and a "Remove from this run" button. Removing tells the worker to leave the
// image out of the runs started from now on; the user's files are never changed.
import { $, element, percent, setText, thumbnail } from "./dom.js";

let send = null;
let filesByName = new Map();
let classes = [];
/** Removed images: dataset index → name. */
const removed = new Map();
let lastDiagnosis = null;
/** The last diagnosis's file names, by dataset index. */
let lastNames = {};
/** When the check in progress started, for its time on the page (`#doctor-status` data-seconds). */
let checkStartedAt = 0;

/** Wires the remove buttons to the worker; call once. */
export function initDoctor(sendMessage) {
  send = sendMessage;
  $("doctor").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-index]");
    if (!button) return;
    const index = Number(button.dataset.index);
    send({ type: "exclude", indices: [index], excluded: !removed.has(index) });
  });
  $("doctor-restore").addEventListener("click", () => {
    if (removed.size) send({ type: "exclude", indices: [...removed.keys()], excluded: false });
  });
}

/** New images (or none): nothing checked or removed yet. */
export function clearDoctor(files) {
  filesByName = files;
  removed.clear();
  lastDiagnosis = null;
  $("doctor-lists").replaceChildren();
  setText("doctor-leak", "");
  $("doctor-section").hidden = true;
  showRemoved();
}

function showRemoved() {
  const names = [...removed.values()];
  $("doctor-restore").hidden = !names.length;
  setText("doctor-removed", names.length
    ? `${names.length} image${names.length === 1 ? "" : "s"} left out of the next run (your files are unchanged): ${names.join(", ")}.`
    : "");
  for (const button of $("doctor-lists").querySelectorAll("button[data-index]")) {
    const isRemoved = removed.has(Number(button.dataset.index));
    button.textContent = isRemoved ? "Bring back" : "Remove from this run";
    button.closest("figure").classList.toggle("removed", isRemoved);
  }
}

/** One image: thumbnail, caption and its remove button. */
function figure(index, name, caption) {
  const file = filesByName.get(name);
  const button = element("button", { type: "button", textContent: "Remove from this run" });
  button.dataset.index = index;
  return element("figure", {}, [file ? thumbnail(file, name) : "", element("figcaption", { textContent: caption }), button]);
}

function group(title, found, figures, note = "") {
  const heading = element("h3", { textContent: `${title} (${found})` });
  const body = figures.length ? element("div", { className: "gallery" }, figures) : element("p", { className: "muted", textContent: "None found." });
  return element("div", { className: "doctor-group" }, [heading, ...(note ? [element("p", { className: "muted", textContent: note })] : []), body]);
}

export const doctorMessages = {
  checking({ steps_done, steps_total }) {
    if (steps_done === 0) checkStartedAt = performance.now();
    $("doctor-section").hidden = false;
    setText("doctor-status", `Checking your data: step ${steps_done} of ${steps_total}…`);
  },
  diagnosis({ diagnosis, names }, runClasses) {
    lastDiagnosis = diagnosis;
    lastNames = names;
    classes = runClasses;
    const d = diagnosis;
    const name = (index) => names[index] ?? `image ${index}`;
    const pairCaption = (pair, which) => `${which} · ${pair.identical ? "identical" : `similarity ${pair.similarity.toFixed(3)}`}${pair.across_split ? " · training ↔ validation" : ""}`;
    const leakNote = d.leaked.length
      ? `${d.leaked.length} validation image${d.leaked.length === 1 ? " has" : "s have"} a copy among the training images: the validation accuracy counts them as if unseen.`
      : "";
    const fit = d.out_of_fold;
    $("doctor-lists").replaceChildren(
      group("Near-duplicates", d.duplicates_found, d.duplicates.flatMap((pair) => [
        figure(pair.first, name(pair.first), pairCaption(pair, "1 of 2")),
        figure(pair.second, name(pair.second), pairCaption(pair, "2 of 2")),
      ]), leakNote),
      group("Labels that look wrong", d.label_issues_found, d.label_issues.map((issue) => figure(issue.index, name(issue.index),
        `filed as ${classes[issue.given]}, looks like ${classes[issue.suggested]} · P(${classes[issue.given]}) ${percent(issue.given_probability)}`)),
      fit ? `Judged by a logistic regression that did not see the image (${fit.folds}-fold cross-validation, C ${fit.c}, ${percent(fit.accuracy)} right).` : `Labels not judged: ${d.labels_not_judged}.`),
      group("Unlike the rest of their class", d.outliers_found, d.outliers.map((outlier) => figure(outlier.index, name(outlier.index),
        `${classes[outlier.class]} · ${outlier.score.toFixed(1)}× the usual spread from its centre`))),
      element("div", { className: "doctor-group" }, [
        element("h3", { textContent: "Classes most confused" }),
        element("p", { className: d.confusions.length ? "" : "muted", textContent: d.confusions.length
          ? d.confusions.slice(0, 5).map((c) => `${classes[c.classes[0]]} ↔ ${classes[c.classes[1]]}: ${c.mistakes} mixed up (${percent(c.share)})`).join(" · ")
          : "None mixed up." }),
      ]),
    );
    setText("doctor-status", `Checked ${d.images} images: ${d.duplicates_found} near-duplicate pairs, ${d.label_issues_found} labels that look wrong, ${d.outliers_found} images unlike their class.`);
    Object.assign($("doctor-status").dataset, {
      duplicates: d.duplicates_found, leaked: d.leaked.length, labelIssues: d.label_issues_found, outliers: d.outliers_found,
      seconds: ((performance.now() - checkStartedAt) / 1000).toFixed(2),
    });
    showRemoved();
  },
  leak({ effect }) {
    if (!lastDiagnosis || !effect.leaked) return;
    setText("doctor-leak", `With the ${effect.leaked} validation images that have a copy in training, the validation accuracy is ${percent(effect.accuracy)}; without them ${percent(effect.accuracy_without_leaked)}.`);
  },
  excluded({ indices, excluded }) {
    for (const index of indices) {
      if (excluded) removed.set(index, lastNames[index] ?? `image ${index}`);
      else removed.delete(index);
    }
    showRemoved();
  },
};
