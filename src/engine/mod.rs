//! The engine the page's worker drives: pretrained weights, the user's images, a training run
//! advanced step by step, predictions, and the trained model exported as a file.
//!
//! Every read-back from the device is asynchronous, because synchronous reads trap on the
//! browser's WebGPU; natively the same futures complete at once. What the loaded or trained
//! model computes for images — features, logits, predictions — is in `inference.rs`.

mod check;
mod inference;
mod replica;

pub use crate::classify::{Explanation, Prediction, Predictions};
pub use inference::{FailedFile, FileActivations, FileFeatures};
pub use replica::Replica;

use std::rc::Rc;

use burn::tensor::Device;
use image::RgbImage;
use serde::Serialize;

use crate::backend::BackendInfo;
use crate::classify::Classifier;
use crate::data::{Dataset, Preprocess, Resizing, Subset, probe_image};
use crate::doctor::{DataCheck, Diagnosis};
use crate::error::{Error, Result};
use crate::model::{Architecture, FeatureExtractor, IMAGENET_CLASSES, ImageClassifier, Pretrained};
use crate::train::{BatchShares, ExtractionJob, FrozenJob, Progress, RunSettings, ShareJob, TrainingRun};
use crate::weights::{self, ModelCard, OnnxOptions, Precision};

/// What a new run will do, for the page to show before the first step.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub classes: Vec<String>,
    pub train_images: usize,
    pub val_images: usize,
    pub steps_total: usize,
    /// The run continues training the head of the loaded model (same classes, same order).
    pub continued: bool,
    /// The backbone is frozen and each image's features are computed once (extraction first),
    /// which other workers can share.
    pub cached_features: bool,
}

/// What a weights file turned out to hold.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LoadedWeights {
    pub architecture: Architecture,
    /// Classes of the head stored in the file; `None` when the file holds only the backbone.
    pub classes: Option<usize>,
    /// The class names of a model exported by this tool, in output order.
    pub class_names: Option<Vec<String>>,
    /// How an exported model was trained, as its card says.
    pub training: Option<serde_json::Value>,
}

/// The run in progress, with what its export's training summary needs.
struct ActiveRun {
    run: TrainingRun,
    settings: RunSettings,
    epochs_completed: usize,
    val_accuracy: Option<f32>,
    /// The last epoch's "unknown" threshold ([`crate::train::EpochReport::unknown_below`]).
    unknown_below: Option<f32>,
    /// The last epoch's fitted temperature ([`crate::train::Calibration`]).
    temperature: Option<f32>,
}

impl ActiveRun {
    /// The run's settings, the epochs completed, the last validation accuracy, "unknown"
    /// threshold and temperature, for the card.
    fn summary(&self) -> Option<serde_json::Value> {
        let mut summary = serde_json::to_value(&self.settings).ok()?;
        let fields = summary.as_object_mut()?;
        fields.insert("epochs_completed".into(), self.epochs_completed.into());
        fields.insert("val_accuracy".into(), self.val_accuracy.into());
        fields.insert("unknown_below".into(), self.unknown_below.into());
        fields.insert("temperature".into(), self.temperature.into());
        fields.insert("continued".into(), self.run.continued().into());
        Some(summary)
    }

    fn trained(&self) -> Classifier {
        Classifier::new(self.run.model(), self.run.classes().to_vec(), self.summary())
    }
}

fn no_run() -> Error {
    Error::InvalidInput("no training run: start one first".into())
}

pub struct Engine {
    device: Device,
    backend: BackendInfo,
    pretrained: Option<Pretrained>,
    dataset: Dataset,
    run: Option<ActiveRun>,
    /// The latest trained or opened model: kept when a run ends or is stopped.
    trained: Option<Classifier>,
    /// The dataset indices of the latest run's validation images: an int8 ONNX export calibrates
    /// its activations on them.
    validation: Vec<usize>,
    /// The loaded backbone's extractor, made on the first [`Engine::features`] call outside a
    /// run.
    extractor: Option<FeatureExtractor>,
    /// The data check in progress, and the last one's findings (`check.rs`).
    check: Option<DataCheck>,
    diagnosis: Option<Diagnosis>,
    /// The last evaluation's outcome for each validation image (dataset index, right).
    val_outcomes: Vec<(usize, bool)>,
    /// On a helper: its copy of another engine's run, training shares of its batches.
    replica: Option<Replica>,
}

impl Engine {
    pub fn new(device: Device, backend: BackendInfo) -> Self {
        Self {
            device,
            backend,
            pretrained: None,
            dataset: Dataset::default(),
            run: None,
            trained: None,
            validation: Vec::new(),
            extractor: None,
            check: None,
            diagnosis: None,
            val_outcomes: Vec::new(),
            replica: None,
        }
    }

    pub fn backend(&self) -> &BackendInfo {
        &self.backend
    }

    /// Loads pretrained weights or a model exported by this tool (see
    /// [`weights::load_pretrained`]); an export predicts at once with its class names, and a run
    /// on the same classes continues training it.
    pub fn load_weights(&mut self, bytes: &[u8]) -> Result<LoadedWeights> {
        let pretrained = weights::load_pretrained(bytes, &self.device)?;
        let card = pretrained.card.as_ref();
        let loaded = LoadedWeights {
            architecture: pretrained.architecture(),
            classes: pretrained.num_classes(),
            class_names: card.map(|card| card.classes.clone()),
            training: card.and_then(|card| card.training.clone()),
        };
        self.trained = match card {
            Some(card) => Some(Classifier::new(pretrained.classifier()?, card.classes.clone(), card.training.clone())),
            None => None,
        };
        self.pretrained = Some(pretrained);
        self.extractor = None;
        self.forget_check();
        Ok(loaded)
    }

    /// Untrained weights, for testing and benchmarks only: features from them are meaningless.
    pub fn use_random_weights(&mut self, architecture: Architecture) {
        self.pretrained = Some(ImageClassifier::random(architecture, IMAGENET_CLASSES, &self.device).into());
        self.trained = None;
        self.extractor = None;
    }

    fn pretrained(&self) -> Result<&Pretrained> {
        self.pretrained
            .as_ref()
            .ok_or_else(|| Error::InvalidInput("no weights are loaded yet: load weights first".into()))
    }

    /// The transforms of the loaded backbone (ResNet18's until weights are loaded).
    fn preprocess(&self) -> Preprocess {
        self.pretrained.as_ref().map_or(Architecture::ResNet18, Pretrained::architecture).preprocess()
    }

    /// Decodes and keeps one image of `class`; on error the image is skipped and the rest stay.
    pub fn add_image(&mut self, name: &str, bytes: &[u8], class: &str, subset: Option<Subset>) -> Result<()> {
        self.dataset.add(name, bytes, class, subset, &self.preprocess())
    }

    /// Registers an image file by name after checking its header (format, size): the page keeps
    /// the file, and decodes it when a step needs its pixels ([`Engine::images_needed`]), so that
    /// memory does not grow with the number of images. Returns the image's index.
    pub fn add_image_file(&mut self, name: &str, bytes: &[u8], class: &str, subset: Option<Subset>) -> Result<usize> {
        probe_image(name, bytes)?;
        self.dataset.register(name, class, subset)
    }

    /// The indices of registered images whose pixels the next [`Engine::train_step`] reads: supply
    /// each ([`Engine::supply_image`]) or report it unusable ([`Engine::image_failed`]) first.
    pub fn images_needed(&self) -> Vec<usize> {
        self.run.as_ref().map(|active| active.run.examples_needing_pixels(&self.dataset)).unwrap_or_default()
    }

    /// The pixels of image `index`, decoded and resized elsewhere ([`crate::data::decode_resized`]
    /// with [`Engine::resizing`]): `rgb` holds `width × height` pixels, row by row.
    pub fn supply_image(&mut self, index: usize, width: u32, height: u32, rgb: Vec<u8>) -> Result<()> {
        let image = RgbImage::from_raw(width, height, rgb).ok_or_else(|| {
            Error::InvalidInput(format!("the pixels supplied for image {index} do not fill {width}×{height}"))
        })?;
        self.dataset.supply(index, image)
    }

    /// Image `index`'s file failed to decode: runs go on without it.
    pub fn image_failed(&mut self, index: usize) -> Result<()> {
        self.dataset.mark_unusable(index)
    }

    /// How images are kept, for decoding them elsewhere.
    pub fn resizing(&self) -> Resizing {
        self.preprocess().resizing()
    }

    pub fn image_count(&self) -> usize {
        self.dataset.len()
    }

    pub fn clear_images(&mut self) {
        self.run = None;
        self.dataset.clear();
        self.validation.clear();
        self.forget_check();
    }

    /// Plans a run on the images added so far; [`Engine::train_step`] then advances it. When the
    /// loaded model is an export whose classes are the images' classes, the run continues training
    /// its head; otherwise the head is new.
    pub fn start_training(&mut self, settings: &RunSettings) -> Result<Plan> {
        let pretrained = self.pretrained()?;
        let continue_from = pretrained.card.as_ref().zip(pretrained.head.clone());
        let run = TrainingRun::new(
            pretrained.backbone.clone(),
            &self.device,
            &self.dataset,
            settings,
            continue_from.as_ref().map(|(card, head)| (card.classes.as_slice(), head.clone())),
        )?;
        self.validation = run.split().val.iter().map(|&(index, _)| index).collect();
        let plan = Plan {
            classes: run.classes().to_vec(),
            train_images: run.split().train.len(),
            val_images: run.split().val.len(),
            steps_total: run.steps_total(),
            continued: run.continued(),
            cached_features: settings.strategy.uses_cached_features(),
        };
        self.check = None;
        self.run = Some(ActiveRun {
            run,
            settings: settings.clone(),
            epochs_completed: 0,
            val_accuracy: None,
            unknown_below: None,
            temperature: None,
        });
        // The run extracts with its own folded copy.
        self.extractor = None;
        Ok(plan)
    }

    /// Hands out the next batch of images whose features the run needs, for another worker's
    /// engine ([`Engine::features`]) or this one; `None` when every batch has been handed out.
    pub fn claim_extraction(&mut self) -> Result<Option<ExtractionJob>> {
        Ok(self.run.as_mut().ok_or_else(no_run)?.run.claim_extraction())
    }

    /// Takes the features of a claimed batch, in the order of its images, for those not reported
    /// unusable ([`Engine::image_failed`]).
    pub fn complete_extraction(&mut self, first: usize, features: &[f32]) -> Result<Progress> {
        self.run.as_mut().ok_or_else(no_run)?.run.complete_extraction(&self.dataset, first, features)
    }

    /// Hands out the next batch of the step in progress whose frozen stages another worker's
    /// engine may compute ([`Engine::frozen_activations`]), ahead of the steps; `None` when the
    /// run freezes no stage now or the stage's batches are all handed out.
    pub fn claim_frozen_job(&mut self) -> Result<Option<FrozenJob>> {
        Ok(self.run.as_mut().ok_or_else(no_run)?.run.claim_frozen_job(&self.dataset))
    }

    /// Takes a claimed job's frozen output (see [`TrainingRun::complete_frozen_job`]): the step
    /// for its batch then needs no pixels. `false`: the job's stage had ended, and it was ignored.
    pub fn complete_frozen_job(&mut self, job: &FrozenJob, values: Vec<f32>, shape: [usize; 3]) -> Result<bool> {
        self.run.as_mut().ok_or_else(no_run)?.run.complete_frozen_job(&self.dataset, job, values, shape)
    }

    /// Splits the run's training batches from now on across `engines` engines: this one and
    /// helpers holding a [`Replica`] of the run's model as it is now, adding up through `shares`
    /// (see [`TrainingRun::share_batches`]).
    pub fn share_batches(&mut self, engines: usize, shares: Rc<dyn BatchShares>) -> Result<()> {
        self.run.as_mut().ok_or_else(no_run)?.run.share_batches(engines, shares)
    }

    /// The helpers' shares of the next step, to hand out before it ([`TrainingRun::claim_share_jobs`]).
    pub fn claim_share_jobs(&mut self) -> Result<Vec<ShareJob>> {
        self.run.as_mut().ok_or_else(no_run)?.run.claim_share_jobs(&self.dataset)
    }

    /// On a helper: makes the copy of another engine's run that trains shares of its batches.
    pub fn start_replica(&mut self, model: &[u8], settings: &RunSettings) -> Result<()> {
        self.replica = Some(Replica::new(model, settings, &self.device)?);
        Ok(())
    }

    /// On a helper: computes the share `job` of a step (trains on it, or evaluates it) with the
    /// copy [`Engine::start_replica`] made.
    pub async fn compute_replica_share(&mut self, job: ShareJob, shares: Rc<dyn BatchShares>) -> Result<()> {
        let replica =
            self.replica.as_mut().ok_or_else(|| Error::InvalidInput("no copy of a run to train: start one".into()))?;
        replica.compute_share(job, shares).await
    }

    pub fn stop_replica(&mut self) {
        self.replica = None;
    }

    /// One unit of work of the current run. When the run finishes, its model becomes the one
    /// [`Engine::predict`] uses.
    pub async fn train_step(&mut self) -> Result<Progress> {
        let dataset = &self.dataset;
        let active = self.run.as_mut().ok_or_else(no_run)?;
        let stepped = active.run.step(dataset).await;
        self.dataset.release_supplied();
        let progress = stepped?;
        let active = self.run.as_mut().ok_or_else(no_run)?;
        if let Some(report) = &progress.epoch_report {
            active.epochs_completed = report.epoch;
            active.val_accuracy = report.val_accuracy;
            active.unknown_below = report.unknown_below;
            active.temperature = report.calibration.as_ref().map(|c| c.temperature);
            self.val_outcomes.clone_from(&report.val_outcomes);
        }
        if active.run.is_finished() {
            self.stop_training();
        }
        Ok(progress)
    }

    /// Ends the run early, keeping the model as trained so far.
    pub fn stop_training(&mut self) {
        if let Some(active) = self.run.take() {
            self.trained = Some(active.trained());
        }
    }

    /// The model as a `.safetensors` file that PyTorch and [`Engine::load_weights`] load: the run
    /// in progress as trained so far (for saving after each epoch), else the last trained or opened
    /// model. `date` (ISO 8601) goes into the training summary of a model trained here.
    pub async fn export(&self, precision: Precision, date: &str) -> Result<Vec<u8>> {
        let (model, card) = self.model_to_export(date)?;
        weights::export_safetensors(&model, &card, precision).await
    }

    /// The same model as [`Engine::export`]'s, as an ONNX graph (see [`weights::export_onnx`]);
    /// an int8 one calibrated on `calibration`, the files (name, bytes) of the images
    /// [`Engine::calibration_images`] names. A file that no longer decodes is left out.
    pub async fn export_onnx(
        &self,
        options: OnnxOptions,
        calibration: &[(String, Vec<u8>)],
        date: &str,
    ) -> Result<Vec<u8>> {
        let (model, card) = self.model_to_export(date)?;
        let images: Vec<RgbImage> =
            calibration.iter().filter_map(|(name, bytes)| crate::data::decode_image(name, bytes).ok()).collect();
        weights::export_onnx(&model, &card, options, &images).await
    }

    /// Up to `count` of the latest run's validation images (dataset indices, spread over the
    /// split), for an int8 export to calibrate on; none when no run has split the images added.
    pub fn calibration_images(&self, count: usize) -> Vec<usize> {
        let usable: Vec<usize> =
            self.validation.iter().copied().filter(|&index| self.dataset.is_usable(index)).collect();
        weights::calibration_sample(&usable, count)
    }

    /// What an export writes: the run's model so far, else the last trained or opened one, and
    /// its card.
    fn model_to_export(&self, date: &str) -> Result<(ImageClassifier, ModelCard)> {
        let in_run;
        let trained = match (&self.run, &self.trained) {
            (Some(active), _) => {
                in_run = active.trained();
                &in_run
            }
            (None, Some(trained)) => trained,
            (None, None) => {
                return Err(Error::InvalidInput(
                    "there is no trained model to export yet: train a head on your images, or open a saved model"
                        .into(),
                ));
            }
        };
        let mut training = trained.training().cloned();
        if let Some(fields) = training.as_mut().and_then(serde_json::Value::as_object_mut) {
            fields.entry("date").or_insert_with(|| date.into());
        }
        let architecture = trained.architecture();
        let classes = trained.classes().to_vec();
        let card = ModelCard { architecture, classes, preprocess: architecture.preprocess(), training };
        Ok((trained.model().clone(), card))
    }
}

#[cfg(test)]
mod tests;
