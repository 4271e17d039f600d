// The prediction panel: the image being classified, then its most likely classes as bars.
import { $, element, percent, thumbnail } from "./dom.js";

export function showPredicting(file) {
  $("prediction").replaceChildren(thumbnail(file, file.name), element("p", { className: "muted", textContent: "Predicting…" }));
}

/** `top`: `[{ class, probability }]`, most likely first. */
export function showPrediction(top) {
  const rows = top.map(({ class: name, probability }) => element("div", { className: "row" }, [
    element("span", { textContent: name }),
    element("div", {}, [element("div", { className: "bar", style: `width:${(probability * 100).toFixed(1)}%` })]),
    element("span", { textContent: percent(probability) }),
  ]));
  const image = $("prediction").querySelector("img");
  $("prediction").replaceChildren(...(image ? [image] : []), ...rows);
}
