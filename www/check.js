// The data check, in the worker: once a run on cached features has extracted every image's
// features and reported its first epoch, the engine checks them (src/doctor/) a step at a time
// and the page gets the findings, with the names of the images they mention.
//
// worker → page: {type:"checking", steps_done, steps_total}, then {type:"diagnosis", diagnosis, names}
//   (names: dataset index → file name); after the run, {type:"leak", effect}

/** The file names of the images a diagnosis mentions, by dataset index. */
function namesOf(diagnosis, images) {
  const indices = [
    ...diagnosis.duplicates.flatMap((d) => [d.first, d.second]),
    ...diagnosis.leaked,
    ...diagnosis.label_issues.map((issue) => issue.index),
    ...diagnosis.outliers.map((outlier) => outlier.index),
  ];
  return Object.fromEntries(indices.map((index) => [index, images[index]?.name]));
}

/**
 * Checks the run's images between its steps; stops early when `cancelled()` says so. A check
 * that fails is reported and the run goes on: the check only informs.
 */
export async function checkData({ engine, exclusive, images, post, yieldToEvents, cancelled }) {
  try {
    const steps = await exclusive(() => engine.startCheck());
    post({ type: "checking", steps_done: 0, steps_total: steps });
    while (!cancelled()) {
      await yieldToEvents();
      const progress = await exclusive(() => engine.checkStep());
      if (progress.diagnosis) {
        post({ type: "diagnosis", diagnosis: progress.diagnosis, names: namesOf(progress.diagnosis, images) });
        return;
      }
      post({ type: "checking", steps_done: progress.steps_done, steps_total: progress.steps_total });
    }
  } catch (err) {
    post({ type: "error", scope: "check", message: (err && err.message) || String(err) });
  }
}

/** After a run: what the validation images with a copy in training added to its accuracy. */
export async function reportLeak({ engine, exclusive, post }) {
  const effect = await exclusive(() => engine.leakEffect());
  if (effect) post({ type: "leak", effect });
}
