// The Web Worker that owns the wasm engine: weights, images, training, prediction. The page
// talks to it only through the messages below, so the main thread never waits on the model.
//
// page → worker                                    worker → page
//   {type:"init", backend}                           {type:"ready", backend}
//   {type:"loadWeights", url}                        {type:"weightsProgress", loaded, total}
//   {type:"useRandomWeights"}                        {type:"weightsLoaded", architecture, classes, fromCache, random}
//   {type:"addImages", items:[{file,name,label,subset}]}  {type:"imagesProgress", done, total}
//                                                    {type:"skipped", name, reason}
//                                                    {type:"imagesAdded", count}
//   {type:"train", settings}                         {type:"plan", plan}, {type:"progress", progress}
//   {type:"pause"} {type:"resume"} {type:"cancel"}   {type:"paused"} {type:"resumed"} {type:"stopped", reason}
//   {type:"predict", file, topK}                     {type:"prediction", top}
//                                                    {type:"error", scope, message}
import init, { WebEngine } from "../pkg/browser_finetune.js";
import { fetchWeights, forgetWeights, rememberWeights } from "./weights.js";

let engine = null;
let run = null; // { paused, cancelled, resume }
let queue = Promise.resolve();

const post = (message) => self.postMessage(message);
const errorText = (err) => (err && err.message) || String(err);

/** Runs engine calls one at a time: the engine is not re-entrant. */
function exclusive(task) {
  const result = queue.then(task);
  queue = result.catch(() => {});
  return result;
}

/** Lets pending messages (pause, cancel, predict) in between two training steps. */
const yieldToEvents = () => new Promise((resolve) => setTimeout(resolve, 0));

async function train(settings) {
  const plan = await exclusive(() => engine.startTraining(settings));
  post({ type: "plan", plan });
  run = { paused: false, cancelled: false, resume: null };
  try {
    for (;;) {
      await yieldToEvents();
      if (run.paused) await new Promise((resolve) => { run.resume = resolve; });
      if (run.cancelled) {
        await exclusive(() => engine.stopTraining());
        post({ type: "stopped", reason: "cancelled" });
        return;
      }
      const progress = await exclusive(() => engine.trainStep());
      post({ type: "progress", progress });
      if (progress.steps_done >= progress.steps_total || progress.phase === "finished") {
        post({ type: "stopped", reason: "finished" });
        return;
      }
    }
  } finally {
    run = null;
  }
}

async function addImages(items) {
  let done = 0;
  let added = 0;
  for (const item of items) {
    try {
      const bytes = new Uint8Array(await item.file.arrayBuffer());
      await exclusive(() => engine.addImage(item.name, bytes, item.label, item.subset ?? undefined));
      added += 1;
    } catch (err) {
      post({ type: "skipped", name: item.name, reason: errorText(err) });
    }
    done += 1;
    if (done % 8 === 0 || done === items.length) post({ type: "imagesProgress", done, total: items.length });
  }
  post({ type: "imagesAdded", count: added });
}

const handlers = {
  async init({ backend }) {
    await init();
    engine = await WebEngine.create(backend || "auto");
    post({ type: "ready", backend: engine.backend });
  },
  async loadWeights({ url }) {
    const { bytes, fromCache } = await fetchWeights(url, (loaded, total) => post({ type: "weightsProgress", loaded, total }));
    let loaded;
    try {
      loaded = await exclusive(() => engine.loadWeights(bytes));
    } catch (err) {
      if (fromCache) await forgetWeights(url);
      throw new Error(`${url}: ${errorText(err)}`);
    }
    if (!fromCache) await rememberWeights(url, bytes);
    post({ type: "weightsLoaded", ...loaded, fromCache, random: false });
  },
  async useRandomWeights() {
    await exclusive(() => engine.useRandomWeights());
    post({ type: "weightsLoaded", architecture: "ResNet18", classes: 1000, fromCache: false, random: true });
  },
  async addImages({ items, replace }) {
    if (replace) await exclusive(() => engine.clearImages());
    await addImages(items);
  },
  async train({ settings }) {
    await train(settings);
  },
  pause() {
    if (run) { run.paused = true; post({ type: "paused" }); }
  },
  resume() {
    if (run && run.paused) { run.paused = false; run.resume?.(); post({ type: "resumed" }); }
  },
  cancel() {
    if (run) { run.cancelled = true; run.paused = false; run.resume?.(); }
  },
  async predict({ file, topK }) {
    const bytes = new Uint8Array(await file.arrayBuffer());
    const top = await exclusive(() => engine.predict(file.name, bytes, topK || 5));
    post({ type: "prediction", top });
  },
};

self.onmessage = async ({ data }) => {
  const handler = handlers[data.type];
  if (!handler) return post({ type: "error", scope: data.type, message: `unknown message ${data.type}` });
  try {
    await handler(data);
  } catch (err) {
    post({ type: "error", scope: data.type, message: errorText(err) });
  }
};
