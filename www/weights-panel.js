// The weights panel: which weights the engine holds and how they got there (the backbone menu and
// its one-click downloads, see backbones.js; a URL; a model file dropped or picked; random
// weights), and what the panel says while they load and once this browser keeps them. The page
// (main.js) asks it to load the same weights into each new worker.
import { markBackbones, menuValueOf, offerDownload, publicSource, showLoadedWeights, showOpenedModel, urlToLoad } from "./backbones.js";
import { $, dropTarget, setText } from "./dom.js";
import { describeOpenedModel } from "./models.js";

/** How the page names each backbone the engine reports. */
const BACKBONE_NAMES = { ResNet18: "ResNet18", MobileNetV2: "MobileNetV2", EfficientNetLite0: "EfficientNet-Lite0" };

/**
 * Wires the panel.
 * - `send(message)`: posts to the engine's worker;
 * - `refused(id, what)`: whether a run refuses the change now (it says so at element `id`);
 * - `onLoaded()`: called once weights have loaded.
 * Returns:
 * - `loaded()`: whether weights are loaded; `url()`: the URL loaded, else the one in the field;
 * - `choose(savedUrl)`: loads the saved choice, else the first backbone whose weights can load;
 * - `reload()`: loads the weights loaded before into a new worker (false when there were none);
 * - `openFile(file)`: opens a model file;
 * - `messages`: the worker's weightsProgress, weightsLoaded and weightsKept.
 */
export function initWeightsPanel({ send, refused, onLoaded }) {
  let weights = null; // once loaded: { url }, { random: true } or { message } (what reloads them)
  let opening = null; // the message opening a model file, until it has loaded
  let status = ""; // what the status said when they loaded (weightsKept adds to it)
  // Which backbones' weights can load, read once (weights/index.json and the Cache API).
  const loadable = markBackbones();

  function load() {
    if (refused("weights-status", "changing the weights")) return;
    // Relative to the page, not to the worker's script.
    const url = new URL($("weights-url").value.trim(), location.href).href;
    $("progress").removeAttribute("value");
    setText("weights-status", `Loading ${url}…`);
    opening = null;
    send({ type: "loadWeights", url });
  }

  /** The one-click download of a backbone's weights from its public source (backbones.js). */
  function download(url) {
    $("weights-url").value = url;
    load();
  }

  /** Opens a model file (an export of this page, or any weights file) dropped or picked by the user. */
  function openFile(file) {
    if (refused("weights-status", "opening a model")) return;
    setText("weights-status", `Opening ${file.name}…`);
    opening = { type: "loadModelFile", file };
    send(opening);
  }

  /**
   * The saved choice if its weights can load, else the first backbone in the menu's order whose
   * weights can; the download of ResNet18's (the first entry's) is offered when they are absent.
   */
  async function choose(savedUrl) {
    const canLoad = await loadable;
    const savedEntry = savedUrl ? menuValueOf(savedUrl) : "";
    // A URL of the user's own (Other URL) is loaded as it is.
    const url = savedUrl && !savedEntry ? savedUrl : urlToLoad(canLoad.includes(savedEntry) ? savedEntry : canLoad[0]);
    const firstEntry = $("backbone").options[0].value;
    offerDownload(savedEntry && !canLoad.includes(savedEntry) ? savedEntry : firstEntry, download);
    if (!url) {
      setText("weights-status", "No pretrained weights found beside the page or in this browser: weights/index.json lists none. " +
        "Run ./build.sh serve (it fetches EfficientNet-Lite0 and MobileNetV2 and lists them), download ResNet18's weights " +
        "with the button below, enter another URL, or use random weights for testing.", true);
      return;
    }
    $("weights-url").value = url;
    $("backbone").value = menuValueOf(url);
    load();
  }

  function reload() {
    if (weights?.random) send({ type: "useRandomWeights" });
    else if (weights?.message) send(weights.message);
    else if (weights) load();
    return weights != null;
  }

  const messages = {
    weightsProgress({ loaded, total }) {
      const bar = $("progress");
      if (total) { bar.max = total; bar.value = loaded; }
      const mb = (n) => (n / 1048576).toFixed(1);
      const text = total ? `Downloading weights: ${mb(loaded)} of ${mb(total)} MB` : `Downloading weights: ${mb(loaded)} MB`;
      setText("weights-status", text);
      setText("progress-text", text);
    },
    weightsLoaded(loaded) {
      const { architecture, classes, class_names, fromCache, random, saved } = loaded;
      const message = saved ? { type: "openSaved", id: saved.id } : opening;
      weights = random ? { random: true } : message ? { message } : { url: $("weights-url").value };
      opening = null;
      $("progress").value = 0;
      setText("progress-text", "Idle.");
      const name = BACKBONE_NAMES[architecture] ?? architecture;
      if (class_names) showOpenedModel(saved ? `Opened: saved model “${saved.name}” (${name})` : `Opened: ${loaded.fileName ?? "model file"} (${name})`);
      else if (!random) showLoadedWeights($("weights-url").value);
      setText("weights-status", random
        ? "Random weights loaded: for testing only, features carry no ImageNet knowledge."
        : class_names
          ? describeOpenedModel({ ...loaded, architecture: name })
          : `${name} ImageNet weights loaded (${classes ? `${classes}-class head` : "backbone only: predictions after training"}${fromCache ? ", from this browser's cache" : ""}).`);
      status = $("weights-status").textContent;
      onLoaded();
    },
    weightsKept({ url, failure }) {
      // Only while the status still tells of these weights: a later load has its own.
      const shown = $("weights-status").textContent;
      if (shown !== status || new URL(weights?.url ?? "", location.href).href !== url) return;
      setText("weights-status", failure
        ? `${shown} Not kept in this browser (${failure}): the next visit downloads them again.`
        : `${shown} Kept in this browser for the next visit and offline use.`);
      status = $("weights-status").textContent;
    },
  };

  $("backbone").addEventListener("change", async (event) => {
    const { value } = event.target;
    await loadable;
    if (!value) return $("weights-url").focus();
    offerDownload(value, download);
    const url = urlToLoad(value);
    if (!url) return setText("weights-status", `${publicSource(value)?.name ?? value}: download the weights with the button below first.`);
    $("weights-url").value = url;
    load();
  });
  $("weights-form").addEventListener("submit", (event) => { event.preventDefault(); load(); });
  $("random-weights").addEventListener("click", () => {
    if (!refused("weights-status", "changing the weights")) send({ type: "useRandomWeights" });
  });
  dropTarget($("weights-section"), (dataTransfer) => { if (dataTransfer.files[0]) openFile(dataTransfer.files[0]); });

  return { loaded: () => weights != null, url: () => weights?.url || $("weights-url").value, choose, reload, openFile, messages };
}
