//! One training run, advanced one unit of work at a time — a batch of feature extraction, a
//! training batch, or an evaluation batch — so that the page's worker can report progress, pause
//! and cancel between steps. Every read-back is asynchronous. The run is the loop: its stages,
//! the batches and the tallies; what is trained and how is its strategy's learner (`learner/`).

mod extraction;
mod frozen;
mod sharing;
#[cfg(test)]
mod tests;

use burn::nn::Linear;
use burn::tensor::Device;

use extraction::EXTRACTION_BATCH;
pub use extraction::ExtractionJob;
pub use frozen::FrozenJob;
use frozen::{FrozenJobs, frozen_for};
use sharing::{Claim, RunSharing};
pub use sharing::ShareJob;

use super::learner::{BackboneTraining, CachedFeatures, FrozenActivations, Inputs, Learner};
use super::linear_fit::{CrossValidation, LinearHead};
use super::report::EpochTally;
use super::{EpochReport, FitSummary, LinearModel, Phase, Progress, RunSettings, Strategy, TrainConfig};
use crate::backend::{backend_error, read_back};
use crate::data::{Dataset, Split};
use crate::error::{Error, Result};
use crate::metrics::{argmax, softmax};
use crate::model::{Backbone, FeatureExtractor, ImageClassifier, new_head};
use crate::rng::Rng;

/// Where the run is: what its next step does.
enum Stage {
    /// `claimed`: the first positions of jobs handed out and not completed yet.
    Extracting {
        next: usize,
        claimed: Vec<usize>,
    },
    Fitting(Box<CrossValidation>),
    Training {
        epoch: usize,
        order: Vec<usize>,
        next: usize,
    },
    Evaluating {
        epoch: usize,
        next: usize,
    },
    Finished,
}

pub struct TrainingRun {
    strategy: Strategy,
    split: Split,
    config: TrainConfig,
    inputs: Inputs,
    learner: Learner,
    stage: Stage,
    steps_done: usize,
    steps_total: usize,
    tally: EpochTally,
    completed_epoch: Option<EpochReport>,
    /// Whether the head started from a trained one (see [`TrainingRun::new`]).
    continued: bool,
    /// The number of the run's first epoch: 1, or one past the epochs of a run it resumes.
    first_epoch: usize,
    /// The classifier fitted on the cached features instead of training the head by steps.
    linear_model: Option<LinearModel>,
    fit_summary: Option<FitSummary>,
    frozen_jobs: FrozenJobs,
    sharing: Option<RunSharing>,
}

impl TrainingRun {
    /// Plans a run on `dataset` from a pretrained `backbone` on `device`. The head is new, unless
    /// `continue_from` holds a trained head whose class names are exactly the dataset's, in order:
    /// then the run continues training it.
    pub fn new(
        backbone: Backbone,
        device: &Device,
        dataset: &Dataset,
        settings: &RunSettings,
        continue_from: Option<(&[String], Linear)>,
    ) -> Result<Self> {
        let RunSettings { strategy, mut config, val_fraction, seed, resume_after } = settings.clone();
        strategy.validate()?;
        let linear_model = strategy.linear_model();
        if linear_model.is_some() {
            // A fit to convergence is one pass over the features: one "epoch".
            config.epochs = 1;
        }
        if config.epochs == 0
            || config.batch_size == 0
            || !config.learning_rate.is_finite()
            || config.learning_rate <= 0.0
        {
            return Err(Error::InvalidInput("epochs, batch size and learning rate must be positive".into()));
        }
        if resume_after >= config.epochs {
            return Err(Error::InvalidInput(format!(
                "the run to resume already completed {resume_after} of its {} epochs: nothing is left to train",
                config.epochs
            )));
        }
        let epochs_left = config.epochs - resume_after;
        let first_epoch = resume_after + 1;
        let split = dataset.split(val_fraction, seed)?;
        // The new head's initial weights follow the run's seed too, so that a run can be repeated.
        device.seed(seed);
        // A fitted classifier starts from nothing: it is fitted to convergence.
        let continued_head = continue_from
            .filter(|(classes, _)| linear_model.is_none() && *classes == split.classes.as_slice())
            .map(|(_, head)| head);
        let continued = continued_head.is_some();
        let classes = split.classes.len();
        let head = continued_head.unwrap_or_else(|| new_head(backbone.architecture().features(), classes, device));
        let preprocess = backbone.architecture().preprocess();
        let inputs = Inputs { preprocess, device: device.clone(), seed, rng: Rng::new(seed) };
        let batches = |n: usize| n.div_ceil(config.batch_size);
        let (learner, stage, steps_total) = if strategy.uses_cached_features() {
            let all = split.train.len() + split.val.len();
            let eval_steps = usize::from(!split.val.is_empty());
            let extraction_jobs = all.div_ceil(config.batch_size.min(EXTRACTION_BATCH));
            let train_steps = match linear_model {
                Some(_) => CrossValidation::steps_for(split.train.iter().map(|&(_, label)| label), classes),
                None => batches(split.train.len()),
            };
            let learner = CachedFeatures::new(backbone, head, dataset.len(), &config);
            let total = extraction_jobs + epochs_left * (train_steps + eval_steps);
            (Learner::Cached(Box::new(learner)), Stage::Extracting { next: 0, claimed: Vec::new() }, total)
        } else {
            let learner = BackboneTraining::new(backbone, head, strategy, &config, device, first_epoch);
            let total = epochs_left * (batches(split.train.len()) + batches(split.val.len()));
            (Learner::Backbone(Box::new(learner)), Stage::Finished, total)
        };
        let mut run = Self {
            strategy,
            tally: EpochTally::new(classes),
            split,
            config,
            inputs,
            learner,
            stage,
            steps_done: 0,
            steps_total,
            completed_epoch: None,
            continued,
            first_epoch,
            linear_model,
            fit_summary: None,
            frozen_jobs: FrozenJobs::default(),
            sharing: None,
        };
        if run.learner.reads_pixels() {
            run.stage = run.start_epoch(first_epoch, dataset);
        }
        Ok(run)
    }

    /// Whether this run continues training a head loaded with the model.
    pub fn continued(&self) -> bool {
        self.continued
    }

    pub fn classes(&self) -> &[String] {
        &self.split.classes
    }

    pub fn split(&self) -> &Split {
        &self.split
    }

    pub fn steps_total(&self) -> usize {
        self.steps_total
    }

    pub fn is_finished(&self) -> bool {
        matches!(self.stage, Stage::Finished)
    }

    /// The cached backbone features of example `index` (head-only runs, after extraction), for
    /// comparing the head against other classifiers on exactly the same features.
    pub fn cached_features(&self, index: usize) -> Option<&[f32]> {
        self.learner.cached()?.features(index)
    }

    /// Whether every image's backbone features are cached: a run on cached features past its
    /// extraction.
    pub fn features_ready(&self) -> bool {
        self.learner.cached().is_some() && !matches!(self.stage, Stage::Extracting { .. })
    }

    /// The model as trained so far, for inference: what the user keeps if they stop early.
    pub fn model(&self) -> ImageClassifier {
        self.learner.model()
    }

    /// What extracts the features, while the run extracts them.
    pub fn extractor(&self) -> Option<&FeatureExtractor> {
        self.learner.cached()?.extractor()
    }

    /// The dataset indices whose pixels the next step reads and that are not in memory: the page
    /// decodes their files and supplies them ([`Dataset::supply`]) or marks them unusable.
    pub fn examples_needing_pixels(&self, dataset: &Dataset) -> Vec<usize> {
        if self.frozen_supplied_for_next().is_some() {
            return Vec::new();
        }
        let batch_size = self.config.batch_size;
        let reads_pixels = self.learner.reads_pixels();
        let candidates: Vec<usize> = match &self.stage {
            Stage::Extracting { next, .. } => self.extraction_examples(*next, self.extraction_job_size(*next)),
            Stage::Training { order, next, .. } if reads_pixels => {
                order[*next..batch_end(*next, batch_size, order.len())].iter().map(|&k| self.split.train[k].0).collect()
            }
            Stage::Evaluating { next, .. } if reads_pixels => {
                let val = &self.split.val;
                val[*next..batch_end(*next, batch_size, val.len())].iter().map(|&(i, _)| i).collect()
            }
            _ => Vec::new(),
        };
        candidates.into_iter().filter(|&i| dataset.is_usable(i) && dataset.examples()[i].image.is_none()).collect()
    }

    fn start_epoch(&mut self, epoch: usize, dataset: &Dataset) -> Stage {
        self.learner.start_epoch(epoch);
        let mut order: Vec<usize> =
            (0..self.split.train.len()).filter(|&k| self.learner.takes_part(dataset, self.split.train[k].0)).collect();
        if self.config.shuffle {
            self.inputs.rng.shuffle(&mut order);
        }
        self.tally = EpochTally::new(self.split.classes.len());
        Stage::Training { epoch, order, next: 0 }
    }

    fn progress(&self, phase: Phase, epoch: usize, images: usize, loss: Option<f32>) -> Progress {
        Progress {
            phase,
            epoch,
            epochs: self.config.epochs,
            steps_done: self.steps_done,
            steps_total: self.steps_total,
            images,
            loss,
            epoch_report: None,
        }
    }

    /// Does the next unit of work and says what it did.
    /// Images registered by name must have their pixels supplied first
    /// ([`TrainingRun::examples_needing_pixels`]); otherwise the step is refused and the run stays
    /// as it was.
    pub async fn step(&mut self, dataset: &Dataset) -> Result<Progress> {
        let missing = self.examples_needing_pixels(dataset);
        if let Some(&first) = missing.first() {
            return Err(Error::InvalidInput(format!(
                "the pixels of {} image(s), '{}' first, were not supplied before the step",
                missing.len(),
                dataset.examples()[first].name
            )));
        }
        let batch_size = self.config.batch_size;
        let frozen = self.take_frozen_for_next();
        match std::mem::replace(&mut self.stage, Stage::Finished) {
            Stage::Finished => Ok(self.progress(Phase::Finished, self.config.epochs, 0, None)),
            extracting @ Stage::Extracting { .. } => {
                self.stage = extracting;
                let job = self.claim_extraction().ok_or_else(|| {
                    Error::InvalidInput("every image is being extracted by another worker: wait for them".into())
                })?;
                let usable: Vec<usize> = job.examples.iter().copied().filter(|&i| dataset.is_usable(i)).collect();
                let features = if usable.is_empty() {
                    Vec::new()
                } else {
                    let input = self.inputs.pixels(dataset, &usable, None)?;
                    let extractor = self
                        .extractor()
                        .ok_or_else(|| Error::InvalidInput("this run is not extracting features".into()))?;
                    read_back(extractor.forward(input)).await?
                };
                self.complete_extraction(dataset, job.first, &features)
            }
            Stage::Fitting(mut cross_validation) => {
                let Some(learner) = self.learner.cached() else {
                    return Err(Error::InvalidInput("a classifier is fitted only on cached features".into()));
                };
                let design = learner.design(&self.split.train, self.split.classes.len());
                let fitted = cross_validation.step(&design);
                let labels = design.labels().to_vec();
                self.steps_done += 1;
                match fitted {
                    None => self.stage = Stage::Fitting(cross_validation),
                    Some(head) => self.stage = self.adopt_fitted_head(head, &labels, dataset),
                }
                let mut progress = self.progress(Phase::Fitting, self.first_epoch, 0, None);
                progress.epoch_report = self.completed_epoch.take();
                Ok(progress)
            }
            Stage::Training { epoch, order, next } => {
                let end = batch_end(next, batch_size, order.len());
                let picked = self.training_batch(dataset, &order, next);
                let frozen = frozen_for(frozen, next, picked.len())?;
                let shared = self.claimed_shares_of(Claim::Training(next));
                // A batch whose every file failed to decode trains nothing.
                let loss = if picked.is_empty() {
                    None
                } else if shared {
                    match self.train_shared(dataset, &picked, epoch).await {
                        Err(Error::SharingLost(_)) => {
                            // No step was taken: this engine takes it, and the rest, alone.
                            self.sharing = None;
                            Some(self.train_on(dataset, &picked, frozen, epoch).await?)
                        }
                        trained => Some(trained?),
                    }
                } else {
                    Some(self.train_on(dataset, &picked, frozen, epoch).await?)
                };
                self.steps_done += 1;
                self.stage = if end < order.len() {
                    Stage::Training { epoch, order, next: end }
                } else if self.split.val.is_empty() {
                    self.end_epoch(epoch, dataset)
                } else {
                    Stage::Evaluating { epoch, next: 0 }
                };
                let mut progress = self.progress(Phase::Training, epoch, picked.len(), loss);
                progress.epoch_report = self.completed_epoch.take();
                Ok(progress)
            }
            Stage::Evaluating { epoch, next } => {
                let (picked, end) = self.evaluation_batch(dataset, next);
                let indices: Vec<usize> = picked.iter().map(|&(i, _)| i).collect();
                let frozen = frozen_for(frozen, next, picked.len())?;
                let shared = self.claimed_shares_of(Claim::Evaluating(next));
                let logits = if picked.is_empty() {
                    Vec::new()
                } else if shared {
                    self.evaluate_shared(dataset, &indices).await?
                } else {
                    read_back(self.learner.evaluate(dataset, &self.inputs, &indices, frozen)?).await?
                };
                let classes = self.split.classes.len();
                for (row, &(i, truth)) in picked.iter().enumerate() {
                    let name = || dataset.examples()[i].name.clone();
                    self.tally.add_val(i, truth, &logits[row * classes..(row + 1) * classes], name);
                }
                self.steps_done += 1;
                self.stage = if end < self.split.val.len() {
                    Stage::Evaluating { epoch, next: end }
                } else {
                    self.end_epoch(epoch, dataset)
                };
                let mut progress = self.progress(Phase::Evaluating, epoch, picked.len(), None);
                progress.epoch_report = self.completed_epoch.take();
                Ok(progress)
            }
        }
    }

    /// Makes the fitted classifier the run's head and tallies its training predictions; the
    /// validation images are evaluated next.
    fn adopt_fitted_head(&mut self, fitted: LinearHead, labels: &[usize], dataset: &Dataset) -> Stage {
        let LinearHead { weight, bias, train_logits, summary } = fitted;
        if let Some(learner) = self.learner.cached_mut() {
            learner.adopt(weight, bias, &self.config, &self.inputs.device);
        }
        self.tally = EpochTally::new(self.split.classes.len());
        for (logits, &label) in train_logits.iter().zip(labels) {
            let logits: Vec<f32> = logits.iter().map(|&l| l as f32).collect();
            let probabilities = softmax(&logits);
            self.tally.train.add(label, argmax(&probabilities));
            self.tally.loss_sum -= f64::from(probabilities[label].max(f32::MIN_POSITIVE).ln()) / labels.len() as f64;
        }
        self.tally.batches = 1;
        self.fit_summary = Some(summary);
        if self.split.val.is_empty() {
            self.end_epoch(self.first_epoch, dataset)
        } else {
            Stage::Evaluating { epoch: self.first_epoch, next: 0 }
        }
    }

    /// The usable examples (index, label) of the training batch at position `next` of `order`.
    fn training_batch(&self, dataset: &Dataset, order: &[usize], next: usize) -> Vec<(usize, usize)> {
        let end = batch_end(next, self.config.batch_size, order.len());
        order[next..end]
            .iter()
            .map(|&k| self.split.train[k])
            .filter(|&(i, _)| self.learner.takes_part(dataset, i))
            .collect()
    }

    /// The usable examples (index, label) of the validation batch at position `next`, and the
    /// position after it. Cached features are evaluated in one batch; pixels a training batch at
    /// a time.
    fn evaluation_batch(&self, dataset: &Dataset, next: usize) -> (Vec<(usize, usize)>, usize) {
        let size = if self.learner.reads_pixels() { self.config.batch_size } else { self.split.val.len() };
        let end = batch_end(next, size, self.split.val.len());
        let picked =
            self.split.val[next..end].iter().copied().filter(|&(i, _)| self.learner.takes_part(dataset, i)).collect();
        (picked, end)
    }

    /// One optimiser step on `picked` (index, label): its loss, with the batch's predictions tallied.
    async fn train_on(
        &mut self,
        dataset: &Dataset,
        picked: &[(usize, usize)],
        frozen: Option<FrozenActivations>,
        epoch: usize,
    ) -> Result<f32> {
        let indices: Vec<usize> = picked.iter().map(|&(i, _)| i).collect();
        let labels: Vec<usize> = picked.iter().map(|&(_, l)| l).collect();
        let (loss, logits) = self.learner.train_step(dataset, &self.inputs, &indices, frozen, &labels, epoch)?;
        let loss = loss.into_scalar_async::<f32>().await.map_err(backend_error)?;
        let logits = read_back(logits).await?;
        let classes = self.split.classes.len();
        for (row, &label) in labels.iter().enumerate() {
            self.tally.train.add(label, argmax(&logits[row * classes..(row + 1) * classes]));
        }
        self.tally.loss_sum += f64::from(loss);
        self.tally.batches += 1;
        Ok(loss)
    }

    /// Closes the epoch's tally into a report (handed out by the step that ended it) and moves on.
    fn end_epoch(&mut self, epoch: usize, dataset: &Dataset) -> Stage {
        let report = self.tally.report(epoch, self.fit_summary.clone(), self.strategy.trained_stages(epoch));
        self.completed_epoch = Some(report);
        if epoch < self.config.epochs { self.start_epoch(epoch + 1, dataset) } else { Stage::Finished }
    }
}

/// The end of the batch of at most `size` that starts at `next` in a list of `len`.
pub(super) fn batch_end(next: usize, size: usize, len: usize) -> usize {
    (next + size).min(len)
}
