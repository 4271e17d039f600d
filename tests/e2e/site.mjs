// The site under test: scripts/serve.py on a free port, at the root or under a sub-path.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/**
 * Serves the repository under `prefix` while `run({ origin, base, stop })` runs; `base` is the
 * site's URL. `isolated`: with the headers that make its pages cross-origin isolated (COOP/COEP).
 */
export async function withServer(prefix, run, { isolated = false } = {}) {
  // Port 0: the server binds a free port and names it. With the page's Content Security Policy
  // as a header too, so that the workers run under it.
  const server = spawn("python3", [join(ROOT, "scripts", "serve.py"), "0", prefix, "--csp", ...(isolated ? ["--isolated"] : [])], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise((resolve, reject) => {
    server.stdout.once("data", (line) => resolve(/127\.0\.0\.1:(\d+)/.exec(String(line))?.[1]));
    server.once("exit", (code) => reject(new Error(`scripts/serve.py stopped (exit ${code}) before serving`)));
  });
  const origin = `http://127.0.0.1:${port}`;
  try {
    return await run({ origin, base: `${origin}${prefix}`, stop: () => server.kill() });
  } finally {
    server.kill();
  }
}

/**
 * Collects what the page's Content Security Policy blocks (Chromium reports each on the console,
 * for the page and its workers), and checks that the policy is in force: an inline script added
 * to the document must not run. Call `check()` at the end: it throws listing any violation.
 */
export function watchPolicy(page) {
  const probe = "window.inlineScriptRan = true";
  // Chromium names a refused inline script by its hash: the probe's own refusal is expected.
  const probeHash = createHash("sha256").update(probe).digest("base64");
  const violations = [];
  page.on("console", (message) => {
    const text = message.text();
    if (/Content Security Policy/i.test(text) && !text.includes(probeHash)) violations.push(text);
  });
  return {
    async inForce() {
      return page.evaluate((probe) => {
        const script = document.createElement("script");
        script.textContent = probe;
        document.head.append(script);
        script.remove();
        return window.inlineScriptRan !== true;
      }, probe);
    },
    check() {
      if (violations.length) throw new Error(`Content Security Policy violations:\n${violations.join("\n")}`);
    },
  };
}

/**
 * Waits until the text of `selector` on `page` matches `pattern`; on a timeout the error says what
 * the element and the page's engine status said instead.
 */
export async function waitForText(page, selector, pattern, timeout = 120000) {
  try {
    await page.waitForFunction(([s, p]) => new RegExp(p).test(document.querySelector(s)?.textContent ?? ""), [selector, pattern.source], { timeout });
  } catch (err) {
    const text = (s) => page.textContent(s, { timeout: 1000 }).catch(() => "(unreadable)");
    throw new Error(`${selector} never matched ${pattern} in ${timeout} ms; it says ${JSON.stringify(await text(selector))} ` +
      `(#backend: ${JSON.stringify(await text("#backend"))})`, { cause: err });
  }
}

/**
 * Drops the folder at `path` (on this machine) on `selector` as a user drags it from their file
 * manager: Chromium's own drag-and-drop, whose entries API lists the folder's files and folders,
 * empty ones included (a folder picker passes the files alone).
 */
export async function dropFolder(page, selector, path) {
  await page.locator(selector).scrollIntoViewIfNeeded();
  const box = await page.locator(selector).boundingBox();
  const [x, y] = [box.x + box.width / 2, box.y + box.height / 2];
  const devtools = await page.context().newCDPSession(page);
  const data = { items: [], files: [path], dragOperationsMask: 1 };
  for (const type of ["dragEnter", "dragOver", "drop"]) await devtools.send("Input.dispatchDragEvent", { type, x, y, data });
  await devtools.detach();
}
