// End-to-end: data-parallel training in the page (www/data-parallel.js). On a cross-origin-isolated
// page the engine's worker splits each training and validation batch with helper workers, which
// add up through shared memory; the run must train as one worker does on the same settings, where
// the page is not isolated. Small: 20 images, one epoch of MobileNetV2 fully fine-tuned.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launchChromium } from "../../scripts/chromium.mjs";
import { encodePng } from "./png.mjs";
import { waitForText, withServer } from "./site.mjs";

/** Two classes of ten noisy images each: texture keeps BatchNorm's batch variances away from zero. */
function makeDataset() {
  const root = join(mkdtempSync(join(tmpdir(), "bft-split-")), "two");
  for (const [name, tint] of [["warm", [200, 60, 40]], ["cool", [40, 80, 200]]]) {
    mkdirSync(join(root, name), { recursive: true });
    for (let i = 0; i < 10; i++) {
      const noise = (x, y) => ((x * 37 + y * 11 + i * 71) * 2654435761 >>> 24) % 64;
      writeFileSync(join(root, name, `${i}.png`), encodePng(64, 48, (x, y) => tint.map((c) => Math.min(255, c + noise(x, y) + ((x + y) % 8) * 4))));
    }
  }
  return root;
}

/** Runs in the engine's worker: keeps every training step's loss it reports. */
function keepLosses() {
  const post = self.postMessage.bind(self);
  self.stepLosses = [];
  self.postMessage = (message, transfer) => {
    if (message?.type === "progress" && message.progress.phase === "training" && message.progress.loss != null) {
      self.stepLosses.push(message.progress.loss);
    }
    return post(message, transfer);
  };
}

/** Fully fine-tunes MobileNetV2 for one epoch in batches of 8 on the CPU path; what the run did. */
async function train(origin, dataset) {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    page.on("pageerror", (err) => console.error(`page error: ${err.message}`));
    await page.goto(`${origin}/index.html?seed=1&backend=cpu`);
    await waitForText(page, "#weights-status", /MobileNetV2 ImageNet weights loaded/);
    const engineWorker = page.workers().find((worker) => /\/worker\.js$/.test(worker.url()));
    await engineWorker.evaluate(keepLosses);
    await page.fill("#settings [name=epochs]", "1");
    await page.fill("#settings [name=batch_size]", "8");
    await page.fill("#settings [name=val_fraction]", "0.25");
    await page.selectOption("#settings [name=strategy]", "full");
    await page.setInputFiles("#folder-picker", dataset);
    await waitForText(page, "#images-status", /20 images in 2 classes ready/);
    await page.click("#start");
    await waitForText(page, "#progress-text", /Training finished|error|failed/i, 600000);
    return {
      isolated: await page.evaluate(() => self.crossOriginIsolated),
      cores: await page.evaluate(() => navigator.hardwareConcurrency),
      finished: await page.textContent("#progress-text"),
      workers: Number(await page.getAttribute("#progress-text", "data-training-workers") ?? 1),
      losses: await engineWorker.evaluate(() => self.stepLosses),
      accuracy: await page.textContent("#accuracy-text"),
    };
  } finally {
    await browser.close();
  }
}

test("an isolated page splits each training and validation batch across its workers and trains as one worker", { timeout: 15 * 60 * 1000 }, async () => {
  const dataset = makeDataset();
  const split = await withServer("/", ({ origin }) => train(origin, dataset), { isolated: true });
  const alone = await withServer("/", ({ origin }) => train(origin, dataset));
  console.log(`split across ${split.workers} workers: losses ${split.losses.join(", ")}; ${split.accuracy}`);
  console.log(`one worker: losses ${alone.losses.join(", ")}; ${alone.accuracy}`);
  assert.match(split.finished, /Training finished/);
  assert.match(alone.finished, /Training finished/);
  assert.equal(split.isolated, true);
  assert.equal(alone.isolated, false);
  assert.equal(alone.workers, 1);
  assert.ok(split.workers >= Math.min(2, split.cores), `the isolated page trained on ${split.workers} worker(s) with ${split.cores} cores`);
  // 15 training images: two steps.
  assert.equal(split.losses.length, 2);
  assert.equal(alone.losses.length, 2);
  // The first step starts from the same weights: only the order of the sums differs. The second
  // follows Adam's first step, whose tiny gradients' signs rounding may flip.
  assert.ok(Math.abs(split.losses[0] - alone.losses[0]) <= 1e-4 * alone.losses[0], `${split.losses} against ${alone.losses}`);
  assert.ok(Math.abs(split.losses[1] - alone.losses[1]) <= 2e-2 * alone.losses[1], `${split.losses} against ${alone.losses}`);
  // The validation batch (5 images) is split too, its logits added up: the same predictions.
  const validation = (text) => text.match(/validation accuracy [\d.]+ %/)?.[0];
  assert.ok(validation(alone.accuracy), alone.accuracy);
  assert.equal(validation(split.accuracy), validation(alone.accuracy));
});
