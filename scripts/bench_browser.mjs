// Usage: node scripts/bench_browser.mjs URL_OF_BENCH_PAGE [URL ...]
// Loads each benchmark page in turn, each in a fresh page (onnxruntime-web's page times one thread
// count per load), and prints the lines it reports, e.g. `browser-webgpu model=resnet18 batch=1 images_per_s=0.3`.
import { launchChromium } from "./chromium.mjs";

const browser = await launchChromium();
try {
  for (const url of process.argv.slice(2)) {
    const page = await browser.newPage();
    page.on("console", (msg) => { if (msg.type() === "error") console.error(`page: ${msg.text()}`); });
    await page.goto(url);
    await page.waitForFunction(() => window.benchDone === true, null, { timeout: 30 * 60 * 1000, polling: 1000 });
    for (const line of await page.evaluate(() => window.benchResults)) console.log(line);
    await page.close();
  }
} finally {
  await browser.close();
}
