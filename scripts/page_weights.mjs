// The benchmarks' start on the page (bench_accuracy_browser.mjs, bench_scale.mjs): opened with
// the weights to use, waiting until they are loaded.

/**
 * Opens `origin`'s page with the URL parameters `query` and `weights` (a path under `origin`;
 * none: the page's own choice; "random": ResNet18 with random weights, for time and memory where
 * its file is absent), and resolves once those weights are loaded.
 */
export async function openWithWeights(page, origin, weights, query) {
  const random = weights === "random";
  await page.goto(`${origin}/index.html?${new URLSearchParams({ ...query, ...(weights && !random ? { weights } : {}) })}`);
  const weightsStatus = (pattern) =>
    page.waitForFunction((source) => new RegExp(source).test(document.getElementById("weights-status").textContent), pattern, { timeout: 300000 });
  await weightsStatus(" weights loaded");
  if (random) {
    await page.click("#random-weights");
    await weightsStatus("^Random weights loaded");
  }
}
