// @ts-check
// The embed example: load an exported model, classify dropped images and live camera frames, with
// the package installed into this folder (`./build.sh package` packs it and installs it here; the
// path, as a page without a bundler or an import map names it). Type-checked against the package's
// declarations by `./build.sh test`.
import { Classifier } from "./node_modules/browser-finetune-classifier/classifier.js";

/** @type {Classifier | null} */
let classifier = null;
/** The CPU build unless the address asks for another (`?device=webgpu` or `auto`). */
const device = /** @type {"auto" | "webgpu" | "cpu"} */ (new URL(location.href).searchParams.get("device") ?? "cpu");

/** @param {string} id */
const byId = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
const video = /** @type {HTMLVideoElement} */ (byId("video"));

/** @param {string} text @param {boolean} [isError] */
function status(text, isError = false) {
  byId("model-status").textContent = text;
  byId("model-status").classList.toggle("error", isError);
}

/** @param {HTMLElement} list @param {import("browser-finetune-classifier").Classifications} top */
function show(list, top) {
  const items = top.map(({ label, probability }) => {
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.textContent = label;
    item.append(name, `${(probability * 100).toFixed(1)} %`);
    return item;
  });
  if (top.unknown) {
    const note = document.createElement("li");
    note.textContent = "Probably none of these: the model is less sure than on 95 % of its validation images.";
    items.unshift(note);
  }
  list.replaceChildren(...items);
}

/**
 * Draws the centre crop the model saw with the heat map of where it looked over it.
 * @param {HTMLImageElement} image @param {import("browser-finetune-classifier").HeatMap} map
 */
async function drawHeatMap(image, map) {
  await image.decode();
  const canvas = /** @type {HTMLCanvasElement} */ (byId("image-heat"));
  const context = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
  const side = Math.min(image.naturalWidth, image.naturalHeight) * map.cropShare;
  context.globalAlpha = 1;
  context.drawImage(image, (image.naturalWidth - side) / 2, (image.naturalHeight - side) / 2, side, side, 0, 0, canvas.width, canvas.height);
  const heat = new ImageData(map.width, map.height);
  // Blue (0) through green to red (1).
  const ramp = (/** @type {number} */ value, /** @type {number} */ centre) => 255 * Math.min(1, Math.max(0, 1.5 - Math.abs(4 * value - centre)));
  map.values.forEach((value, i) => heat.data.set([ramp(value, 3), ramp(value, 2), ramp(value, 1), 255], i * 4));
  const small = new OffscreenCanvas(map.width, map.height);
  /** @type {OffscreenCanvasRenderingContext2D} */ (small.getContext("2d")).putImageData(heat, 0, 0);
  context.globalAlpha = 0.45;
  context.drawImage(small, 0, 0, canvas.width, canvas.height);
  canvas.dataset.label = map.label;
  canvas.hidden = false;
}

/** @param {import("browser-finetune-classifier").ModelSource} source @param {string} name */
async function load(source, name) {
  status(`Loading ${name}…`);
  classifier?.dispose();
  classifier = null;
  try {
    classifier = await Classifier.load(source, { device });
    const unknown = classifier.unknownBelow == null ? "" : `; "none of these" under ${(classifier.unknownBelow * 100).toFixed(1)} %`;
    status(`Loaded ${name}: ${classifier.architecture}, labels ${classifier.labels.join(", ")}${unknown}; running on ${classifier.backend.kind}.`);
    /** @type {HTMLButtonElement} */ (byId("camera")).disabled = false;
  } catch (err) {
    status(err instanceof Error ? err.message : String(err), true);
  }
}

/** @param {Blob} file */
async function classifyFile(file) {
  if (!classifier) return status("Load a model first.", true);
  const image = /** @type {HTMLImageElement} */ (byId("image"));
  image.src = URL.createObjectURL(file);
  byId("image-heat").hidden = true;
  try {
    const top = await classifier.classify(file, { topK: 3, explain: true });
    show(byId("image-result"), top);
    if (top.explanation) await drawHeatMap(image, top.explanation);
  } catch (err) {
    byId("image-result").textContent = err instanceof Error ? err.message : String(err);
  }
}

/** Classifies camera frames one after the other, as fast as the model allows. */
async function classifyCamera() {
  if (!classifier || video.paused) return;
  try {
    show(byId("camera-result"), await classifier.classify(video, { topK: 3 }));
  } catch (err) {
    byId("camera-result").textContent = err instanceof Error ? err.message : String(err);
  }
  requestAnimationFrame(classifyCamera);
}

byId("model-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const url = /** @type {HTMLInputElement} */ (byId("model-url")).value.trim();
  load(url, url);
});
byId("model-file").addEventListener("change", (event) => {
  const file = /** @type {HTMLInputElement} */ (event.target).files?.[0];
  if (file) load(file, file.name);
});
byId("image-file").addEventListener("change", (event) => {
  const file = /** @type {HTMLInputElement} */ (event.target).files?.[0];
  if (file) classifyFile(file);
});
byId("image-zone").addEventListener("dragover", (event) => event.preventDefault());
byId("image-zone").addEventListener("drop", (event) => {
  event.preventDefault();
  const file = event.dataTransfer?.files[0];
  if (file) classifyFile(file);
});
byId("camera").addEventListener("click", async () => {
  try {
    video.srcObject = await navigator.mediaDevices.getUserMedia({ video: true });
    await video.play();
    classifyCamera();
  } catch (err) {
    byId("camera-result").textContent = `The camera could not start: ${err instanceof Error ? err.message : err}`;
  }
});
// Offline after one visit (sw.js); without it the site still works online.
navigator.serviceWorker?.register("./sw.js").catch((err) => console.warn(`Offline mode unavailable: ${err.message}`));
