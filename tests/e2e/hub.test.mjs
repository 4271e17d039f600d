// End-to-end: ResNet18's weights for a user whose site has no file of them — the page's one-click
// download from the Hugging Face hub — against local servers standing in for the hub and its
// download host, never the internet. Chromium resolves huggingface.co and us.aws.cdn.hf.co to
// them (and every other name to nothing), over TLS with a certificate made here, so the page
// fetches the very URLs it would for a real user, under its real Content Security Policy: the
// hub answers with a redirect to the download host, as it does. Also: the menu offers only what
// is there without probing for absent files (no 404), the download fails clearly while the
// network is down and the page goes on working, and the weights come from the Cache API after a
// reload. Also scripts/fetch_weights.py, which `./build.sh serve` runs for torchvision's file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launchChromium } from "../../scripts/chromium.mjs";
import { ROOT, waitForText, watchPolicy, withServer } from "./site.mjs";

const HUB_PATH = "/timm/resnet18.tv_in1k/resolve/main/model.safetensors";
const DOWNLOAD_PATH = "/xet-bridge-us/resnet18/model?X-Amz-Expires=3600";

/**
 * A ResNet18 state_dict under torchvision's names and shapes (tests/fixtures/resnet18_keys.json),
 * as a safetensors file: small seeded weights, BatchNorm at identity.
 */
function resnet18Safetensors() {
  const { keys } = JSON.parse(readFileSync(join(ROOT, "tests", "fixtures", "resnet18_keys.json"), "utf8"));
  const header = {};
  const parts = [];
  let offset = 0;
  let seed = 1;
  for (const { key, shape, dtype } of keys) {
    const count = shape.reduce((a, b) => a * b, 1);
    let bytes;
    if (dtype === "int64") {
      bytes = Buffer.alloc(8 * count);
    } else {
      const values = new Float32Array(count);
      const fill = key.endsWith("running_var") || (key.includes("bn") && key.endsWith(".weight")) ? () => 1
        : key.endsWith("running_mean") || key.endsWith(".bias") ? () => 0
        : () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5) * 0.05;
      for (let i = 0; i < count; i++) values[i] = fill();
      bytes = Buffer.from(values.buffer);
    }
    header[key] = { dtype: dtype === "int64" ? "I64" : "F32", shape, data_offsets: [offset, offset + bytes.length] };
    parts.push(bytes);
    offset += bytes.length;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([length, Buffer.from(json), ...parts]);
}

/** An HTTPS server on a free loopback port; `handle(req, res)` answers. */
async function httpsServer(tls, handle) {
  const server = https.createServer(tls, handle);
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}

test("one click fetches ResNet18's weights from the hub (a local stand-in), offline says so", { timeout: 10 * 60 * 1000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "bft-hub-"));
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=huggingface.co",
    "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem")], { stdio: "ignore" });
  const tls = { key: readFileSync(join(dir, "key.pem")), cert: readFileSync(join(dir, "cert.pem")) };
  const weights = resnet18Safetensors();
  const served = { hub: 0, download: 0 };
  let networkUp = false;
  // The hub: a redirect to its download host, with CORS as the hub sends it.
  const hub = await httpsServer(tls, (req, res) => {
    if (!networkUp) return req.socket.destroy();
    served.hub += 1;
    if (req.url !== HUB_PATH) return res.writeHead(404).end();
    res.writeHead(302, { Location: `https://us.aws.cdn.hf.co${DOWNLOAD_PATH}`, "Access-Control-Allow-Origin": "*" }).end();
  });
  const download = await httpsServer(tls, (req, res) => {
    if (!networkUp) return req.socket.destroy();
    served.download += 1;
    if (req.url !== DOWNLOAD_PATH) return res.writeHead(404).end();
    res.writeHead(200, { "Content-Type": "application/octet-stream", "Content-Length": weights.length, "Access-Control-Allow-Origin": "*" });
    res.end(weights);
  });
  const rules = [`MAP huggingface.co 127.0.0.1:${hub.address().port}`, `MAP us.aws.cdn.hf.co 127.0.0.1:${download.address().port}`,
    "MAP * ~NOTFOUND", "EXCLUDE 127.0.0.1"];
  try {
    await withServer("/", async ({ origin }) => {
      const browser = await launchChromium([`--host-resolver-rules=${rules.join(", ")}`, "--ignore-certificate-errors"]);
      try {
        const context = await browser.newContext({ viewport: { width: 1100, height: 1400 } });
        const missing = [];
        context.on("response", (response) => { if (response.status() === 404) missing.push(response.url()); });
        const page = await context.newPage();
        page.on("pageerror", (err) => console.error(`page error: ${err.message}`));
        const policy = watchPolicy(page);
        await page.goto(`${origin}/index.html`);
        assert.ok(await policy.inForce(), "the Content Security Policy is not in force");

        // Without ResNet18's file the page starts with MobileNetV2, offers ResNet18's download, and
        // marks what can be had without asking the server for absent files.
        await waitForText(page, "#weights-status", /MobileNetV2 ImageNet weights loaded/);
        const option = (file) => page.$eval(`#backbone option[value='weights/${file}']`, (o) => ({ text: o.textContent, disabled: o.disabled, title: o.title }));
        assert.match((await option("resnet18-f37072fd.pth")).text, /ResNet18 \(torchvision\) · download ≈ 44\.6 MB$/);
        assert.match((await option("resnet50-0676ba61.pth")).text, /download ≈ 97\.8 MB$/);
        const vgg = await option("vgg16-397923af.pth");
        assert.ok(vgg.disabled && /unavailable$/.test(vgg.text), `VGG16 shown as ${JSON.stringify(vgg)}`);
        assert.match(vgg.title, /put torchvision's vgg16-397923af\.pth in the weights\/ folder/);
        assert.doesNotMatch((await option("efficientnet-lite0-57934424.pth")).text, /download|unavailable/);
        assert.match(await page.textContent("#weights-offer"), /ResNet18's ImageNet weights are not beside this page/);
        assert.deepEqual(missing, [], "the page asked for files that are not there");
        assert.deepEqual(served, { hub: 0, download: 0 }, "nothing is downloaded before the click");

        // The network is down: a clear message, and MobileNetV2 still loaded and usable.
        await page.click("#download-weights");
        await page.waitForFunction(() => document.getElementById("weights-status").classList.contains("error"));
        const offline = await page.textContent("#weights-status");
        assert.match(offline, /Could not download the weights from https:\/\/huggingface\.co\/timm\/resnet18\.tv_in1k/);
        assert.match(offline, /needs the internet/);
        assert.match(offline, /weights\/ folder/);
        assert.ok(await page.isVisible("#download-weights"), "the offer stays for another try");

        // Online: one click, the redirect followed, progress shown, ResNet18 loaded with its head.
        networkUp = true;
        const progress = [];
        await page.exposeFunction("noteProgress", (text) => progress.push(text));
        await page.evaluate(() => new MutationObserver(() => window.noteProgress(document.getElementById("weights-status").textContent))
          .observe(document.getElementById("weights-status"), { childList: true, characterData: true, subtree: true }));
        await page.click("#download-weights");
        await waitForText(page, "#weights-status", /ResNet18 ImageNet weights loaded \(1000-class head\)/);
        assert.deepEqual(served, { hub: 1, download: 1 });
        assert.ok(progress.some((text) => /Downloading weights: [\d.]+ of 44\.6 MB/.test(text)), `progress: ${progress.slice(0, 3)}`);
        assert.equal(await page.inputValue("#backbone"), "weights/resnet18-f37072fd.pth");
        assert.equal((await option("resnet18-f37072fd.pth")).text, "ResNet18 (torchvision)");
        assert.ok(await page.isHidden("#weights-offer"));

        // A reload once the page says the file is kept (a reload while the worker still writes it
        // loses the write): ResNet18 again, from the Cache API, nothing downloaded.
        await waitForText(page, "#weights-status", /Kept in this browser for the next visit and offline use\.$/, 60000);
        await page.reload();
        await waitForText(page, "#weights-status", /ResNet18 ImageNet weights loaded \(1000-class head, from this browser's cache\)/);
        assert.deepEqual(served, { hub: 1, download: 1 });
        assert.equal(await page.inputValue("#backbone"), "weights/resnet18-f37072fd.pth");
        assert.deepEqual(missing, []);
        policy.check();
      } finally {
        await browser.close();
      }
    });
  } finally {
    hub.close();
    download.close();
  }
});

test("fetch_weights.py: torchvision's file through a redirect, its sha256 prefix checked", { timeout: 60000 }, async () => {
  const good = Buffer.from("torchvision weights stand-in");
  const prefix = createHash("sha256").update(good).digest("hex").slice(0, 8);
  const server = http.createServer((req, res) => {
    if (req.url.startsWith("/models/")) return res.writeHead(302, { Location: `/files${req.url}` }).end();
    res.end(req.url.endsWith(`-${prefix}.pth`) ? good : Buffer.from("something else"));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${server.address().port}/models`;
  const folder = mkdtempSync(join(tmpdir(), "bft-fetch-"));
  // Asynchronous: the server answers from this process.
  const fetchWeights = (url) => new Promise((resolve) => {
    execFile("python3", [join(ROOT, "scripts", "fetch_weights.py"), url, folder], (error, stdout, stderr) =>
      resolve({ status: error ? error.code : 0, stdout, stderr }));
  });
  try {
    const ok = await fetchWeights(`${base}/resnet18-${prefix}.pth`);
    assert.equal(ok.status, 0, ok.stderr);
    assert.deepEqual(readFileSync(join(folder, `resnet18-${prefix}.pth`)), good);
    const wrong = await fetchWeights(`${base}/resnet34-0badc0de.pth`);
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /not 0badc0de… as its name says/);
    const offline = await fetchWeights("http://127.0.0.1:9/models/resnet50-0676ba61.pth");
    assert.equal(offline.status, 1);
    assert.match(offline.stderr, /could not fetch .*resnet50-0676ba61\.pth/);
    assert.deepEqual(readdirSync(folder), [`resnet18-${prefix}.pth`], "a failed download leaves nothing behind");
    assert.ok(!existsSync(join(folder, "resnet34-0badc0de.pth")));
  } finally {
    server.close();
  }
});

// The file list the page reads instead of probing: what build.sh writes.
test("weights_index.py lists the weights files of a folder", () => {
  const folder = mkdtempSync(join(tmpdir(), "bft-index-"));
  writeFileSync(join(folder, "a.pth"), "12345");
  writeFileSync(join(folder, "b.safetensors"), "1");
  writeFileSync(join(folder, "notes.txt"), "x");
  writeFileSync(join(folder, ".a.pth.part"), "x");
  execFileSync("python3", [join(ROOT, "scripts", "weights_index.py"), folder]);
  assert.deepEqual(JSON.parse(readFileSync(join(folder, "index.json"), "utf8")), { files: { "a.pth": 5, "b.safetensors": 1 } });
});
