// Usage: node scripts/bench_accuracy_browser.mjs ORIGIN DATASET BACKEND [WEIGHTS] [STRATEGY]
// Drives the real page like a user: picks the ImageFolder DATASET, trains with the default
// settings and STRATEGY (a value of the page's "What to train" menu, default head_only; a number
// after a colon sets last_stages' stages or progressive's epochs per stage, as in bench-finetune) on
// BACKEND (webgpu | cpu | auto) from WEIGHTS (a path under ORIGIN; default: the page's own choice;
// `random`: ResNet18 with random weights, for timing only), and prints
// `browser-BACKEND strategy=… val_accuracy=… seconds_to_first_val=… extract_images_per_s=…`, then
// the Predict panel's latency on 5 validation photos (median ms from choosing the file to the
// answer drawn): `predict_ms` for the centre crop, flip and ten crops, and `explain_ms` to the
// Grad-CAM map (prediction included).
// BENCH_SIMD=plain: the plain wasm build where the relaxed-SIMD one would run (www/wasm-build.js).
// BENCH_SEED: the page's ?seed= (default 0), for a strategy's browser runs over several seeds.
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { launchChromium } from "./chromium.mjs";
import { openWithWeights } from "./page_weights.mjs";

const [origin, dataset, backend, weights, strategyArg = "head_only"] = process.argv.slice(2);
const [strategy, count] = strategyArg.split(":");
/** The menu's input that the number after the colon sets, as bench-finetune reads it. */
const countInput = { last_stages: "stages", progressive: "every" }[strategy];
/** The first `count` image files under `folder` (its val/ split when it has one), in name order. */
function somePhotos(folder, count) {
  const found = [];
  const walk = (dir) => {
    for (const name of readdirSync(dir).sort()) {
      if (found.length >= count) return;
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (/\.(jpe?g|png|webp|gif|bmp)$/i.test(name)) found.push(path);
    }
  };
  const val = join(folder, "val");
  walk(readdirSync(folder).includes("val") ? val : folder);
  return found;
}

/** Median milliseconds from choosing each of `files` in the Predict panel to `selector` drawn. */
async function predictMs(page, files, selector) {
  const times = [];
  for (const file of files) {
    await page.evaluate(() => document.getElementById("prediction").replaceChildren());
    const started = Date.now();
    await page.setInputFiles("#predict-picker", file);
    await page.waitForSelector(selector, { timeout: 120000 });
    times.push(Date.now() - started);
  }
  return times.sort((a, b) => a - b)[Math.floor(times.length / 2)];
}

const browser = await launchChromium();
const text = (page, id) => page.evaluate((id) => document.getElementById(id).textContent, id);
try {
  const page = await browser.newPage();
  page.on("pageerror", (err) => console.error(`page error: ${err.message}`));
  page.on("console", (message) => {
    if (message.type() === "warning" || message.type() === "error") console.error(`page ${message.type()}: ${message.text()}`);
  });
  const simd = process.env.BENCH_SIMD ? { simd: process.env.BENCH_SIMD } : {};
  await openWithWeights(page, origin, weights, { seed: process.env.BENCH_SEED ?? "0", backend, ...simd });
  const device = await text(page, "backend");
  const start = Date.now();
  await page.setInputFiles("#folder-picker", dataset);
  await page.waitForFunction(() => /images in \d+ classes ready/.test(document.getElementById("images-status").textContent), null, { timeout: 600000 });
  const imagesReady = Date.now();
  const images = Number((await text(page, "images-status")).match(/(\d+) images/)[1]);
  await page.selectOption("#settings [name=strategy]", strategy);
  if (count && countInput) await page.fill(`#settings [name=${countInput}]`, count);
  await page.click("#start");
  let extractStart = null;
  let extractEnd = null;
  let firstVal = null;
  for (;;) {
    const status = await text(page, "progress-text");
    const now = Date.now();
    if (!extractStart && /Extracting/.test(status)) extractStart = now;
    if (!extractEnd && /Epoch|Fitting/.test(status)) extractEnd = now;
    const epoch = await page.getAttribute("#accuracy-text", "data-epoch");
    if (!firstVal && epoch) firstVal = now;
    if (/Training finished|error/i.test(status)) break;
    await page.waitForTimeout(250);
  }
  const accuracy = Number(await page.getAttribute("#accuracy-text", "data-val-accuracy"));
  const rate = images / ((extractEnd - (extractStart ?? start)) / 1000);
  const extraction = await page.evaluate(() => ({ ...document.getElementById("progress-text").dataset }));
  const workers = extraction.extractionWorkers
    ? ` workers=${extraction.extractionWorkers} images_here=${extraction.imagesHere} images_on_helpers=${extraction.imagesOnHelpers} extraction_s=${extraction.extractionSeconds} helpers_start_s=${extraction.helpersStartSeconds} helper_wasm_mb=${(extraction.helperMemory / 1048576).toFixed(0)}`
    : "";
  // The data check the page runs after the first epoch of a run on cached features.
  const checkSeconds = await page.getAttribute("#doctor-status", "data-seconds");
  const check = checkSeconds ? ` check_seconds=${checkSeconds}` : "";
  const fit = (await text(page, "accuracy-text")).match(/C = \S+/)?.[0].replace(" = ", "=").replace(/^/, " ") ?? "";
  const photos = somePhotos(dataset, 5);
  const latency = [];
  for (const views of ["centre", "flip", "ten_crop"]) {
    await page.selectOption("#predict-views", views);
    latency.push(`predict_ms_${views}=${await predictMs(page, photos, "#prediction .row")}`);
  }
  await page.selectOption("#predict-views", "centre");
  await page.check("#predict-explain");
  latency.push(`explain_ms=${await predictMs(page, photos, "#prediction .explanation canvas")}`);
  console.log(`browser-${backend} strategy=${strategyArg} seed=${process.env.BENCH_SEED ?? "0"}${fit} val_accuracy=${accuracy.toFixed(4)} seconds_to_first_val=${((firstVal - start) / 1000).toFixed(1)} seconds_to_images_ready=${((imagesReady - start) / 1000).toFixed(1)} extract_images_per_s=${rate.toFixed(2)} images=${images}${workers}${check} ${latency.join(" ")} device="${device.replace(/\s+/g, " ")}"`);
} finally {
  await browser.close();
}
