// The site under test: scripts/serve.py on a free port, at the root or under a sub-path.
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Serves the repository under `prefix` while `run({ origin, base, stop })` runs; `base` is the site's URL. */
export async function withServer(prefix, run) {
  const port = 8000 + Math.floor(Math.random() * 1000);
  const server = spawn("python3", [join(ROOT, "scripts", "serve.py"), String(port), prefix], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise((resolve) => server.stdout.once("data", resolve));
  const origin = `http://127.0.0.1:${port}`;
  try {
    return await run({ origin, base: `${origin}${prefix}`, stop: () => server.kill() });
  } finally {
    server.kill();
  }
}
