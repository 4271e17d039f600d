// The peer reference of bench.js's CPU figures: the same backbones' features (224×224), exported
// by scripts/export_onnx.py, timed in onnxruntime-web on its WebAssembly execution provider.
// onnxruntime-web fixes its thread count when its first session starts, so one page load times
// one thread count (`threads=N`); scripts/bench_browser.mjs loads the page once per count. More
// than one thread needs a cross-origin-isolated page (scripts/serve.py --isolated); without it
// onnxruntime-web quietly runs on one, so the page reports an error instead of that figure.
// Query: threads=N, models=resnet18,mobilenet_v2,efficientnet_lite0, batches=1,8,
// dir=folder of the .onnx files (../bench-models). Lines: `ort-web-Nt model=M batch=B images_per_s=X`
// in window.benchResults, then window.benchDone.
import * as ort from "../node_modules/onnxruntime-web/dist/ort.wasm.min.mjs";
import { list, params, show } from "./bench-page.js";

const threads = Number(params.get("threads") || 1);
const models = list("models", "resnet18,mobilenet_v2,efficientnet_lite0");
const batches = list("batches", "1,8").map(Number);
const dir = new URL(`${params.get("dir") || "../bench-models"}/`, location.href);
const name = `ort-web-${threads}t`;
const SIDE = 224;

const images = (batch) => new ort.Tensor("float32", new Float32Array(batch * 3 * SIDE * SIDE).fill(0.5), [batch, 3, SIDE, SIDE]);
// As bench.js: more runs at batch 1, where one run is short.
const runsFor = (batch) => (batch === 1 ? 4 : 2);

/** Images/s of one session, after a warm-up run (allocations, kernel selection). */
async function imagesPerSecond(session, batch) {
  await session.run({ images: images(batch) });
  const runs = runsFor(batch);
  const start = performance.now();
  for (let i = 0; i < runs; i++) await session.run({ images: images(batch) });
  return (runs * batch) / ((performance.now() - start) / 1000);
}

try {
  show(`${name} info onnxruntime-web=${ort.env.versions.web} crossOriginIsolated=${self.crossOriginIsolated}`);
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`threads=${params.get("threads")}: one whole number ≥ 1 per page load`);
  if (threads > 1 && !self.crossOriginIsolated) {
    throw new Error(`${threads} threads need a cross-origin-isolated page (serve.py --isolated): no figure, onnxruntime-web would run on one`);
  }
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.wasmPaths = new URL("../node_modules/onnxruntime-web/dist/", import.meta.url).href;
  for (const model of models) {
    const response = await fetch(new URL(`${model}.onnx`, dir));
    if (!response.ok) throw new Error(`${response.url}: HTTP ${response.status} (run scripts/export_onnx.py first)`);
    const session = await ort.InferenceSession.create(new Uint8Array(await response.arrayBuffer()), { executionProviders: ["wasm"] });
    for (const batch of batches) {
      show(`${name} model=${model} batch=${batch} images_per_s=${(await imagesPerSecond(session, batch)).toFixed(3)}`);
    }
    await session.release();
  }
} catch (err) {
  show(`error ${name}: ${err && err.message ? err.message : err}`);
}
window.benchDone = true;
