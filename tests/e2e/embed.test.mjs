// The embed's inference-only build (www/embed/inference/): it predicts what the page's engine predicts
// for the same export, here with test-time augmentation (the mirror image's view averaged in), and
// explains its predictions with the same Grad-CAM maps.
// (keep.test.mjs runs the embed example on it, online and offline, on the centre crop.)
import assert from "node:assert/strict";
import { test } from "node:test";

import { launchChromium } from "../../scripts/chromium.mjs";
import { PHOTOS, comparePredictions, trainExport } from "../../scripts/embed_model.mjs";
import { withServer } from "./site.mjs";

const WEIGHTS = "weights/efficientnet-lite0-57934424.pth";

test("the inference-only build predicts as the page's engine", { timeout: 10 * 60 * 1000 }, async () => {
  await withServer("/", async ({ base }) => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      page.on("pageerror", (err) => console.error(`page error: ${err.message}`));
      await page.goto(`${base}examples/embed/`);
      const model = await page.evaluate(trainExport, { base, weights: WEIGHTS, photos: PHOTOS });
      const compared = await page.evaluate(comparePredictions, {
        base, model, photos: PHOTOS, inference: "www/embed/inference/browser_finetune.js", device: "cpu", views: "flip", explain: true,
      });
      let largest = 0;
      let largestInMaps = 0;
      for (const { name, page: ours, embed, unknown, maps: [pageMap, embedMap] } of compared.results) {
        assert.equal(embedMap.length, pageMap.length, `${name}: maps of one size`);
        assert.ok(embedMap.every((v) => v >= 0 && v <= 1), `${name}: the embed's map is scaled to [0, 1]`);
        for (const [i, v] of pageMap.entries()) largestInMaps = Math.max(largestInMaps, Math.abs(v - embedMap[i]));
        const top = (probabilities) => probabilities.indexOf(Math.max(...probabilities));
        assert.equal(top(embed), top(ours), `${name}: the same top class`);
        assert.equal(unknown[1], unknown[0], `${name}: the same "unknown" verdict`);
        for (const [i, p] of ours.entries()) largest = Math.max(largest, Math.abs(p - embed[i]));
      }
      assert.ok(largest <= 1e-4, `probabilities within 1e-4 of the page's, largest difference ${largest}`);
      assert.ok(largestInMaps <= 1e-4, `heat maps within 1e-4 of the page's, largest difference ${largestInMaps}`);
      console.log(`inference build: ${compared.results.length} photos, same top class, largest probability difference ${largest.toExponential(2)}, ` +
        `largest heat-map difference ${largestInMaps.toExponential(2)}`);
    } finally {
      await browser.close();
    }
  });
});
