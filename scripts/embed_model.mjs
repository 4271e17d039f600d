// What the embed's test and benchmark share: a small model trained by the page's engine (the full
// wasm build, pkg/) in a page of the served site, and its predictions beside those of the embed's
// inference-only build opening the same export. Both functions run in the page
// (`page.evaluate`); paths are relative to the site's root URL, `base`.

/** Fixture photos in two classes: enough for a head to train on, and to compare predictions on. */
export const PHOTOS = {
  animals: ["cat.jpg", "cat.gif", "cat.bmp", "astronaut_exif_rotated.jpg"],
  things: ["coffee.png", "rocket.jpg", "camera_gray.png", "coffee_alpha.webp"],
};

/**
 * In the page: trains a head for one epoch on `photos` (class → file names under
 * tests/fixtures/images/) from `weights` with the full build on the CPU, and returns the export
 * (f32 `.safetensors`) in base64: a string crosses to Node at once, where an array of 13 million
 * numbers took minutes.
 */
export async function trainExport({ base, weights, photos }) {
  const full = await import(`${base}pkg/browser_finetune.js`);
  await full.default();
  const engine = await full.WebEngine.create("cpu");
  const fetchBytes = async (path) => new Uint8Array(await (await fetch(`${base}${path}`)).arrayBuffer());
  engine.loadWeights(await fetchBytes(weights));
  const files = [];
  for (const [label, names] of Object.entries(photos)) {
    for (const name of names) {
      const bytes = await fetchBytes(`tests/fixtures/images/${name}`);
      files[engine.addImageFile(name, bytes, label, undefined)] = { name, bytes };
    }
  }
  engine.startTraining({ epochs: 1, batch_size: 4, seed: 1 });
  // As the page's worker: the run ends with its last step (the engine keeps the model then).
  for (let progress; !(progress?.phase === "finished" || progress?.steps_done >= progress?.steps_total);) {
    for (const index of engine.imagesNeeded()) {
      const { name, bytes } = files[index];
      const decoded = full.decodeResized(name, bytes, engine.resizing);
      engine.supplyImage(index, decoded.width, decoded.height, decoded.pixels);
    }
    progress = await engine.trainStep();
  }
  return (await engine.exportModel("f32")).toBase64();
}

/**
 * In the page: opens `model` (export bytes in base64) with the full build's engine, as the page does, and
 * with the inference-only build at `inference` (a glue module's path, on `device`), and returns
 * each one's probabilities for every file of `photos` (averaged over `views`, default the centre
 * crop), the classes in the model's order, and how long the inference build took to start (fetch,
 * compile, instantiate) and to open the model. With `explain`, each one's Grad-CAM map of the
 * page's top class too.
 */
export async function comparePredictions({ base, model, photos, inference, device, views = "centre", explain = false }) {
  const bytes = Uint8Array.fromBase64(model);
  const full = await import(`${base}pkg/browser_finetune.js`);
  await full.default();
  const engine = await full.WebEngine.create("cpu");
  const classes = engine.loadWeights(bytes).class_names;
  let started = performance.now();
  const small = await import(`${base}${inference}`);
  await small.default();
  const startMs = performance.now() - started;
  started = performance.now();
  const classifier = await small.WebClassifier.open(bytes, device);
  const openMs = performance.now() - started;
  const inOrder = (predictions) => classes.map((label) => predictions.top.find((p) => p.class === label).probability);
  const results = [];
  for (const name of Object.values(photos).flat()) {
    const file = new Uint8Array(await (await fetch(`${base}tests/fixtures/images/${name}`)).arrayBuffer());
    const page = await engine.predict(name, file, classes.length, views);
    const embed = await classifier.predict(name, file, classes.length, views);
    const maps = explain
      ? await Promise.all([engine, classifier].map(async (model) => (await model.explain(name, file, page.top[0].class)).map.values))
      : null;
    results.push({ name, page: inOrder(page), embed: inOrder(embed), unknown: [page.unknown, embed.unknown], maps });
  }
  return { classes, results, startMs, openMs, backend: classifier.backend.kind };
}
