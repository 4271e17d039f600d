//! Frozen stages computed by other engines: a run that trains the later stages of the backbone
//! hands out its coming batches ([`FrozenJob`]); a helper holding the same weights computes their
//! frozen stages, and the step for such a batch starts from that output instead of the pixels.

use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::{Stage, TrainingRun, batch_end};
use crate::data::{Augmentation, Dataset};
use crate::error::{Error, Result};
use crate::train::learner::FrozenActivations;

/// A batch of a run that trains the later stages of the backbone, whose frozen stages another
/// worker computes from the images' files ([`TrainingRun::claim_frozen_job`]): the step for that
/// batch then starts from their output ([`TrainingRun::complete_frozen_job`]) instead of the
/// pixels. Batches are handed out in order, ahead of the steps, within the stage in progress (an
/// epoch's training, or its evaluation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrozenJob {
    pub epoch: usize,
    /// Whether the batch is evaluated rather than trained.
    pub evaluating: bool,
    /// The batch's first position in the epoch's training order or in the validation split.
    pub first: usize,
    /// The dataset indices of the batch's usable images, in order.
    pub examples: Vec<usize>,
    /// How many stages after the stem to compute.
    pub stages: usize,
    /// The training augmentation; `None`: the evaluation crop.
    pub augmentation: Option<Augmentation>,
}

/// The frozen jobs of the stage in progress: how far they were handed out, and the outputs
/// supplied for batches not stepped yet.
#[derive(Default)]
pub(super) struct FrozenJobs {
    /// (epoch, evaluating) of the stage they belong to.
    stage: Option<(usize, bool)>,
    claimed: usize,
    supplied: Vec<(usize, FrozenActivations)>,
    /// The shape of one image's output of so many frozen stages, once computed.
    shape: Option<(usize, [usize; 3])>,
}

impl TrainingRun {
    /// The stage in progress if it steps through batches of pixels: (epoch, evaluating), the next
    /// position, and the dataset indices in the stage's order.
    fn pixel_batches(&self) -> Option<((usize, bool), usize, Vec<usize>)> {
        if !self.learner.reads_pixels() {
            return None;
        }
        match &self.stage {
            Stage::Training { epoch, order, next } => {
                Some(((*epoch, false), *next, order.iter().map(|&k| self.split.train[k].0).collect()))
            }
            Stage::Evaluating { epoch, next } => {
                Some(((*epoch, true), *next, self.split.val.iter().map(|&(i, _)| i).collect()))
            }
            _ => None,
        }
    }

    /// The frozen output supplied for the next step's batch, if any.
    pub(super) fn frozen_supplied_for_next(&self) -> Option<&FrozenActivations> {
        let (stage, next, _) = self.pixel_batches()?;
        let jobs = &self.frozen_jobs;
        (jobs.stage == Some(stage)).then_some(())?;
        jobs.supplied.iter().find(|(first, _)| *first == next).map(|(_, activations)| activations)
    }

    /// Hands out the next batch of the stage in progress whose frozen stages another worker may
    /// compute; `None` when the run freezes no stage now, or every batch of the stage has been
    /// handed out (the next stage's come once it starts).
    pub fn claim_frozen_job(&mut self, dataset: &Dataset) -> Option<FrozenJob> {
        let stages = self.learner.frozen_stages()?;
        let ((epoch, evaluating), next, examples) = self.pixel_batches()?;
        if self.frozen_jobs.stage != Some((epoch, evaluating)) {
            let shape = self.frozen_jobs.shape.take();
            self.frozen_jobs =
                FrozenJobs { stage: Some((epoch, evaluating)), claimed: next, supplied: Vec::new(), shape };
        }
        let first = self.frozen_jobs.claimed.max(next);
        if first >= examples.len() {
            return None;
        }
        let end = batch_end(first, self.config.batch_size, examples.len());
        self.frozen_jobs.claimed = end;
        let examples = examples[first..end].iter().copied().filter(|&i| self.learner.takes_part(dataset, i)).collect();
        let augmentation = self.inputs.augmentation((!evaluating).then_some(epoch));
        Some(FrozenJob { epoch, evaluating, first, examples, stages, augmentation })
    }

    /// Takes the output of a claimed job's frozen stages, `[images, channels, height, width]`
    /// flattened with `shape` the last three, one image for each of the job's images still usable
    /// in `dataset`, in order. A job of a stage that has ended is ignored (`false`).
    pub fn complete_frozen_job(
        &mut self,
        dataset: &Dataset,
        job: &FrozenJob,
        values: Vec<f32>,
        shape: [usize; 3],
    ) -> Result<bool> {
        let Some(((epoch, evaluating), next, examples)) = self.pixel_batches() else { return Ok(false) };
        let jobs = &self.frozen_jobs;
        if jobs.stage != Some((job.epoch, job.evaluating))
            || (epoch, evaluating) != (job.epoch, job.evaluating)
            || job.first < next
            || job.first >= jobs.claimed
        {
            return Ok(false);
        }
        if self.learner.frozen_stages() != Some(job.stages) {
            return Err(Error::InvalidInput(format!(
                "the output of {} frozen stages was supplied, but this epoch freezes {:?}",
                job.stages,
                self.learner.frozen_stages()
            )));
        }
        let expected = match jobs.shape {
            Some((stages, shape)) if stages == job.stages => shape,
            _ => {
                let crop = self.inputs.preprocess.crop;
                let shape = self.learner.frozen_shape(job.stages, crop).ok_or_else(|| {
                    Error::InvalidInput("this run computes no frozen stages apart from its training".into())
                })?;
                self.frozen_jobs.shape = Some((job.stages, shape));
                shape
            }
        };
        let end = batch_end(job.first, self.config.batch_size, examples.len());
        let images = examples[job.first..end].iter().filter(|&&i| self.learner.takes_part(dataset, i)).count();
        let wanted = images * expected.iter().product::<usize>();
        if shape != expected || values.len() != wanted {
            return Err(Error::InvalidInput(format!(
                "the frozen stages' output for the batch at {} should hold {images} images of {expected:?} ({wanted} \
                 values), but {} values came, shaped {shape:?}",
                job.first,
                values.len()
            )));
        }
        let [channels, height, width] = shape;
        let data = TensorData::new(values, [images, channels, height, width]);
        let activations = Tensor::from_data(data, &self.inputs.device);
        self.frozen_jobs.supplied.push((job.first, FrozenActivations { activations, stages: job.stages }));
        Ok(true)
    }

    /// Removes and returns the frozen output supplied for the next step's batch, if any.
    pub(super) fn take_frozen_for_next(&mut self) -> Option<(usize, FrozenActivations)> {
        let (_, next, _) = self.pixel_batches()?;
        self.frozen_supplied_for_next()?;
        let supplied = &mut self.frozen_jobs.supplied;
        let position = supplied.iter().position(|(first, _)| *first == next)?;
        Some(supplied.swap_remove(position))
    }
}

/// The frozen output supplied for the batch at `next` (taken before the step), checked to hold
/// the step's `images` images.
pub(super) fn frozen_for(
    frozen: Option<(usize, FrozenActivations)>,
    next: usize,
    images: usize,
) -> Result<Option<FrozenActivations>> {
    let Some((first, frozen)) = frozen else { return Ok(None) };
    let [rows, ..] = frozen.activations.dims();
    if first != next || rows != images {
        return Err(Error::InvalidInput(format!(
            "the frozen stages' output supplied for the batch at {first} holds {rows} images, the batch at {next} {images}"
        )));
    }
    Ok(Some(frozen))
}
