// What the benchmark pages share: their query, and the result lines scripts/bench_browser.mjs
// reads (window.benchResults, shown in #results as they come; each page sets window.benchDone).
export const params = new URLSearchParams(location.search);

/** A comma-separated query value as a list; `fallback` where the query has none. */
export const list = (name, fallback) => (params.get(name) || fallback).split(",").filter(Boolean);

window.benchResults = [];

/** Adds a result line. */
export function show(line) {
  window.benchResults.push(line);
  document.getElementById("results").textContent = window.benchResults.join("\n");
}
