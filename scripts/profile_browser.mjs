// Where the wasm CPU path spends its time in Chromium: loads the forward benchmark page (one
// engine, on the page's thread) under DevTools' sampling profiler and prints the functions with
// the most self time. Function names need a wasm with its name section: build the package
// without ./build.sh's stripping (`wasm-pack build --release --target web --out-dir pkg
// --no-pack -- --features webgpu`), and serve it with `python3 scripts/serve.py PORT`.
// Usage: node scripts/profile_browser.mjs "http://127.0.0.1:PORT/www/bench.html?backends=cpu&workers=1&models=MobileNetV2&batches=8" [TOP]
import { launchChromium } from "./chromium.mjs";

const [url, top = "40"] = process.argv.slice(2);
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  const devtools = await page.context().newCDPSession(page);
  await devtools.send("Profiler.enable");
  await devtools.send("Profiler.setSamplingInterval", { interval: 200 });
  await devtools.send("Profiler.start");
  await page.goto(url);
  await page.waitForFunction(() => window.benchDone === true, null, { timeout: 30 * 60 * 1000, polling: 1000 });
  const { profile } = await devtools.send("Profiler.stop");
  for (const line of await page.evaluate(() => window.benchResults)) console.log(line);
  const selfSamples = new Map();
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  for (const id of profile.samples) {
    const name = byId.get(id).callFrame.functionName || "(anonymous)";
    selfSamples.set(name, (selfSamples.get(name) || 0) + 1);
  }
  const total = profile.samples.length;
  const rows = [...selfSamples].sort((a, b) => b[1] - a[1]).slice(0, Number(top));
  for (const [name, count] of rows) console.log(`${((100 * count) / total).toFixed(1).padStart(5)}%  ${name.slice(0, 160)}`);
} finally {
  await browser.close();
}
