//! One training run, advanced one unit of work at a time — a batch of feature extraction, a
//! training batch, or an evaluation batch — so that the page's worker can report progress, pause
//! and cancel between steps. Every read-back is asynchronous. The run is the loop: its stages,
//! the batches and the tallies; what is trained and how is its strategy's learner (`learner/`).

use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::learner::{BackboneTraining, CachedFeatures, FrozenActivations, Inputs, Learner};
use super::linear_fit::{CrossValidation, LinearHead};
use super::report::EpochTally;
use super::{EpochReport, FitSummary, LinearModel, Phase, Progress, RunSettings, Strategy, TrainConfig};
use crate::backend::{backend_error, read_back};
use crate::data::{Augmentation, Dataset, Split};
use crate::error::{Error, Result};
use crate::metrics::{argmax, softmax};
use crate::model::{Backbone, FeatureExtractor, ImageClassifier, new_head};
use crate::rng::Rng;

/// Images per feature-extraction job: small jobs spread evenly over several workers and keep
/// the input buffers small; the features do not depend on how images are batched.
const EXTRACTION_BATCH: usize = 8;

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
struct FrozenJobs {
    /// (epoch, evaluating) of the stage they belong to.
    stage: Option<(usize, bool)>,
    claimed: usize,
    supplied: Vec<(usize, FrozenActivations)>,
    /// The shape of one image's output of so many frozen stages, once computed.
    shape: Option<(usize, [usize; 3])>,
}

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

    /// The examples at positions `first..first + count` of the extraction order (training, then
    /// validation), without building the whole order for every job.
    fn extraction_examples(&self, first: usize, count: usize) -> Vec<usize> {
        self.split.train.iter().chain(&self.split.val).skip(first).take(count).map(|&(i, _)| i).collect()
    }

    /// Size of the extraction job starting at `first`.
    fn extraction_job_size(&self, first: usize) -> usize {
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
    fn frozen_supplied_for_next(&self) -> Option<&FrozenActivations> {
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
    fn take_frozen_for_next(&mut self) -> Option<(usize, FrozenActivations)> {
        let (_, next, _) = self.pixel_batches()?;
        self.frozen_supplied_for_next()?;
        let supplied = &mut self.frozen_jobs.supplied;
        let position = supplied.iter().position(|(first, _)| *first == next)?;
        Some(supplied.swap_remove(position))
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
                let picked: Vec<(usize, usize)> = order[next..end]
                    .iter()
                    .map(|&k| self.split.train[k])
                    .filter(|&(i, _)| self.learner.takes_part(dataset, i))
                    .collect();
                let frozen = frozen_for(frozen, next, picked.len())?;
                // A batch whose every file failed to decode trains nothing.
                let loss =
                    if picked.is_empty() { None } else { Some(self.train_on(dataset, &picked, frozen, epoch).await?) };
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
                // Cached features are evaluated in one batch; pixels a training batch at a time.
                let size = if self.learner.reads_pixels() { batch_size } else { self.split.val.len() };
                let end = batch_end(next, size, self.split.val.len());
                let picked: Vec<(usize, usize)> = self.split.val[next..end]
                    .iter()
                    .copied()
                    .filter(|&(i, _)| self.learner.takes_part(dataset, i))
                    .collect();
                let indices: Vec<usize> = picked.iter().map(|&(i, _)| i).collect();
                let frozen = frozen_for(frozen, next, picked.len())?;
                let logits = if picked.is_empty() {
                    Vec::new()
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

/// The frozen output supplied for the batch at `next` (taken before the step), checked to hold
/// the step's `images` images.
fn frozen_for(
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

/// The end of the batch of at most `size` that starts at `next` in a list of `len`.
fn batch_end(next: usize, size: usize, len: usize) -> usize {
    (next + size).min(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Preprocess;
    use crate::data::test_images::png;
    use crate::model::{Architecture, FoldableNorm};
    use crate::train::C_GRID;
    use burn::tensor::Tensor;
    use futures_lite::future::block_on;

    fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
        tensor.into_data().try_into_vec::<f32>().expect("f32 tensor")
    }

    fn running_mean(bn: &FoldableNorm) -> Vec<f32> {
        values(bn.batch_norm().expect("an unfolded BatchNorm").running_mean.value())
    }

    fn running_var(bn: &FoldableNorm) -> Vec<f32> {
        values(bn.batch_norm().expect("an unfolded BatchNorm").running_var.value())
    }

    /// Strategy (b) with one stage, one epoch of batches of 4, nothing held out.
    fn last_stage() -> RunSettings {
        RunSettings {
            strategy: Strategy::LastStages { stages: 1 },
            config: TrainConfig { epochs: 1, batch_size: 4, ..TrainConfig::default() },
            val_fraction: 0.0,
            seed: 1,
            ..RunSettings::default()
        }
    }

    fn two_colours(preprocess: &Preprocess) -> Dataset {
        let mut dataset = Dataset::default();
        for i in 0..4 {
            let (colour, class) = if i % 2 == 0 { ([200, 30, 30], "red") } else { ([30, 30, 200], "blue") };
            dataset.add(&format!("{class}/{i}.png"), &png(colour, i), class, None, preprocess).unwrap();
        }
        dataset
    }

    /// The same for the inverted-residual backbones: the last block group and the final 1×1
    /// convolution train, the stem and the earlier blocks stay as they were.
    #[test]
    fn last_stage_training_of_mobile_backbones_leaves_their_early_blocks_untouched() {
        let device = Device::flex();
        for architecture in [Architecture::MobileNetV2, Architecture::EfficientNetLite0] {
            let pretrained = ImageClassifier::random(architecture, 1000, &device);
            let dataset = two_colours(&architecture.preprocess());
            let mut run =
                TrainingRun::new(pretrained.backbone.clone(), &device, &dataset, &last_stage(), None).unwrap();
            block_on(run.step(&dataset)).unwrap();
            let trained = run.model();
            let (
                Backbone::MobileNetV2(before) | Backbone::EfficientNetLite0(before),
                Backbone::MobileNetV2(after) | Backbone::EfficientNetLite0(after),
            ) = (&pretrained.backbone, &trained.backbone)
            else {
                panic!("{architecture:?} is not an inverted-residual backbone");
            };
            let last = before.blocks.len() - 1;
            assert_eq!(values(before.stem.conv.weight.val()), values(after.stem.conv.weight.val()));
            assert_eq!(
                running_var(&before.blocks[last - 1].project.bn),
                running_var(&after.blocks[last - 1].project.bn)
            );
            assert_ne!(
                values(before.blocks[last].project.conv.weight.val()),
                values(after.blocks[last].project.conv.weight.val())
            );
            assert_ne!(values(before.head.conv.weight.val()), values(after.head.conv.weight.val()));
            assert_eq!(trained.fc.weight.dims(), [1280, 2], "{architecture:?}");
        }
    }

    /// Strategy (b) with one stage: one step changes layer4 (weights and BatchNorm statistics) and
    /// the head, and leaves the frozen stem and stages exactly as they were.
    #[test]
    fn last_stage_training_leaves_frozen_layers_and_their_batchnorm_untouched() {
        let device = Device::flex();
        let pretrained = ImageClassifier::random(Architecture::ResNet18, 1000, &device);
        let dataset = two_colours(&Preprocess::imagenet());
        let mut run = TrainingRun::new(pretrained.backbone.clone(), &device, &dataset, &last_stage(), None).unwrap();
        let progress = block_on(run.step(&dataset)).unwrap();
        assert_eq!(progress.phase, Phase::Training);
        let trained = run.model();
        let (Backbone::ResNet18(before), Backbone::ResNet18(after)) = (&pretrained.backbone, &trained.backbone) else {
            panic!("the backbone changed architecture");
        };
        assert_eq!(values(before.conv1.weight.val()), values(after.conv1.weight.val()));
        assert_eq!(values(before.layer3[1].conv2.weight.val()), values(after.layer3[1].conv2.weight.val()));
        assert_eq!(running_mean(&before.layer3[1].bn2), running_mean(&after.layer3[1].bn2));
        assert_ne!(values(before.layer4[1].conv2.weight.val()), values(after.layer4[1].conv2.weight.val()));
        assert_ne!(running_mean(&before.layer4[1].bn2), running_mean(&after.layer4[1].bn2));
        assert_eq!(trained.num_classes(), 2);
    }

    /// The fitted classifiers: extraction, one fit per cross-validation step, the final fit, then
    /// the validation images through the fitted head — one epoch, its report saying how `C` was
    /// chosen, and a model whose head gives the reported accuracy.
    #[test]
    fn fitted_classifiers_choose_c_by_cross_validation_and_become_the_head() {
        let device = Device::flex();
        let architecture = Architecture::MobileNetV2;
        let backbone = ImageClassifier::random(architecture, 1000, &device).backbone;
        let mut dataset = Dataset::default();
        for i in 0..20 {
            let (colour, class) = if i % 2 == 0 { ([200, 30, 30], "red") } else { ([30, 30, 200], "blue") };
            dataset.add(&format!("{class}/{i}.png"), &png(colour, i), class, None, &architecture.preprocess()).unwrap();
        }
        for strategy in [Strategy::LogisticRegression, Strategy::LinearSvm] {
            let settings = RunSettings { strategy, seed: 3, ..RunSettings::default() };
            let mut run = TrainingRun::new(backbone.clone(), &device, &dataset, &settings, None).unwrap();
            let (mut phases, mut reports) = (Vec::new(), Vec::new());
            while !run.is_finished() {
                let progress = block_on(run.step(&dataset)).unwrap();
                assert_eq!(progress.epochs, 1, "{strategy:?}: a fit is one epoch");
                phases.push(progress.phase);
                reports.extend(progress.epoch_report);
            }
            let fits = phases.iter().filter(|&&phase| phase == Phase::Fitting).count();
            assert_eq!(fits, 5 * C_GRID.len() + 1, "{strategy:?}: 8 training images per class, 5 folds");
            assert_eq!(phases.len(), run.steps_total(), "{strategy:?}");
            let [report] = reports.as_slice() else { panic!("{strategy:?}: one epoch report, got {}", reports.len()) };
            let fit = report.fit.as_ref().expect("the fit's summary");
            assert_eq!(Some(fit.model), strategy.linear_model());
            assert!(fit.converged && fit.folds == 5 && C_GRID.contains(&fit.c), "{fit:?}");
            assert_eq!(report.val_accuracy, Some(1.0), "{strategy:?}");
            assert_eq!(report.train_accuracy, 1.0, "{strategy:?}");
            // The run's model is the fitted head on the frozen backbone.
            let model = run.model();
            for (i, truth) in run.split().val.clone() {
                let input = run.inputs.pixels(&dataset, &[i], None).unwrap();
                assert_eq!(argmax(&values(model.forward(input))), truth, "{strategy:?}");
            }
        }
    }

    /// Progressive unfreezing, one stage per epoch at half the rate of the stage after it: epoch 1
    /// trains the head alone, epoch 2 also layer4, epoch 3 also layer3, and the reports say so.
    /// Adam's first step moves every parameter by its learning rate (times the gradient's sign),
    /// which shows each stage's rate.
    #[test]
    fn progressive_unfreezing_adds_a_stage_per_period_at_a_falling_rate() {
        let device = Device::flex();
        let pretrained = ImageClassifier::random(Architecture::ResNet18, 1000, &device);
        let dataset = two_colours(&Preprocess::imagenet());
        let settings = RunSettings {
            strategy: Strategy::Progressive { every: 1, lr_factor: 0.5 },
            config: TrainConfig { epochs: 3, ..last_stage().config },
            ..last_stage()
        };
        let mut run = TrainingRun::new(pretrained.backbone.clone(), &device, &dataset, &settings, None).unwrap();
        let (mut models, mut trained_stages) = (vec![run.model()], Vec::new());
        while !run.is_finished() {
            if let Some(report) = block_on(run.step(&dataset)).unwrap().epoch_report {
                trained_stages.push(report.trained_stages);
                models.push(run.model());
            }
        }
        assert_eq!(trained_stages, [Some(0), Some(1), Some(2)]);
        let largest_change = |before: &ImageClassifier, after: &ImageClassifier, layer: usize| -> f32 {
            let weights = |model: &ImageClassifier| {
                let Backbone::ResNet18(net) = &model.backbone else { panic!("not a ResNet18") };
                values([&net.layer1, &net.layer2, &net.layer3, &net.layer4][layer - 1][0].conv1.weight.val())
            };
            weights(before).iter().zip(weights(after)).fold(0.0, |m, (a, b)| m.max((a - b).abs()))
        };
        // Epoch 1: the head only.
        assert_eq!(largest_change(&models[0], &models[1], 4), 0.0);
        assert_ne!(values(models[0].fc.weight.val()), values(models[1].fc.weight.val()));
        // Epoch 2: layer4 at half the rate; layer3 still frozen.
        let step = largest_change(&models[1], &models[2], 4);
        assert!((step - 0.5e-3).abs() < 1e-5, "layer4 moved {step}");
        assert_eq!(largest_change(&models[1], &models[2], 3), 0.0);
        // Epoch 3: layer3 at a quarter; layer2 still frozen.
        let step = largest_change(&models[2], &models[3], 3);
        assert!((step - 0.25e-3).abs() < 1e-5, "layer3 moved {step}");
        assert_eq!(largest_change(&models[2], &models[3], 2), 0.0);
    }
}
