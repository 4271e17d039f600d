// The ONNX check in the browser: each OUT_DIR/<name>.onnx that scripts/test_onnx_export.sh wrote,
// run by onnxruntime-web (its WebAssembly execution provider, in headless Chromium) on the same
// preprocessed photos, against the logits our engine gave (OUT_DIR/<name>.safetensors, `inputs`
// and `logits`), with check_onnx.py's rules: within 1e-4 of the logits' scale and the same top-1
// on every photo; a <name>-int8.onnx's top-1 on all photos but one.
// Usage: node scripts/check_onnx_web.mjs OUT_DIR   (onnxruntime-web from node_modules, no network)
import { readFileSync, readdirSync } from "node:fs";
import http from "node:http";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { launchChromium } from "./chromium.mjs";

const TOLERANCE = 1e-4;
const out = resolve(process.argv[2] ?? "");
const ortDir = join(dirname(fileURLToPath(import.meta.url)), "..", "node_modules", "onnxruntime-web", "dist");
const files = readdirSync(out).filter((name) => name.endsWith(".onnx")).sort();
if (!files.length) throw new Error(`no .onnx files in ${out}`);

// The test page's origin: /ort/ is onnxruntime-web, /files/ is OUT_DIR.
const TYPES = { ".mjs": "text/javascript", ".wasm": "application/wasm", ".html": "text/html" };
const server = http.createServer((req, res) => {
  const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
  const [root, rest] = path.startsWith("/ort/") ? [ortDir, path.slice(5)] : path.startsWith("/files/") ? [out, path.slice(7)] : [null, ""];
  if (path === "/") return res.writeHead(200, { "Content-Type": "text/html" }).end("<!doctype html><title>ONNX check</title>");
  if (!root || rest.includes("..") || rest.includes("/")) return res.writeHead(404).end();
  try {
    const body = readFileSync(join(root, rest));
    res.writeHead(200, { "Content-Type": TYPES[rest.slice(rest.lastIndexOf("."))] ?? "application/octet-stream" }).end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((done) => server.listen(0, "127.0.0.1", done));
const origin = `http://127.0.0.1:${server.address().port}`;

/** In the page: one model's logits by onnxruntime-web beside ours. */
async function runInPage(name) {
  const ort = await import("/ort/ort.wasm.min.mjs");
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = `${location.origin}/ort/`;
  const fetched = async (file) => {
    const response = await fetch(`/files/${file}`);
    if (!response.ok) throw new Error(`${file}: HTTP ${response.status}`);
    return new Uint8Array(await response.arrayBuffer());
  };
  // A safetensors file's float32 tensors: an 8-byte header length, the JSON header, the data.
  const reference = await fetched(`${name.replace(/-int8$/, "")}.safetensors`);
  const headerLength = Number(new DataView(reference.buffer).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(reference.subarray(8, 8 + headerLength)));
  const tensor = (key) => {
    const [start, end] = header[key].data_offsets;
    return { shape: header[key].shape, values: new Float32Array(reference.slice(8 + headerLength + start, 8 + headerLength + end).buffer) };
  };
  const inputs = tensor("inputs");
  const ours = tensor("logits");
  const session = await ort.InferenceSession.create(await fetched(`${name}.onnx`), { executionProviders: ["wasm"] });
  const results = await session.run({ images: new ort.Tensor("float32", inputs.values, inputs.shape) });
  const theirs = results[session.outputNames[0]].data;
  await session.release();
  const [images, classes] = ours.shape;
  const argmax = (values, row) => {
    let best = 0;
    for (let c = 1; c < classes; c++) if (values[row * classes + c] > values[row * classes + best]) best = c;
    return best;
  };
  let difference = 0;
  let scale = 1;
  for (let i = 0; i < ours.values.length; i++) {
    difference = Math.max(difference, Math.abs(theirs[i] - ours.values[i]));
    scale = Math.max(scale, Math.abs(ours.values[i]));
  }
  let agreeing = 0;
  for (let row = 0; row < images; row++) if (argmax(theirs, row) === argmax(ours.values, row)) agreeing += 1;
  return { version: ort.env.versions.web, difference, scale, agreeing, images };
}

const browser = await launchChromium();
const failures = [];
try {
  const page = await browser.newPage();
  await page.goto(`${origin}/`);
  for (const file of files) {
    const name = file.replace(/\.onnx$/, "");
    const { version, difference, scale, agreeing, images } = await page.evaluate(runInPage, name);
    console.log(`onnxruntime-web ${version} ${name}: max |onnxruntime-web − ours| = ${difference.toExponential(2)} ` +
      `(logits up to ${scale.toFixed(1)}), same top-1: ${agreeing}/${images}`);
    const agrees = name.endsWith("-int8") ? agreeing >= images - 1 : difference <= TOLERANCE * scale && agreeing === images;
    if (!agrees) failures.push(`${name}: logits differ from ours by ${difference.toExponential(2)}, top-1 ${agreeing}/${images}`);
  }
} finally {
  await browser.close();
  server.close();
}
if (failures.length) {
  console.error(`ONNX check in the browser failed:\n  ${failures.join("\n  ")}`);
  process.exit(1);
}
console.log(`ONNX export: ${files.length} files agree with our engine through onnxruntime-web in Chromium`);
