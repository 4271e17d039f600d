// The backbone menu: which backbones' weights the page can load, and the one-click download of
// those that a public source serves. What sits beside the page is read from one list,
// weights/index.json (scripts/weights_index.py; ./build.sh writes it), not by asking the server for
// each file: on a plain static host every absent file was a 404 in the console.
import { $, element } from "./dom.js";
import { CACHE } from "./weights.js";

const HUB = "https://huggingface.co";
const mebibytes = (bytes) => (bytes / 1048576).toFixed(1);

/**
 * Menu files that a public source serves to browsers across origins under torchvision's names:
 * the Hugging Face hub's `timm/<name>.tv_in1k`, torchvision's own ImageNet1K_V1 values in a
 * safetensors file whose keys are torchvision's (timm 1.0's ResNet and DenseNet state_dicts have
 * exactly torchvision's keys and shapes; its VGGs and MobileNetV3s do not, and its Inception v3
 * is an older torchvision file: README, "Weights").
 * Sizes are what the progress bar will count to. index.html's Content Security Policy allows the
 * hub and its download hosts (`*.hf.co`) for these and nothing else.
 */
const PUBLIC_SOURCES = {
  "resnet18-f37072fd.pth": { name: "ResNet18", url: `${HUB}/timm/resnet18.tv_in1k/resolve/main/model.safetensors`, bytes: 46.8e6 },
  "resnet34-b627a593.pth": { name: "ResNet34", url: `${HUB}/timm/resnet34.tv_in1k/resolve/main/model.safetensors`, bytes: 87.3e6 },
  "resnet50-0676ba61.pth": { name: "ResNet50", url: `${HUB}/timm/resnet50.tv_in1k/resolve/main/model.safetensors`, bytes: 102.5e6 },
  "densenet121-a639ec97.pth": { name: "DenseNet121", url: `${HUB}/timm/densenet121.tv_in1k/resolve/main/model.safetensors`, bytes: 32.3e6 },
};

/** The public source of the menu entry `value` (a path ending in torchvision's file name), if any. */
export const publicSource = (value) => PUBLIC_SOURCES[value.split("/").pop()];
const absolute = (url) => new URL(url, location.href).href;
const SUFFIX = / · (download ≈ [\d.]+ MB|unavailable)$/;

/** The files weights/index.json lists, or none when the host has no such list. */
async function filesBesidePage() {
  try {
    const response = await fetch("weights/index.json", { cache: "no-store" });
    return response.ok ? new Set(Object.keys((await response.json()).files ?? {})) : new Set();
  } catch {
    return new Set();
  }
}

/**
 * Marks each menu entry: loadable (its file is beside the page or in this browser's cache; the
 * option's `data-load` is the URL to load), downloadable from its public source with one click,
 * or unavailable (disabled, its title saying what to do). Returns the loadable menu values.
 */
export async function markBackbones() {
  const [files, cache] = await Promise.all([filesBesidePage(), "caches" in window ? caches.open(CACHE) : null]);
  const cached = async (url) => Boolean(cache && (await cache.match(absolute(url))));
  const loadable = [];
  for (const option of $("backbone").options) {
    if (!option.value) continue;
    const file = option.value.split("/").pop();
    const source = publicSource(option.value);
    const label = option.textContent.replace(SUFFIX, "");
    option.dataset.note ??= option.title;
    let load = null;
    if (files.has(file) || (await cached(option.value))) load = option.value;
    else if (source && (await cached(source.url))) load = source.url;
    option.disabled = !load && !source;
    option.dataset.load = load ?? "";
    option.textContent = load ? label : `${label} · ${source ? `download ≈ ${mebibytes(source.bytes)} MB` : "unavailable"}`;
    option.title = load || source ? option.dataset.note
      : `Not beside this page: put torchvision's ${file} in the weights/ folder and list it (python3 scripts/weights_index.py, which ./build.sh serve runs)`;
    if (load) loadable.push(option.value);
  }
  return loadable;
}

/** The menu value for `url`: an entry's file or its public source's URL; "" (Other URL) for any other. */
export function menuValueOf(url) {
  for (const option of $("backbone").options) {
    if (!option.value) continue;
    const source = publicSource(option.value);
    if ([option.value, option.dataset.load, source?.url].filter(Boolean).map(absolute).includes(absolute(url))) return option.value;
  }
  return "";
}

/** The URL that loads the menu entry `value`: its file or cached download; null if it must be downloaded first. */
export function urlToLoad(value) {
  const option = [...$("backbone").options].find((o) => o.value === value);
  return option?.dataset.load || null;
}

/**
 * Offers, under the weights form, the one-click download of `value`'s weights from its public
 * source (nothing is fetched until the user clicks); hides the offer for any other value.
 */
export function offerDownload(value, download) {
  const source = value && !urlToLoad(value) ? publicSource(value) : null;
  const offer = $("weights-offer");
  offer.hidden = !source;
  offer.dataset.value = source ? value : "";
  if (!source) return;
  const host = new URL(source.url).host;
  offer.replaceChildren(
    `${source.name}'s ImageNet weights are not beside this page. `,
    element("button", { type: "button", id: "download-weights", textContent: `Download ${source.name} weights (≈ ${mebibytes(source.bytes)} MB from ${host})`, onclick: () => download(source.url) }),
    element("span", { className: "muted", textContent: " torchvision's ImageNet1K_V1 values, kept in this browser afterwards." }),
  );
}

/** After a saved model or a model file opens: the menu and the URL field say so instead of naming a backbone's weights. */
export function showOpenedModel(description) {
  let opened = $("backbone").querySelector("option[data-opened]");
  if (!opened) {
    opened = element("option", { value: "" });
    opened.dataset.opened = "";
    $("backbone").prepend(opened);
  }
  opened.textContent = description;
  $("backbone").value = "";
  opened.selected = true;
  $("weights-url").value = "";
  $("weights-url").placeholder = description;
  $("weights-offer").hidden = true;
  // A ?weights= in the address would name other weights than those in use.
  const address = new URL(location.href);
  if (address.searchParams.has("weights")) {
    address.searchParams.delete("weights");
    history.replaceState(history.state, "", address);
  }
}

/** After weights load from `url`: the menu shows their entry (or Other URL) and the field their URL. */
export function showLoadedWeights(url) {
  $("backbone").querySelector("option[data-opened]")?.remove();
  const value = menuValueOf(url);
  $("backbone").value = value;
  $("weights-url").value = url;
  $("weights-url").placeholder = "";
  // The offer stays while its backbone is still missing; it goes once those weights load.
  if (value && $("weights-offer").dataset.value === value) $("weights-offer").hidden = true;
  const option = $("backbone").selectedOptions[0];
  if (value && option) {
    // Downloaded just now: loadable from this browser's cache from here on.
    option.dataset.load = url;
    option.disabled = false;
    option.textContent = option.textContent.replace(SUFFIX, "");
  }
}
