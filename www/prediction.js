// The prediction panel: the image being classified, its most likely classes as bars, and on
// request where the model looked (a Grad-CAM heat map over the centre crop it saw).
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

/**
 * Draws `map` (Grad-CAM, values in [0, 1] over the centre crop) over that crop of the image in the
 * panel: blue where the model's `class` logit does not depend on the image, red where it does most.
 */
export async function showExplanation({ class: name, map, crop_share: share }) {
  const image = $("prediction").querySelector("img");
  if (!image) return;
  await image.decode().catch(() => {});
  const side = Math.min(image.naturalWidth, image.naturalHeight) * share;
  const canvas = element("canvas", { className: "heat-map", width: 224, height: 224 });
  canvas.setAttribute("aria-label", `Where the model looked for ${name}`);
  const context = canvas.getContext("2d");
  context.drawImage(image, (image.naturalWidth - side) / 2, (image.naturalHeight - side) / 2, side, side, 0, 0, 224, 224);
  const heat = new OffscreenCanvas(map.width, map.height);
  const pixels = new ImageData(map.width, map.height);
  map.values.forEach((value, i) => pixels.data.set([...colour(value), 255], i * 4));
  heat.getContext("2d").putImageData(pixels, 0, 0);
  context.globalAlpha = 0.45;
  context.imageSmoothingQuality = "high";
  context.drawImage(heat, 0, 0, 224, 224);
  const figure = element("figure", { className: "explanation" }, [canvas, element("figcaption", { textContent: `Where it looked for “${name}”` })]);
  figure.dataset.class = name;
  $("prediction").querySelector(".explanation")?.remove();
  image.after(figure);
}

/** A blue → green → red ramp (the usual "jet" look) for `value` in [0, 1]. */
function colour(value) {
  const ramp = (centre) => Math.round(255 * Math.min(1, Math.max(0, 1.5 - Math.abs(4 * value - centre))));
  return [ramp(3), ramp(2), ramp(1)];
}
