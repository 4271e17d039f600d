// Times ResNet18 forward passes on each backend the browser offers. Driven by
// scripts/bench_browser.mjs, which reads window.benchResults once window.benchDone is set.
import init, { WebEngine } from "../pkg/browser_finetune.js";

const params = new URLSearchParams(location.search);
const batches = (params.get("batches") || "1,8").split(",").map(Number);
const backends = (params.get("backends") || "webgpu,cpu").split(",");
const out = document.getElementById("results");
window.benchResults = [];

function report(line) {
  window.benchResults.push(line);
  out.textContent = window.benchResults.join("\n");
}

async function imagesPerSecond(engine, batch) {
  const side = 224;
  const images = new Float32Array(batch * 3 * side * side).fill(0.5);
  await engine.logits(images, batch, side, side); // warm-up: shader compilation, allocations
  const runs = batch === 1 ? 3 : 1;
  const start = performance.now();
  for (let i = 0; i < runs; i++) await engine.logits(images, batch, side, side);
  return (runs * batch) / ((performance.now() - start) / 1000);
}

try {
  await init();
  for (const backend of backends) {
    const engine = await WebEngine.create(backend);
    engine.useRandomWeights(1000);
    const info = engine.backend;
    for (const batch of batches) {
      const rate = await imagesPerSecond(engine, batch);
      report(`browser-${backend} batch=${batch} images_per_s=${rate.toFixed(3)} adapter="${info.adapter}"`);
    }
    engine.free();
  }
} catch (err) {
  report(`error ${err && err.message ? err.message : err}`);
}
window.benchDone = true;
