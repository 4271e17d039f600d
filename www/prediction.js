// The prediction panel: the image being classified, then its most likely classes as bars.
import { $, element, percent, thumbnail } from "./dom.js";

export function showPredicting(file) {
  $("prediction").replaceChildren(thumbnail(file, file.name), element("p", { className: "muted", textContent: "Predicting…" }));
}

/**
 * `top`: `[{ class, probability }]`, most likely first; `unknown`: the top probability is under
 * what 95 % of the validation images scored (null: the model has no such threshold).
 */
export function showPrediction(top, unknown = null) {
  const rows = top.map(({ class: name, probability }) => element("div", { className: "row" }, [
    element("span", { textContent: name }),
    element("div", {}, [element("div", { className: "bar", style: `width:${(probability * 100).toFixed(1)}%` })]),
    element("span", { textContent: percent(probability) }),
  ]));
  const image = $("prediction").querySelector("img");
  const note = unknown
    ? [element("p", { className: "unknown", textContent: "Probably none of your classes: the model is less sure than on 95 % of its validation images." })]
    : [];
  $("prediction").replaceChildren(...(image ? [image] : []), ...note, ...rows);
}
