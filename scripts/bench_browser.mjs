// Usage: node scripts/bench_browser.mjs [--photos=DATASET] URL_OF_BENCH_PAGE [URL ...]
// Loads each benchmark page in turn, each in a fresh page (onnxruntime-web's page times one thread
// count per load), and prints the lines it reports, e.g. `browser-webgpu model=resnet18 batch=1 images_per_s=0.3`.
// --photos=DATASET: the pages may fetch the photos of DATASET/train under /bench-photos/ (the
// training benchmark's), and /bench-photos/index.json lists them, [{path, label}], taken in turn
// from each class folder as the native benchmark takes them.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { launchChromium } from "./chromium.mjs";

const args = process.argv.slice(2);
const photos = args.find((arg) => arg.startsWith("--photos="))?.slice("--photos=".length);
const urls = args.filter((arg) => !arg.startsWith("--"));

/** DATASET/train's photos, one from each class in turn, as {path, label}. */
function listPhotos(dataset) {
  const train = join(dataset, "train");
  const classes = readdirSync(train, { withFileTypes: true }).filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort();
  const files = classes.map((label) => readdirSync(join(train, label)).sort().map((file) => ({ path: `${label}/${file}`, label })));
  const listed = [];
  for (let position = 0; files.some((inClass) => position < inClass.length); position++) {
    for (const inClass of files) if (position < inClass.length) listed.push(inClass[position]);
  }
  return listed;
}

const browser = await launchChromium();
try {
  for (const url of urls) {
    const page = await browser.newPage();
    page.on("console", (msg) => { if (msg.type() === "error") console.error(`page: ${msg.text()}`); });
    if (photos) {
      const index = JSON.stringify(listPhotos(photos));
      await page.route("**/bench-photos/**", (route) => {
        const path = decodeURIComponent(new URL(route.request().url()).pathname.split("/bench-photos/")[1]);
        if (path === "index.json") return route.fulfill({ body: index, contentType: "application/json" });
        if (path.split("/").includes("..")) return route.fulfill({ status: 404 });
        return route.fulfill({ body: readFileSync(join(photos, "train", path)) });
      });
    }
    await page.goto(url);
    await page.waitForFunction(() => window.benchDone === true, null, { timeout: 60 * 60 * 1000, polling: 1000 });
    for (const line of await page.evaluate(() => window.benchResults)) console.log(line);
    await page.close();
  }
} finally {
  await browser.close();
}
