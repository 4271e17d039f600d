// Times backbone feature extraction (224×224, untrained weights) for each backbone, backend and
// batch size, in one engine and, on the CPU, in one engine per core (the helper workers the page
// extracts with: see extraction.js). Driven by scripts/bench_browser.mjs, which reads
// window.benchResults once window.benchDone is set. Lines: `NAME model=M batch=B images_per_s=X`.
import init, { WebEngine } from "../pkg/browser_finetune.js";
import { startHelper } from "./extraction.js";
import { wasmBuild, wasmUrl } from "./wasm-build.js";
import { list, params, show } from "./bench-page.js";

const batches = list("batches", "1,8").map(Number);
const backends = list("backends", "cpu,webgpu");
const models = list("models", "ResNet18,MobileNetV2,EfficientNetLite0");
const workers = Number(params.get("workers") || navigator.hardwareConcurrency || 1);
// ?simd=plain: the plain wasm build where the relaxed-SIMD one would run; its lines say "-plain".
const build = wasmBuild({ plain: params.get("simd") === "plain" });
const cpuName = params.get("simd") === "plain" ? "browser-cpu-plain" : "browser-cpu";
const MODEL_NAMES = { ResNet18: "resnet18", MobileNetV2: "mobilenet_v2", EfficientNetLite0: "efficientnet_lite0" };
const SIDE = 224;

function report(name, architecture, batch, rate, extra = "") {
  show(`${name} model=${MODEL_NAMES[architecture]} batch=${batch} images_per_s=${rate.toFixed(3)}${extra}`);
}

const pixels = (batch) => new Float32Array(batch * 3 * SIDE * SIDE).fill(0.5);
const runsFor = (batch) => (batch === 1 ? 4 : 2);

/** Images/s of one engine, after a warm-up run (shader compilation, allocations). */
async function oneEngine(engine, batch) {
  await engine.features(pixels(batch), batch, SIDE, SIDE);
  const runs = runsFor(batch);
  const start = performance.now();
  for (let i = 0; i < runs; i++) await engine.features(pixels(batch), batch, SIDE, SIDE);
  return (runs * batch) / ((performance.now() - start) / 1000);
}

/** Images/s of `helpers` helper workers working at once, each on its own batches. */
async function helperWorkers(helpers, batch) {
  const job = () => ({ pixels: pixels(batch), images: batch, side: SIDE });
  await Promise.all(helpers.map((helper) => helper.features(job())));
  const runs = runsFor(batch);
  const start = performance.now();
  await Promise.all(helpers.map(async (helper) => {
    for (let i = 0; i < runs; i++) await helper.features(job());
  }));
  return (helpers.length * runs * batch) / ((performance.now() - start) / 1000);
}

try {
  const module = await WebAssembly.compileStreaming(fetch(wasmUrl(build)));
  await init({ module_or_path: module });
  for (const backend of backends) {
    const engine = await WebEngine.create(backend);
    const adapter = backend === "webgpu" ? ` adapter="${engine.backend.adapter}"` : "";
    for (const architecture of models) {
      engine.useRandomWeights(architecture);
      const name = backend === "cpu" ? cpuName : `browser-${backend}`;
      const extra = backend === "cpu" ? ` wasm_build=${build}` : adapter;
      for (const batch of batches) report(name, architecture, batch, await oneEngine(engine, batch), extra);
    }
    engine.free();
  }
  if (backends.includes("cpu") && workers > 1) {
    for (const architecture of models) {
      const helpers = await Promise.all(Array.from({ length: workers }, () => startHelper(module, { architecture })));
      for (const batch of batches) {
        const rate = await helperWorkers(helpers, batch);
        report(`${cpuName}-${workers}w`, architecture, batch, rate, ` wasm_memory_per_worker_mb=${(helpers[0].memory / 1048576).toFixed(0)} wasm_build=${build}`);
      }
      for (const helper of helpers) helper.close();
    }
  }
} catch (err) {
  show(`error ${err && err.message ? err.message : err}`);
}
window.benchDone = true;
