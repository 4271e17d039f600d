// Launches Debian's Chromium headless with WebGPU (SwiftShader here), for the e2e test and the
// browser benchmark. Never downloads a browser.
import { chromium } from "playwright-core";

/** `extraArgs`: more Chromium flags (the embed test adds a fake camera). */
export async function launchChromium(extraArgs = []) {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--enable-unsafe-webgpu",
      "--no-sandbox",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-quic",
      "--no-first-run",
      ...extraArgs,
    ],
  });
}
