// End-to-end: keeping what was trained, on the real page in Debian's Chromium, served under a
// sub-path. Autosave and reload, export and import, bad model files, the embed example with an
// image and a fake camera, and the page and the example with the network off. Saves the page's
// export as test-results/page-export.safetensors for the PyTorch check (scripts/test_pytorch_interop.sh).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launchChromium } from "../../scripts/chromium.mjs";
import { encodePng } from "./png.mjs";
import { ROOT, waitForText, watchPolicy, withServer } from "./site.mjs";

const PREFIX = "/tools/finetune/";

/** Two classes of small generated images, and an image to predict. */
function makeImages() {
  const root = join(mkdtempSync(join(tmpdir(), "bft-keep-")), "colours");
  const classes = {
    warm: (x, y, s) => [220, 80 + s, 30],
    cool: (x, y, s) => [30, 90 + s, 210],
  };
  for (const [name, pixel] of Object.entries(classes)) {
    mkdirSync(join(root, name), { recursive: true });
    for (let i = 0; i < 6; i++) {
      writeFileSync(join(root, name, `${i}.png`), encodePng(48, 40, (x, y) => pixel(x, y, (x * 7 + y * 13 + i * 29) % 31)));
    }
  }
  const probe = join(root, "..", "probe.png");
  writeFileSync(probe, encodePng(48, 40, (x, y) => [210, 90 + ((x + y) % 20), 40]));
  return { root, probe };
}

/** A copy of a safetensors file with a header value replaced by one of the same length. */
function withHeaderEdit(bytes, from, to) {
  assert.equal(from.length, to.length);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = bytes.subarray(8, 8 + headerLength).toString("latin1");
  assert.ok(header.includes(from), `${from} is in the header`);
  return Buffer.concat([bytes.subarray(0, 8), Buffer.from(header.replace(from, to), "latin1"), bytes.subarray(8 + headerLength)]);
}

const text = (page, selector) => page.textContent(selector);

async function predict(page, file) {
  await page.evaluate(() => document.getElementById("prediction").replaceChildren());
  await page.setInputFiles("#predict-picker", file);
  await page.waitForSelector("#prediction .row, #prediction .error");
  const failure = await page.$("#prediction .error");
  if (failure) assert.fail(`prediction failed: ${await failure.textContent()}`);
  return page.$$eval("#prediction .row", (rows) => rows.map((row) => row.textContent));
}

async function train(page, epochs) {
  await page.fill("#settings [name=epochs]", String(epochs));
  await page.fill("#settings [name=batch_size]", "4");
  await page.fill("#settings [name=val_fraction]", "0.34");
  await page.click("#start");
  await waitForText(page, "#progress-text", /Training finished/, 300000);
}

test("autosave and reload, export and import, embed, offline — under a sub-path", { timeout: 20 * 60 * 1000 }, async () => {
  const { root, probe } = makeImages();
  const results = join(ROOT, "test-results");
  mkdirSync(results, { recursive: true });
  const exportPath = join(results, "page-export.safetensors");
  await withServer(PREFIX, async ({ origin, base, stop }) => {
    const browser = await launchChromium(["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]);
    try {
      const context = await browser.newContext({ viewport: { width: 1100, height: 1800 } });
      await context.grantPermissions(["camera"]);
      const page = await context.newPage();
      page.on("pageerror", (err) => console.error(`page error: ${err.message}`));
      const pagePolicy = watchPolicy(page);
      await page.goto(`${base}index.html?seed=2`);
      // The page starts with MobileNetV2 (ResNet18's file is absent); this test keeps EfficientNet-Lite0.
      await waitForText(page, "#weights-status", /MobileNetV2 ImageNet weights loaded/);
      await page.selectOption("#backbone", "weights/efficientnet-lite0-57934424.pth");
      // Kept in the weights cache before anything reloads: the offline visit below loads it from there.
      await waitForText(page, "#weights-status", /EfficientNet-Lite0 ImageNet weights loaded.*Kept in this browser/);

      // Train two epochs: the worker saves after each one.
      await page.setInputFiles("#folder-picker", root);
      await waitForText(page, "#images-status", /12 images in 2 classes ready/);
      await train(page, 2);
      await waitForText(page, "#storage-status", /Saved in this browser after epoch 2/);
      console.log(`autosave: ${await text(page, "#storage-status")}`);
      await page.waitForSelector("#saved-models tbody tr");
      const before = await predict(page, probe);
      // The model as int8 ONNX, its activations calibrated on the run's validation photos
      // (scripts/test_onnx_export.sh runs it through onnxruntime against our engine's logits).
      await page.selectOption("#export-format", "onnx-int8");
      const [int8] = await Promise.all([page.waitForEvent("download"), page.click("#export")]);
      assert.match(int8.suggestedFilename(), /^EfficientNetLite0-cool-warm-.*\.int8\.onnx$/);
      await int8.saveAs(join(results, "page-export-int8.onnx"));
      assert.match(readFileSync(join(results, "page-export-int8.onnx"), "latin1"), /inputs uint8, calibrated on \d+ images/);
      await waitForText(page, "#storage-status", /activations were calibrated on \d+ of your validation photos/);
      await page.selectOption("#export-format", "f32");
      const report = await page.evaluate(() => ({
        epoch: document.getElementById("results-epoch").textContent,
        confusion: document.getElementById("confusion").textContent,
        perClass: document.getElementById("per-class").textContent,
      }));

      // Reload: the last model and its report are back and predict the same.
      const savedAt = Date.now();
      await page.reload();
      await waitForText(page, "#weights-status", /Opened the saved model/);
      await waitForText(page, "#results-epoch", /^2$/);
      console.log(`restored the saved model in ${Date.now() - savedAt} ms (page load included)`);
      // The service worker serves the page cross-origin isolated from the second visit on, on a
      // host that sends no such headers: its workers may share memory (training split across them).
      assert.equal(await page.evaluate(() => self.crossOriginIsolated), true, "the reloaded page is not cross-origin isolated");
      assert.match(await text(page, "#weights-status"), /classes cool, warm/);
      // The menu and the URL field name the opened model, not the weights of the first backbone.
      assert.match(await page.$eval("#backbone", (menu) => menu.selectedOptions[0].textContent), /^Opened: saved model “.*” \(EfficientNet-Lite0\)$/);
      assert.equal(await page.inputValue("#weights-url"), "");
      assert.deepEqual(await page.evaluate(() => ({
        epoch: document.getElementById("results-epoch").textContent,
        confusion: document.getElementById("confusion").textContent,
        perClass: document.getElementById("per-class").textContent,
      })), report);
      assert.deepEqual(await predict(page, probe), before);

      // Export → import: identical predictions.
      const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export")]);
      assert.match(download.suggestedFilename(), /^EfficientNetLite0-cool-warm-.*\.safetensors$/);
      await download.saveAs(exportPath);
      const exported = readFileSync(exportPath);
      console.log(`export: ${(exported.length / 1048576).toFixed(2)} MB (f32)`);
      await page.setInputFiles("#model-picker", exportPath);
      await waitForText(page, "#weights-status", /Opened the model file page-export\.safetensors/);
      assert.deepEqual(await predict(page, probe), before);
      // The same model as ONNX (scripts/test_onnx_export.sh runs it through onnxruntime against
      // our engine's logits for the .safetensors above).
      await page.selectOption("#export-format", "onnx");
      const [onnx] = await Promise.all([page.waitForEvent("download"), page.click("#export")]);
      assert.match(onnx.suggestedFilename(), /^EfficientNetLite0-cool-warm-.*\.onnx$/);
      await onnx.saveAs(join(results, "page-export.onnx"));
      const onnxBytes = readFileSync(join(results, "page-export.onnx"));
      assert.deepEqual([...onnxBytes.subarray(0, 2)], [0x08, 0x08], "an ONNX ModelProto of IR version 8");
      assert.ok(onnxBytes.includes('["cool","warm"]'), "the class names in metadata_props");
      // In int8 after the reload: no photos of a run to calibrate on, and the page says so.
      await page.selectOption("#export-format", "onnx-int8");
      await Promise.all([page.waitForEvent("download"), page.click("#export")]);
      await waitForText(page, "#storage-status", /Only its weights are int8: no photos of a run/);
      await page.selectOption("#export-format", "f32");

      // The runs table: the run with its strategy and settings, marked best of its classes; its
      // row downloads the saved model, which predicts the same.
      const row = await text(page, "#saved-models tbody tr");
      assert.match(row, /Head only · Adam lr 0\.001 · batch \d+/);
      assert.match(row, /★/);
      const [saved] = await Promise.all([page.waitForEvent("download"), page.click("#saved-models tbody tr button:has-text('Download')")]);
      assert.match(saved.suggestedFilename(), /^EfficientNetLite0-cool-warm-.*\.safetensors$/);
      const savedPath = join(results, "saved-run.safetensors");
      await saved.saveAs(savedPath);
      await page.setInputFiles("#model-picker", savedPath);
      await waitForText(page, "#weights-status", /Opened the model file saved-run\.safetensors/);
      assert.deepEqual(await predict(page, probe), before);

      // Bad model files: each gets its message and the page keeps working.
      const bad = {
        "truncated.safetensors": [exported.subarray(0, exported.length >> 1), /truncated or corrupt/],
        "newer.safetensors": [withHeaderEdit(exported, '"format_version":"1"', '"format_version":"9"'), /newer version.*format version 9/],
        "other.safetensors": [withHeaderEdit(exported, "EfficientNetLite0", "EfficientNetLite7"), /EfficientNetLite7, which this version cannot run/],
      };
      for (const [name, [bytes, message]] of Object.entries(bad)) {
        const path = join(results, name);
        writeFileSync(path, bytes);
        await page.setInputFiles("#model-picker", path);
        await page.waitForFunction((n) => document.getElementById("weights-status").classList.contains("error") &&
          document.getElementById("weights-status").textContent.includes(n), name);
        assert.match(await text(page, "#weights-status"), message);
      }
      assert.deepEqual(await predict(page, probe), before, "the model still predicts after the bad files");

      // The embed example under the same sub-path: an image and the fake camera.
      const embed = await context.newPage();
      embed.on("pageerror", (err) => console.error(`embed error: ${err.message}`));
      const embedPolicy = watchPolicy(embed);
      // It runs from the package installed in its own folder, nothing else of the repository.
      const embedRequests = [];
      embed.on("request", (request) => embedRequests.push(request.url()));
      embed.on("worker", (worker) => embedRequests.push(worker.url()));
      await embed.goto(`${base}examples/embed/`);
      assert.ok(await embedPolicy.inForce(), "an inline script ran in the embed example");
      await embed.setInputFiles("#model-file", exportPath);
      await waitForText(embed, "#model-status", /Loaded page-export\.safetensors: EfficientNetLite0, labels cool, warm; "none of these" under \d+\.\d %/);
      await embed.setInputFiles("#image-file", probe);
      await embed.waitForSelector("#image-result li");
      assert.equal((await text(embed, "#image-result li span")).trim(), before[0].match(/^(cool|warm)/)[1]);
      // Where it looked: classify's Grad-CAM map for the top label, drawn over the crop.
      await embed.waitForSelector("#image-heat:not([hidden])");
      assert.equal(await embed.$eval("#image-heat", (canvas) => canvas.dataset.label), before[0].match(/^(cool|warm)/)[1]);
      await embed.click("#camera");
      await embed.waitForSelector("#camera-result li", { timeout: 60000 });
      assert.match(await text(embed, "#camera-result"), /(cool|warm)\s*\d+\.\d %/);

      // Network off: the page and the example load from the service worker's cache; the weights
      // from the weights cache; training and prediction work.
      await page.evaluate(() => navigator.serviceWorker.ready);
      // The example keeps itself with a service worker of its own (examples/embed/sw.js).
      await embed.evaluate(() => navigator.serviceWorker.ready);
      const outside = embedRequests.filter((url) => url.startsWith(origin) && !url.startsWith(`${base}examples/embed/`));
      assert.deepEqual(outside, [], "the example fetched only from its own folder");
      assert.ok(embedRequests.some((url) => url.includes("examples/embed/node_modules/browser-finetune-classifier/inference/")),
        "the example ran the installed package's inference build");
      // A second page that is in front stops Playwright's folder upload to this one: close it.
      embedPolicy.check();
      await embed.close();
      stop();
      await context.setOffline(true);
      await page.goto(`${base}index.html?seed=4`);
      await waitForText(page, "#weights-status", /Opened the saved model/);
      await page.selectOption("#backbone", "weights/efficientnet-lite0-57934424.pth");
      await waitForText(page, "#weights-status", /EfficientNet-Lite0 ImageNet weights loaded.*from this browser's cache/);
      await page.setInputFiles("#folder-picker", makeImages().root);
      await waitForText(page, "#images-status", /12 images in 2 classes ready/);
      await train(page, 1);
      assert.equal((await predict(page, probe)).length, 2);
      const offlineEmbed = await context.newPage();
      const offlineEmbedPolicy = watchPolicy(offlineEmbed);
      await offlineEmbed.goto(`${base}examples/embed/`);
      await offlineEmbed.setInputFiles("#model-file", exportPath);
      await waitForText(offlineEmbed, "#model-status", /Loaded page-export\.safetensors/);
      await offlineEmbed.setInputFiles("#image-file", probe);
      await offlineEmbed.waitForSelector("#image-result li");
      await page.screenshot({ path: join(results, "keep.png"), fullPage: true });
      await offlineEmbed.screenshot({ path: join(results, "embed.png"), fullPage: true });
      pagePolicy.check();
      offlineEmbedPolicy.check();
    } finally {
      await browser.close();
    }
  });
});
