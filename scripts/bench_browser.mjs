// Usage: node scripts/bench_browser.mjs URL_OF_BENCH_PAGE
// Prints the lines the benchmark page reports, e.g. `browser-webgpu batch=1 images_per_s=0.3`.
import { launchChromium } from "./chromium.mjs";

const url = process.argv[2];
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  page.on("console", (msg) => { if (msg.type() === "error") console.error(`page: ${msg.text()}`); });
  await page.goto(url);
  await page.waitForFunction(() => window.benchDone === true, null, { timeout: 30 * 60 * 1000, polling: 1000 });
  for (const line of await page.evaluate(() => window.benchResults)) console.log(line);
} finally {
  await browser.close();
}
