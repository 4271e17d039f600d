// Fetching the pretrained weights: streamed with progress, kept in the Cache API so that a second
// visit needs no download. Runs in the worker.
export const CACHE = "browser-finetune-weights-v1";

/** Explains a failed download in terms of what the user can do about it. */
function fetchFailure(url, detail) {
  if (new URL(url).origin !== self.location.origin) {
    return new Error(
      `Could not download the weights from ${url}: ${detail}. This download needs the internet: check the connection ` +
      "(the page works offline, but not for weights it has never downloaded) and try again, or put torchvision's file " +
      "in the weights/ folder beside the page (./build.sh serve fetches ResNet18's where the network allows).",
    );
  }
  return new Error(
    `Could not load the weights from ${url}: ${detail}. ` +
    "Put the file in the weights/ folder beside the page (./build.sh serve fetches EfficientNet-Lite0 and MobileNetV2, " +
    "and torchvision's resnet18-f37072fd.pth when the network allows), or enter the URL of a " +
    ".pth or .safetensors ResNet18, MobileNetV2 or EfficientNet-Lite0 state_dict.",
  );
}

async function download(url, onProgress) {
  let response;
  try {
    response = await fetch(url);
  } catch (err) {
    throw fetchFailure(url, `the request failed (${err.message}): the network or the server could not be reached`);
  }
  if (!response.ok) throw fetchFailure(url, `the server answered ${response.status} ${response.statusText}`);
  const total = Number(response.headers.get("Content-Length")) || 0;
  const chunks = [];
  let loaded = 0;
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      loaded += value.length;
      onProgress(loaded, total);
    }
  } catch (err) {
    throw fetchFailure(url, `the download broke off after ${(loaded / 1048576).toFixed(1)} MB (${err.message})`);
  }
  const bytes = new Uint8Array(loaded);
  let offset = 0;
  for (const chunk of chunks) { bytes.set(chunk, offset); offset += chunk.length; }
  return bytes;
}

/** The weights' bytes from the cache or the network; `onProgress(loaded, total)` while downloading. */
export async function fetchWeights(url, onProgress) {
  const absolute = new URL(url, self.location.href).href;
  const cached = "caches" in self && (await (await caches.open(CACHE)).match(absolute));
  if (cached) {
    const bytes = new Uint8Array(await cached.arrayBuffer());
    onProgress(bytes.length, bytes.length);
    return { bytes, fromCache: true };
  }
  return { bytes: await download(absolute, onProgress), fromCache: false };
}

/** Keeps weights that loaded successfully, so that the next visit needs no download. */
export async function rememberWeights(url, bytes) {
  if (!("caches" in self)) return;
  const headers = { "Content-Type": "application/octet-stream" };
  await (await caches.open(CACHE)).put(new URL(url, self.location.href).href, new Response(bytes, { headers }));
}

/** Forgets cached weights that turned out bad, so that the next try downloads them again. */
export async function forgetWeights(url) {
  if ("caches" in self) await (await caches.open(CACHE)).delete(new URL(url, self.location.href).href);
}
