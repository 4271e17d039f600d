// The progress line's words: the phase, images per second over the last ten seconds, and the time
// left, from the worker's progress reports; and the page's frame gaps while it trains.

/** Tracks a run's rate and time left; `describe(progress, { paused, workers })` gives the line. */
export function progressLine() {
  let startedAt = performance.now();
  let recent = []; // [time, images] of the reports of the last ten seconds
  return {
    start() {
      startedAt = performance.now();
      recent = [];
    },
    describe(p, { paused, workers }) {
      const now = performance.now();
      recent.push([now, p.images]);
      while (recent.length > 2 && now - recent[0][0] > 10000) recent.shift();
      const span = (now - recent[0][0]) / 1000;
      const images = recent.slice(1).reduce((sum, [, n]) => sum + n, 0);
      const rate = span > 0 ? images / span : 0;
      const elapsed = (now - startedAt) / 1000;
      const eta = p.steps_done ? (elapsed / p.steps_done) * (p.steps_total - p.steps_done) : 0;
      const status = `${phaseText(p, workers)} · ${rate.toFixed(1)} images/s · ETA ${formatSeconds(eta)}`;
      return paused ? `Paused · ${status}` : status;
    },
  };
}

function phaseText(p, workers) {
  if (p.phase === "extracting") return workers > 1 ? `Extracting features on ${workers} workers` : "Extracting features";
  if (p.phase === "fitting") return "Fitting the classifier (choosing C by cross-validation)";
  if (p.phase === "evaluating") return `Epoch ${p.epoch} of ${p.epochs}: validating`;
  if (p.phase === "training") return workers > 1 ? `Epoch ${p.epoch} of ${p.epochs} on ${workers} workers` : `Epoch ${p.epoch} of ${p.epochs}`;
  return "Finished";
}

function formatSeconds(seconds) {
  if (!Number.isFinite(seconds)) return "…";
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  return m ? `${m} min ${s} s` : `${s} s`;
}

/** Lets the end-to-end test check that the page's thread stays responsive while the worker trains: `window.frameGaps.max`. */
export function watchFrameGaps() {
  window.frameGaps = { max: 0, last: performance.now() };
  (function watchFrames(now) {
    window.frameGaps.max = Math.max(window.frameGaps.max, now - window.frameGaps.last);
    window.frameGaps.last = now;
    requestAnimationFrame(watchFrames);
  })(performance.now());
}
