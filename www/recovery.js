// When the GPU goes away (a driver reset, a laptop switching GPUs, the device destroyed), the
// worker's WebGPU device is lost and its engine cannot go on. The page then starts a new worker
// on the CPU and, if a run was training, resumes it from the model saved after its last completed
// epoch (the autosave), on the same images: nothing the user trained is lost. Only the optimiser's
// state starts again, so the remaining epochs are not bit for bit those of an uninterrupted run.

/**
 * What to do after the loss of the GPU: `{ message, resume }`, where `resume` is `null` (no run
 * was training) or `{ savedId, settings }`: the saved model to open (`null` when no epoch had
 * completed: the run starts again from the weights) and the settings that train the rest.
 * `run`: the settings of the run that was training, or null; `lastSave`: the autosave record of
 * its last completed epoch, or null.
 */
export function afterGpuLoss(reason, run, lastSave) {
  const lost = `The GPU was lost (${reason}); the engine now runs on the CPU (WebAssembly).`;
  if (!run) return { message: lost, resume: null };
  if (!lastSave) {
    return { message: `${lost} No epoch had completed: the run starts again on the CPU.`, resume: { savedId: null, settings: run } };
  }
  return {
    message: `${lost} The run resumes from the model saved after epoch ${lastSave.epochs} of ${run.epochs}.`,
    resume: { savedId: lastSave.id, settings: { ...run, resume_after: lastSave.epochs } },
  };
}
