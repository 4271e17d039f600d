// Usage: node scripts/bench_scale.mjs ORIGIN FOLDER WEIGHTS [EPOCHS] [--strategy=STRATEGY] [--check]
// Drives the real page like a user on a large photo folder (scripts/make_photo_folder.py): picks
// FOLDER, trains with STRATEGY on the wasm CPU path from WEIGHTS (a path under ORIGIN; `random`:
// ResNet18 with random weights, for time and memory where its file is absent) for EPOCHS
// (default 10) to the end, and prints one line: images, time to each phase, images/s, the engine
// worker's wasm memory (peak, at the end of each epoch), a helper's (extracting features, or its
// peak computing shares of split batches), the JS heap of the page, of the engine's worker and of
// the helper workers (peak of each), and what the engine's worker keeps after each epoch (JS heap
// and ArrayBuffers after a garbage collection), the validation accuracy.
// STRATEGY, a value of the page's "What to train" menu: head_only (default: features extracted once
// per image on helper workers, then the head), last_stages:K (the last K stages + head: each
// batch's files decoded when its step needs them, on a helper too), full, progressive, …
// --check (CI, EPOCHS ≥ 3): exits 1 unless the run finished, the engine's wasm memory did not grow
// from the second epoch to the last (the first autosave, after epoch 1, allocates the exported
// file once), the engine worker's live JS heap grew by less than the run's reports can take (the
// worker keeps them for the saved model), and, when features were extracted once (head only), the
// engine's peak stayed below what keeping the decoded images would take alone.
import { launchChromium } from "./chromium.mjs";
import { openWithWeights } from "./page_weights.mjs";
import { watchWorkerHeaps } from "./worker_heaps.mjs";

const args = process.argv.slice(2);
const option = (name) => args.find((arg) => arg.startsWith(`--${name}=`))?.split("=")[1];
const check = args.includes("--check");
const [origin, folder, weights, epochsArg] = args.filter((arg) => !arg.startsWith("--"));
const epochs = Number(epochsArg || 10);
const [strategy, stages] = (option("strategy") || "head_only").split(":");
/** What the engine kept per image before images stayed files: RGB at Resize(256) of a 4:3 photo. */
const DECODED_IMAGE_BYTES = 341 * 256 * 3;
const MB = 1048576;
/** An upper bound of one epoch's report in the worker's JS heap: confusion matrix, misclassified names, losses. */
const reportBytesPerEpoch = (classes, images) => 16 * classes * classes + 200 * images + 64 * 1024;
/** The worker a heap belongs to, from its script. */
const workerKind = (url) => (/\/worker\.js$/.test(url) ? "engine" : /\/extractor\.js$/.test(url) ? "helper" : "other");

/**
 * Runs in the engine's worker: notes, in wall-clock milliseconds, when it reports extraction
 * progress, when it ends each epoch and when that epoch's autosave is done. The page's own record
 * waits on the page's thread, which a large epoch report keeps busy for seconds.
 */
function noteProgressTimes() {
  const post = self.postMessage.bind(self);
  self.progressTimes = { lastExtraction: null, epochEnds: [], saveEnds: [] };
  self.postMessage = (message, transfer) => {
    const now = performance.timeOrigin + performance.now();
    if (message?.type === "progress" && message.progress.phase === "extracting") self.progressTimes.lastExtraction = now;
    if (message?.type === "progress" && message.progress.epoch_report) self.progressTimes.epochEnds.push(now);
    if (message?.type === "autosaved" || message?.type === "saveFailed") self.progressTimes.saveEnds.push(now);
    return post(message, transfer);
  };
}

const browser = await launchChromium(["--enable-precise-memory-info"]);
const workerHeaps = await watchWorkerHeaps(browser);
let failures = [];
try {
  const page = await browser.newPage();
  page.on("pageerror", (err) => failures.push(`page error: ${err.message}`));
  const text = (id) => page.evaluate((id) => document.getElementById(id).textContent, id);
  const data = () => page.evaluate(() => ({ ...document.getElementById("progress-text").dataset }));
  const pageHeap = () => page.evaluate(() => performance.memory?.usedJSHeapSize ?? 0);
  await openWithWeights(page, origin, weights, { seed: "0", backend: "cpu" });
  await page.fill("#settings [name=epochs]", String(epochs));
  await page.selectOption("#settings [name=strategy]", strategy);
  if (stages) await page.fill("#settings [name=stages]", stages);
  const engineWorker = page.workers().find((worker) => workerKind(worker.url()) === "engine");
  await engineWorker.evaluate(noteProgressTimes);

  const start = Date.now();
  await page.setInputFiles("#folder-picker", folder);
  const picked = Date.now();
  await page.waitForFunction(() => /images in \d+ classes ready/.test(document.getElementById("images-status").textContent), null, { timeout: 1800000 });
  const ready = Date.now();
  const [, images, classes] = (await text("images-status")).match(/(\d+) images in (\d+) classes/).map(Number);

  // The workers are watched on their own, every 250 ms: the page's thread may be busy. After each
  // epoch's autosave, what the engine's worker keeps (JS heap and ArrayBuffers after a garbage
  // collection). Not at the epoch's end: the autosave that follows holds the exported file and the
  // record being stored, and after the last epoch nothing else would let them go before the sample.
  const peakHeap = { page: await pageHeap(), engine: 0, helper: 0 };
  const liveByEpoch = [];
  let training = true;
  const watchOnce = async () => {
    for (const { url, used } of await workerHeaps.sample()) peakHeap[workerKind(url)] = Math.max(peakHeap[workerKind(url)] ?? 0, used);
    const { saveEnds } = await engineWorker.evaluate(() => self.progressTimes);
    if (saveEnds.length > liveByEpoch.length) {
      liveByEpoch[saveEnds.length - 1] = (await workerHeaps.sample({ collect: true, only: (url) => workerKind(url) === "engine" }))[0];
    }
  };
  const watchWorkers = (async () => {
    while (training) {
      await watchOnce();
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    // The last epoch's autosave ends just before the page says the run finished.
    await watchOnce();
  })();
  const trainStart = Date.now();
  await page.click("#start");
  for (;;) {
    const status = await text("progress-text");
    peakHeap.page = Math.max(peakHeap.page, await pageHeap());
    if (/Training finished|error|could not/i.test(status)) break;
    await page.waitForTimeout(500);
  }
  training = false;
  await watchWorkers;
  const end = Date.now();
  const final = await data();
  const times = await engineWorker.evaluate(() => self.progressTimes);
  const accuracy = Number(await page.getAttribute("#accuracy-text", "data-val-accuracy"));
  const epochMemory = (final.epochWasmMemory || "").split(",").filter(Boolean).map(Number);
  const [second, last] = [epochMemory[1], epochMemory.at(-1)];
  const seconds = (from, to) => ((to - from) / 1000).toFixed(1);
  // A run on cached features (head only) extracts them first: its first epoch starts after that.
  const extracted = times.lastExtraction != null;
  const firstEpochStart = extracted ? times.lastExtraction : trainStart;
  const epochSeconds = times.epochEnds.map((t, i) => seconds(i ? times.epochEnds[i - 1] : firstEpochStart, t));
  const mb = (bytes) => (bytes / MB).toFixed(0);
  // The data check runs between the extraction and the first epoch's training (within epoch_s).
  const checkSeconds = await page.getAttribute("#doctor-status", "data-seconds");
  const byEpoch = (figure) => Array.from({ length: epochs }, (_, i) => (liveByEpoch[i] ? figure(liveByEpoch[i]) : "-")).join(",");
  console.log([
    `scale images=${images} classes=${classes} epochs=${epochs} strategy=${strategy}${stages ? `:${stages}` : ""}`,
    `seconds_to_pick=${seconds(start, picked)} seconds_to_images_ready=${seconds(picked, ready)}`,
    extracted
      ? `extraction_s=${seconds(trainStart, firstEpochStart)} extract_images_per_s=${(images / ((firstEpochStart - trainStart) / 1000)).toFixed(2)}`
      : `images_per_s_in_epochs=${((images * times.epochEnds.length) / ((times.epochEnds.at(-1) - trainStart) / 1000)).toFixed(2)}`,
    `epoch_s=${epochSeconds.join(",")} seconds_total=${seconds(start, end)}${checkSeconds ? ` check_s=${checkSeconds}` : ""}`,
    `engine_wasm_mb_peak=${mb(final.peakWasmMemory)} engine_wasm_mb_by_epoch=${epochMemory.map(mb).join(",")}`,
    extracted
      ? `helper_wasm_mb=${mb(final.helperMemory)} workers=${final.extractionWorkers}`
      : `training_workers=${final.trainingWorkers ?? 1}${final.peakHelperMemory ? ` helper_wasm_mb_peak=${mb(final.peakHelperMemory)}` : ""}`,
    `page_js_heap_mb_peak=${mb(peakHeap.page)} engine_worker_js_heap_mb_peak=${mb(peakHeap.engine)} helper_js_heap_mb_peak=${mb(peakHeap.helper)}`,
    `engine_worker_live_js_heap_mb_by_epoch=${byEpoch((live) => (live.used / MB).toFixed(1))}`,
    `engine_worker_live_buffers_mb_by_epoch=${byEpoch((live) => (live.buffers / MB).toFixed(1))}`,
    `val_accuracy=${accuracy.toFixed(4)} keeping_decoded_images_would_take_mb=${mb(images * DECODED_IMAGE_BYTES)}`,
  ].filter(Boolean).join(" "));
  if (check) {
    if (!/Training finished/.test(await text("progress-text"))) failures.push(`the run did not finish: ${await text("progress-text")}`);
    if (times.epochEnds.length !== epochs) failures.push(`${times.epochEnds.length} epoch reports, not ${epochs}`);
    if (!(last > 0) || last !== second) failures.push(`the engine's wasm memory changed from ${second} bytes after epoch 2 to ${last} after epoch ${epochs}`);
    // From the first epoch after the first that was measured (two epochs may end between polls).
    const from = liveByEpoch.findIndex((live, i) => i >= 1 && live);
    const heapGrowth = liveByEpoch[epochs - 1]?.used - liveByEpoch[from]?.used;
    const reportGrowth = (epochs - 1 - from) * reportBytesPerEpoch(classes, images);
    if (!(from >= 1 && from < epochs - 1)) failures.push("the engine worker's heap was not measured after two epochs from the second on");
    else if (!(heapGrowth <= reportGrowth)) {
      failures.push(`the engine worker's live JS heap grew by ${heapGrowth} bytes from epoch ${from + 1} to ${epochs}, more than the ${reportGrowth} bytes its reports can take`);
    }
    if (extracted && !(final.peakWasmMemory < images * DECODED_IMAGE_BYTES)) {
      failures.push(`the engine's wasm memory peaked at ${final.peakWasmMemory} bytes: not below the ${images * DECODED_IMAGE_BYTES} bytes the decoded images alone would take`);
    }
  }
} finally {
  await workerHeaps.close().catch(() => {});
  await browser.close();
}
if (failures.length) {
  console.error(failures.join("\n"));
  process.exit(1);
}
