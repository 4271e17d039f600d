// Usage: node scripts/bench_embed.mjs [RUNS] (after a release build: ./build.sh bench-embed)
// The embed's builds against the page's, in this machine's Chromium: each wasm's size (raw and
// gzipped at level 9, as static hosts serve it), its start (fetch, compile and instantiate the
// module, in a fresh browser context each time: the median of RUNS, default 5), the embed's whole
// `Classifier.load` (worker, wasm, opening an EfficientNet-Lite0 export) on the CPU and WebGPU
// (SwiftShader here) builds, and each inference build's predictions on the fixture photos beside
// the page's engine's for the same export.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

import { ROOT, withServer } from "../tests/e2e/site.mjs";
import { launchChromium } from "./chromium.mjs";
import { PHOTOS, comparePredictions, trainExport } from "./embed_model.mjs";

const RUNS = Number(process.argv[2] || 5);
const WEIGHTS = "weights/efficientnet-lite0-57934424.pth";
/** The embed's inference builds by device: their folders in the package's source. */
const INFERENCE = { cpu: "www/embed/inference/", webgpu: "www/embed/inference-webgpu/" };
const BUILDS = [
  ["page, simd128", "pkg/browser_finetune.js", "pkg/browser_finetune_bg.wasm"],
  ["page, relaxed SIMD", null, "pkg/browser_finetune_relaxed_bg.wasm"],
  ["embed, CPU", `${INFERENCE.cpu}browser_finetune.js`, `${INFERENCE.cpu}browser_finetune_bg.wasm`],
  ["embed, WebGPU", `${INFERENCE.webgpu}browser_finetune.js`, `${INFERENCE.webgpu}browser_finetune_bg.wasm`],
];
const median = (values) => values.sort((a, b) => a - b)[values.length >> 1];
const MB = 1e6;

/** Milliseconds from importing `glue` to its module instantiated, in a fresh context each run. */
async function startTimes(browser, base, glue) {
  const times = [];
  for (let run = 0; run < RUNS; run++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    // A page of the site without scripts: the example's service worker would fetch meanwhile.
    await page.goto(`${base}www/embed/README.md`);
    times.push(await page.evaluate(async (url) => {
      const started = performance.now();
      await (await import(url)).default();
      return performance.now() - started;
    }, `${base}${glue}`));
    await context.close();
  }
  return times;
}

/** Milliseconds of `Classifier.load` on `device`, in a fresh context each run. */
async function loadTimes(browser, base, model, device) {
  const times = [];
  for (let run = 0; run < RUNS; run++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${base}www/embed/README.md`);
    times.push(await page.evaluate(async ({ base, model, device }) => {
      const { Classifier } = await import(`${base}examples/embed/node_modules/browser-finetune-classifier/classifier.js`);
      const bytes = Uint8Array.fromBase64(model);
      const started = performance.now();
      const classifier = await Classifier.load(bytes, { device });
      const elapsed = performance.now() - started;
      classifier.dispose();
      return elapsed;
    }, { base, model, device }));
    await context.close();
  }
  return times;
}

await withServer("/", async ({ base }) => {
  const browser = await launchChromium();
  try {
    for (const [name, glue, wasm] of BUILDS) {
      const bytes = readFileSync(join(ROOT, wasm));
      const sizes = `wasm=${(bytes.length / MB).toFixed(2)}MB gzipped=${(gzipSync(bytes, { level: 9 }).length / MB).toFixed(3)}MB`;
      const start = glue ? ` start_ms_median=${median(await startTimes(browser, base, glue)).toFixed(0)}` : "";
      console.log(`build="${name}" ${sizes}${start}`);
    }
    const page = await browser.newPage();
    await page.goto(`${base}examples/embed/`);
    const model = await page.evaluate(trainExport, { base, weights: WEIGHTS, photos: PHOTOS });
    console.log(`model: EfficientNet-Lite0 export, ${(Buffer.from(model, "base64").length / MB).toFixed(1)} MB`);
    for (const [device, folder] of Object.entries(INFERENCE)) {
      const inference = `${folder}browser_finetune.js`;
      const compared = await page.evaluate(comparePredictions, { base, model, photos: PHOTOS, inference, device });
      const top = (probabilities) => probabilities.indexOf(Math.max(...probabilities));
      const sameTop = compared.results.filter(({ page: ours, embed }) => top(ours) === top(embed)).length;
      const largest = Math.max(...compared.results.flatMap(({ page: ours, embed }) => ours.map((p, i) => Math.abs(p - embed[i]))));
      const loads = await loadTimes(browser, base, model, device);
      console.log(`embed device=${device} backend=${compared.backend} same_top=${sameTop}/${compared.results.length} ` +
        `max_probability_diff=${largest.toExponential(2)} classifier_load_ms_median=${median(loads).toFixed(0)} ` +
        `(open model ${compared.openMs.toFixed(0)} ms)`);
    }
  } finally {
    await browser.close();
  }
});
