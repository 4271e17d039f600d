// www/shares.js: engines on worker threads adding up through shared memory, as the page's
// workers do mid-step.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Worker } from "node:worker_threads";
import { createShares, joinShares } from "../../www/shares.js";

const ENGINE = `
  import { workerData, parentPort } from "node:worker_threads";
  import { joinShares } from ${JSON.stringify(new URL("../../www/shares.js", import.meta.url).href)};
  const { shares, engine, rounds, timeoutMs, stopAfter } = workerData;
  const handle = joinShares(shares, engine, { timeoutMs });
  const results = [];
  for (let round = 0; round < rounds && round < stopAfter; round++) {
    // Values every engine can predict: engine e's i-th value in round r.
    const sums = Float64Array.from({ length: 5 }, (_, i) => (engine + 1) * 0.1 + i + round);
    const gradients = Float32Array.from({ length: 7 }, (_, i) => (engine + 1) / 3 + i * round);
    handle.addUp(sums);
    handle.addUpGradients(gradients);
    results.push({ sums: [...sums], gradients: [...gradients] });
  }
  parentPort.postMessage({ results, failed: handle.failed() });
`;

function runEngines(engines, { rounds = 20, timeoutMs = 10_000, stopAfter = {} } = {}) {
  const shares = createShares(engines, { sums: 5, gradients: 7 });
  return Promise.all(Array.from({ length: engines }, (_, engine) => new Promise((resolve, reject) => {
    const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(ENGINE)}`), {
      workerData: { shares, engine, rounds, timeoutMs, stopAfter: stopAfter[engine] ?? Infinity },
    });
    worker.once("message", resolve);
    worker.once("error", reject);
  })));
}

test("every engine gets the sum of every engine's values, the same bits on each, round after round", async () => {
  const replies = await runEngines(3);
  for (const { results, failed } of replies) {
    assert.equal(failed, false);
    assert.equal(results.length, 20);
    results.forEach(({ sums, gradients }, round) => {
      const expectedSums = [0, 1, 2, 3, 4].map((i) => [0, 1, 2].reduce((t, e) => t + ((e + 1) * 0.1 + i + round), 0));
      assert.deepEqual(sums, expectedSums);
      const f32 = (v) => Math.fround(v);
      const expectedGradients = [0, 1, 2, 3, 4, 5, 6].map((i) => f32([0, 1, 2].reduce((t, e) => t + f32((e + 1) / 3 + i * round), 0)));
      assert.deepEqual(gradients, expectedGradients);
    });
  }
  assert.deepEqual(replies[1].results, replies[0].results);
  assert.deepEqual(replies[2].results, replies[0].results);
});

test("an engine that stops coming fails the group after the timeout instead of leaving the others waiting", async () => {
  const started = Date.now();
  const [first, second] = await runEngines(2, { rounds: 5, timeoutMs: 200, stopAfter: { 1: 2 } });
  assert.equal(second.results.length, 2);
  assert.equal(first.failed, true);
  // After the failure every call returns at once, its values left as they were.
  assert.equal(first.results.length, 5);
  assert.deepEqual(first.results[4].sums, [0.1, 1.1, 2.1, 3.1, 4.1].map((v) => v + 4));
  assert.ok(Date.now() - started < 5_000);
});

test("more values than the shared memory holds fail the group rather than throw into the engine", () => {
  const handle = joinShares(createShares(1, { sums: 2, gradients: 2 }), 0);
  const values = Float64Array.of(1, 2, 3);
  handle.addUp(values);
  assert.deepEqual([...values], [1, 2, 3]);
  assert.equal(handle.failed(), true);
});
