// Our training steps in this browser, as examples/bench_training.rs times them natively: one
// engine (on this page's thread; the page's engine worker is one such engine), the wasm build the
// page would pick, seeded random weights, batch 32, the photos that scripts/bench_browser.mjs
// --photos=DATASET serves under bench-photos/ (its train/ folder). Each image is decoded once
// beforehand (decodeResized, timed) and handed over when a step asks for it, so the steps are
// timed alone: augmentation, forward, cross-entropy, backward, Adam step. Last stage + head
// computes its frozen stages in the same engine, as the page does for the batches its helper
// workers do not take. On WebGPU each step reads its loss back, so it is timed whole; a software
// adapter (SwiftShader: no GPU here) is skipped unless software=1. Query: backends=cpu,webgpu,
// models=ResNet18,MobileNetV2,EfficientNetLite0, strategies=last_stages:1,full, steps=3 (timed
// after one untimed warm-up step), simd=plain. Lines in window.benchResults: `browser-BACKEND
// model=M strategy=S batch=32 train_images_per_s=X with_decoding_images_per_s=Y [wasm_build=B |
// adapter="…"]` (`browser-cpu-plain` for the plain build) or `browser-webgpu skipped="…"`; then
// window.benchDone.
import init, { WebEngine, decodeResized } from "../pkg/browser_finetune.js";
import { wasmBuild, wasmUrl } from "./wasm-build.js";
import { list, params, show } from "./bench-page.js";

const backends = list("backends", "cpu,webgpu");
const models = list("models", "ResNet18,MobileNetV2,EfficientNetLite0");
const strategies = list("strategies", "last_stages:1,full");
const steps = Number(params.get("steps") || 3);
const build = wasmBuild({ plain: params.get("simd") === "plain" });
const cpuName = params.get("simd") === "plain" ? "browser-cpu-plain" : "browser-cpu";
const timeSoftwareAdapters = params.get("software") === "1";
const MODEL_NAMES = { ResNet18: "resnet18", MobileNetV2: "mobilenet_v2", EfficientNetLite0: "efficientnet_lite0" };
const BATCH = 32;

/** The run settings of a strategy named as the page's menu names it (`last_stages:N`, `full`). */
function settingsFor(strategy) {
  const [kind, stages] = strategy.split(":");
  return { strategy: kind === "last_stages" ? { kind, stages: Number(stages) } : { kind } };
}

/** The first `count` photos of bench-photos/ (taken in turn from each class), as bytes. */
async function loadPhotos(count) {
  const listed = await (await fetch("../bench-photos/index.json")).json();
  return Promise.all(listed.slice(0, count).map(async ({ path, label }) => {
    const response = await fetch(`../bench-photos/${path}`);
    if (!response.ok) throw new Error(`bench-photos/${path}: HTTP ${response.status}`);
    return { path, label, bytes: new Uint8Array(await response.arrayBuffer()) };
  }));
}

/** Registers the photos with `engine` (two also as validation, never reached) and decodes each once. */
function addPhotos(engine, photos) {
  const decoded = new Map();
  let decodingMs = 0;
  const add = (photo, subset, name) => {
    const index = engine.addImageFile(name, photo.bytes, photo.label, subset);
    const began = performance.now();
    decoded.set(index, decodeResized(name, photo.bytes, engine.resizing));
    decodingMs += performance.now() - began;
  };
  for (const photo of photos) add(photo, "train", photo.path);
  for (const photo of photos.slice(0, 2)) add(photo, "val", `val/${photo.path}`);
  return { decoded, decodingSecondsPerImage: decodingMs / 1000 / decoded.size };
}

/** Images/s through the run's training steps after one warm-up step. */
async function trainingRate(engine, decoded, strategy) {
  engine.startTraining(settingsFor(strategy));
  let trained = 0, timed = 0, seconds = 0;
  try {
    while (timed < steps) {
      for (const index of engine.imagesNeeded()) {
        const image = decoded.get(index);
        engine.supplyImage(index, image.width, image.height, image.pixels);
      }
      const began = performance.now();
      const progress = await engine.trainStep();
      if (progress.phase === "finished") throw new Error("the run ended before the timed steps");
      if (progress.phase !== "training") continue;
      trained += 1;
      if (trained > 1) {
        timed += 1;
        seconds += (performance.now() - began) / 1000;
      }
    }
  } finally {
    engine.stopTraining();
  }
  return (steps * BATCH) / seconds;
}

try {
  await init({ module_or_path: wasmUrl(build) });
  const photos = await loadPhotos((steps + 1) * BATCH);
  if (photos.length < (steps + 1) * BATCH) throw new Error(`bench-photos/ has ${photos.length} photos, ${(steps + 1) * BATCH} needed`);
  for (const backend of backends) {
    for (const architecture of models) {
      const engine = await WebEngine.create(backend);
      try {
        const { kind, adapter, software_adapter: software, reason } = engine.backend;
        if (kind !== backend || (software && !timeSoftwareAdapters)) {
          const why = kind !== backend ? reason : `a software adapter (${adapter}): no GPU here; software=1 times it anyway`;
          show(`browser-${backend} skipped=${JSON.stringify(why)}`);
          break;
        }
        engine.useRandomWeights(architecture);
        const { decoded, decodingSecondsPerImage } = addPhotos(engine, photos);
        const [runtime, extra] = backend === "cpu" ? [cpuName, `wasm_build=${build}`] : [`browser-${backend}`, `adapter=${JSON.stringify(adapter)}`];
        for (const strategy of strategies) {
          const rate = await trainingRate(engine, decoded, strategy);
          const withDecoding = 1 / (1 / rate + decodingSecondsPerImage);
          show(`${runtime} model=${MODEL_NAMES[architecture]} strategy=${strategy} batch=${BATCH} train_images_per_s=${rate.toFixed(2)} with_decoding_images_per_s=${withDecoding.toFixed(2)} ${extra}`);
        }
      } finally {
        engine.free();
      }
    }
  }
} catch (err) {
  show(`error ${err?.message ?? err}`);
}
window.benchDone = true;
