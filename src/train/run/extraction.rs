//! Feature extraction shared between engines: a run on cached features hands out batches of
//! images ([`ExtractionJob`]) that any engine (one per Web Worker) may extract, each decoding
//! the images' files itself, and stores the features that come back.

use super::{Stage, TrainingRun};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::train::linear_fit::CrossValidation;
use crate::train::{Phase, Progress};
use serde::Serialize;

/// Images per feature-extraction job: small jobs spread evenly over several workers and keep
/// the input buffers small; the features do not depend on how images are batched.
pub(super) const EXTRACTION_BATCH: usize = 8;

/// A batch of images whose backbone features the run needs, handed out by
/// [`TrainingRun::claim_extraction`] so that several engines (one per Web Worker) can share the
/// extraction, each decoding the images' files itself; the features come back through
/// [`TrainingRun::complete_extraction`].
#[derive(Debug, Clone, Serialize)]
pub struct ExtractionJob {
    /// Position of the job's first image in the extraction order: the job's identity.
    pub first: usize,
    /// The dataset indices of the job's images, in order.
    pub examples: Vec<usize>,
}

impl TrainingRun {
    /// The examples at positions `first..first + count` of the extraction order (training, then
    /// validation), without building the whole order for every job.
    pub(super) fn extraction_examples(&self, first: usize, count: usize) -> Vec<usize> {
        self.split.train.iter().chain(&self.split.val).skip(first).take(count).map(|&(i, _)| i).collect()
    }

    /// Size of the extraction job starting at `first`.
    pub(super) fn extraction_job_size(&self, first: usize) -> usize {
        let all = self.split.train.len() + self.split.val.len();
        self.config.batch_size.min(EXTRACTION_BATCH).min(all.saturating_sub(first))
    }

    /// The next batch of images to extract features from, if any is left unclaimed.
    pub fn claim_extraction(&mut self) -> Option<ExtractionJob> {
        let Stage::Extracting { next: first, .. } = self.stage else { return None };
        let images = self.extraction_job_size(first);
        if images == 0 {
            return None;
        }
        let examples = self.extraction_examples(first, images);
        if let Stage::Extracting { next, claimed } = &mut self.stage {
            claimed.push(first);
            *next += images;
        }
        Some(ExtractionJob { first, examples })
    }

    /// Stores the features of the job that started at `first` (computed here or by another
    /// worker), one row per image of the job still usable in `dataset`, in order; the step that
    /// completes the last job starts the first epoch.
    pub fn complete_extraction(&mut self, dataset: &Dataset, first: usize, values: &[f32]) -> Result<Progress> {
        let images = self.extraction_job_size(first);
        let examples: Vec<usize> =
            self.extraction_examples(first, images).into_iter().filter(|&i| dataset.is_usable(i)).collect();
        let all = self.split.train.len() + self.split.val.len();
        let Stage::Extracting { next, claimed } = &mut self.stage else {
            return Err(Error::InvalidInput("the run is not extracting features any more".into()));
        };
        let Some(learner) = self.learner.cached_mut() else {
            return Err(Error::InvalidInput("feature extraction without a head learner".into()));
        };
        let width = learner.width();
        let Some(position) = claimed.iter().position(|&claim| claim == first) else {
            return Err(Error::InvalidInput(format!("no extraction job starts at image {first}")));
        };
        if values.len() != examples.len() * width {
            return Err(Error::InvalidInput(format!(
                "expected {}×{width} features for the job at image {first}, got {} values",
                examples.len(),
                values.len()
            )));
        }
        claimed.swap_remove(position);
        let done = *next >= all && claimed.is_empty();
        learner.store(&examples, values);
        if done {
            learner.extraction_done();
            self.stage = match self.linear_model {
                Some(model) => {
                    let cross_validation =
                        CrossValidation::new(model, &learner.design(&self.split.train, self.split.classes.len()));
                    // Images that failed to decode may have made a class too small for all folds.
                    let evaluation = usize::from(!self.split.val.is_empty());
                    self.steps_total = self.steps_done + 1 + cross_validation.steps() + evaluation;
                    Stage::Fitting(Box::new(cross_validation))
                }
                None => self.start_epoch(self.first_epoch, dataset),
            };
        }
        self.steps_done += 1;
        Ok(self.progress(Phase::Extracting, 0, images, None))
    }
}
