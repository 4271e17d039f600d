// Usage: node scripts/bench_scale.mjs ORIGIN FOLDER WEIGHTS [EPOCHS] [--check]
// Drives the real page like a user on a large photo folder (scripts/make_photo_folder.py): picks
// FOLDER, trains the head on the wasm CPU path from WEIGHTS (a path under ORIGIN) for EPOCHS
// (default 10) to the end, and prints one line: images, time to each phase, extraction images/s,
// the engine worker's wasm memory (peak, at the end of each epoch), a helper's, the page's JS
// heap, the validation accuracy.
// --check (CI, EPOCHS ≥ 3): exits 1 unless the run finished, the engine's memory did not grow from
// the second epoch to the last (the first autosave, after epoch 1, allocates the exported file
// once), and its peak stayed below what keeping the decoded images would take alone.
import { launchChromium } from "./chromium.mjs";

const args = process.argv.slice(2);
const check = args.includes("--check");
const [origin, folder, weights, epochsArg] = args.filter((arg) => arg !== "--check");
const epochs = Number(epochsArg || 10);
/** What the engine kept per image before images stayed files: RGB at Resize(256) of a 4:3 photo. */
const DECODED_IMAGE_BYTES = 341 * 256 * 3;
const MB = 1048576;

const browser = await launchChromium(["--enable-precise-memory-info"]);
let failures = [];
try {
  const page = await browser.newPage();
  page.on("pageerror", (err) => failures.push(`page error: ${err.message}`));
  const text = (id) => page.evaluate((id) => document.getElementById(id).textContent, id);
  const data = () => page.evaluate(() => ({ ...document.getElementById("progress-text").dataset }));
  const heap = () => page.evaluate(() => performance.memory?.usedJSHeapSize ?? 0);
  const pageTime = () => page.evaluate(() => performance.now());
  await page.goto(`${origin}/index.html?${new URLSearchParams({ seed: "0", backend: "cpu", weights })}`);
  await page.waitForFunction(() => / weights loaded/.test(document.getElementById("weights-status").textContent), null, { timeout: 300000 });
  await page.fill("#settings [name=epochs]", String(epochs));

  const start = Date.now();
  await page.setInputFiles("#folder-picker", folder);
  const picked = Date.now();
  await page.waitForFunction(() => /images in \d+ classes ready/.test(document.getElementById("images-status").textContent), null, { timeout: 1800000 });
  const ready = Date.now();
  const images = Number((await text("images-status")).match(/(\d+) images/)[1]);
  let peakHeap = await heap();

  // Times in the page's clock from here on: the page records when each epoch ended.
  const trainStart = await pageTime();
  await page.click("#start");
  let extractEnd = null;
  for (;;) {
    const status = await text("progress-text");
    if (!extractEnd && /Epoch/.test(status)) extractEnd = await pageTime();
    peakHeap = Math.max(peakHeap, await heap());
    if (/Training finished|error|could not/i.test(status)) break;
    await page.waitForTimeout(500);
  }
  const end = Date.now();
  const final = await data();
  const accuracy = Number(await page.getAttribute("#accuracy-text", "data-val-accuracy"));
  const epochMemory = (final.epochWasmMemory || "").split(",").filter(Boolean).map(Number);
  const [second, last] = [epochMemory[1], epochMemory.at(-1)];
  const seconds = (from, to) => ((to - from) / 1000).toFixed(1);
  const epochEnds = (final.epochEnds || "").split(",").filter(Boolean).map(Number);
  // Extraction ends with the first training step: the first epoch is timed from the last
  // extraction report the poll saw, at most half a second late.
  const epochSeconds = epochEnds.map((t, i) => seconds(i ? epochEnds[i - 1] : extractEnd, t));
  console.log([
    `scale images=${images} epochs=${epochs}`,
    `seconds_to_pick=${seconds(start, picked)} seconds_to_images_ready=${seconds(picked, ready)}`,
    `extraction_s=${seconds(trainStart, extractEnd)} extract_images_per_s=${(images / ((extractEnd - trainStart) / 1000)).toFixed(2)}`,
    `epoch_s=${epochSeconds.join(",")} seconds_total=${seconds(start, end)}`,
    `engine_wasm_mb_peak=${(final.peakWasmMemory / MB).toFixed(0)} engine_wasm_mb_by_epoch=${epochMemory.map((m) => (m / MB).toFixed(0)).join(",")}`,
    `helper_wasm_mb=${(final.helperMemory / MB).toFixed(0)} workers=${final.extractionWorkers}`,
    `page_js_heap_mb_peak=${(peakHeap / MB).toFixed(0)} val_accuracy=${accuracy.toFixed(4)}`,
    `keeping_decoded_images_would_take_mb=${((images * DECODED_IMAGE_BYTES) / MB).toFixed(0)}`,
  ].join(" "));
  if (check) {
    if (!/Training finished/.test(await text("progress-text"))) failures.push(`the run did not finish: ${await text("progress-text")}`);
    if (epochEnds.length !== epochs) failures.push(`${epochEnds.length} epoch reports, not ${epochs}`);
    if (!(last > 0) || last !== second) failures.push(`the engine's wasm memory changed from ${second} bytes after epoch 2 to ${last} after epoch ${epochs}`);
    if (!(final.peakWasmMemory < images * DECODED_IMAGE_BYTES)) {
      failures.push(`the engine's wasm memory peaked at ${final.peakWasmMemory} bytes: not below the ${images * DECODED_IMAGE_BYTES} bytes the decoded images alone would take`);
    }
  }
} finally {
  await browser.close();
}
if (failures.length) {
  console.error(failures.join("\n"));
  process.exit(1);
}
