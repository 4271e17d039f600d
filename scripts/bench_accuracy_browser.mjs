// Usage: node scripts/bench_accuracy_browser.mjs ORIGIN DATASET BACKEND [WEIGHTS] [STRATEGY]
// Drives the real page like a user: picks the ImageFolder DATASET, trains with the default
// settings and STRATEGY (a value of the page's "What to train" menu, default head_only; a number
// after a colon sets last_stages' stages or progressive's epochs per stage, as in bench-finetune) on
// BACKEND (webgpu | cpu | auto) from WEIGHTS (a path under ORIGIN; default: the page's own choice;
// `random`: ResNet18 with random weights, for timing only), and prints
// `browser-BACKEND strategy=… val_accuracy=… seconds_to_first_val=… extract_images_per_s=…`.
// BENCH_SIMD=plain: the plain wasm build where the relaxed-SIMD one would run (www/wasm-build.js).
// BENCH_SEED: the page's ?seed= (default 0), for a strategy's browser runs over several seeds.
import { launchChromium } from "./chromium.mjs";
import { openWithWeights } from "./page_weights.mjs";

const [origin, dataset, backend, weights, strategyArg = "head_only"] = process.argv.slice(2);
const [strategy, count] = strategyArg.split(":");
/** The menu's input that the number after the colon sets, as bench-finetune reads it. */
const countInput = { last_stages: "stages", progressive: "every" }[strategy];
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
  // The data check the page runs once the features are extracted (runs on cached features).
  const checkSeconds = await page.getAttribute("#doctor-status", "data-seconds");
  const check = checkSeconds ? ` check_seconds=${checkSeconds}` : "";
  const fit = (await text(page, "accuracy-text")).match(/C = \S+/)?.[0].replace(" = ", "=").replace(/^/, " ") ?? "";
  console.log(`browser-${backend} strategy=${strategyArg} seed=${process.env.BENCH_SEED ?? "0"}${fit} val_accuracy=${accuracy.toFixed(4)} seconds_to_first_val=${((firstVal - start) / 1000).toFixed(1)} seconds_to_images_ready=${((imagesReady - start) / 1000).toFixed(1)} extract_images_per_s=${rate.toFixed(2)} images=${images}${workers}${check} device="${device.replace(/\s+/g, " ")}"`);
} finally {
  await browser.close();
}
