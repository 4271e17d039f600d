//! What a run reports: each step's [`Progress`], and at the end of each epoch an [`EpochReport`]
//! tallied from the epoch's batches.

use serde::Serialize;

use super::FitSummary;
use crate::metrics::{ConfusionMatrix, KNOWN_KEPT, unknown_threshold};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Extracting,
    /// Fitting a classifier on the cached features (one cross-validation fit per step).
    Fitting,
    Training,
    Evaluating,
    Finished,
}

/// What one step did, for the progress bar and the curves.
#[derive(Debug, Clone, Serialize)]
pub struct Progress {
    pub phase: Phase,
    /// 1-based; 0 while extracting features.
    pub epoch: usize,
    pub epochs: usize,
    pub steps_done: usize,
    pub steps_total: usize,
    /// Images this step processed.
    pub images: usize,
    /// This training batch's loss.
    pub loss: Option<f32>,
    /// Set by the step that completes an epoch.
    pub epoch_report: Option<EpochReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EpochReport {
    pub epoch: usize,
    pub train_loss: f32,
    pub train_accuracy: f32,
    /// `None` when nothing was held out for validation.
    pub val_accuracy: Option<f32>,
    pub per_class_accuracy: Vec<Option<f32>>,
    pub confusion: ConfusionMatrix,
    pub misclassified: Vec<Misclassified>,
    /// How a fitted classifier's `C` was chosen (strategies that fit one).
    pub fit: Option<FitSummary>,
    /// Backbone stages trained in this epoch besides the head (counted from the last); `None`:
    /// all of the backbone.
    pub trained_stages: Option<usize>,
    /// The top-class probability under which an image is called unlike every class: 95 % of the
    /// validation images score at or above it ([`crate::metrics::unknown_threshold`]); `None`
    /// without validation images.
    pub unknown_below: Option<f32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Misclassified {
    pub name: String,
    pub truth: usize,
    pub predicted: usize,
    pub confidence: f32,
}

/// At most this many misclassified validation images are reported per epoch.
const MISCLASSIFIED_SHOWN: usize = 24;

/// Running sums over one epoch.
pub(super) struct EpochTally {
    pub loss_sum: f64,
    pub batches: usize,
    pub train: ConfusionMatrix,
    pub val: ConfusionMatrix,
    pub misclassified: Vec<Misclassified>,
    /// The top-class probability of each validation image.
    pub val_confidences: Vec<f32>,
}

impl EpochTally {
    pub fn new(classes: usize) -> Self {
        Self {
            loss_sum: 0.0,
            batches: 0,
            train: ConfusionMatrix::new(classes),
            val: ConfusionMatrix::new(classes),
            misclassified: Vec::new(),
            val_confidences: Vec::new(),
        }
    }

    /// Counts a validation prediction; `name` is asked for only when the image is shown as
    /// misclassified.
    pub fn add_val(&mut self, truth: usize, predicted: usize, confidence: f32, name: impl FnOnce() -> String) {
        self.val.add(truth, predicted);
        self.val_confidences.push(confidence);
        if predicted != truth && self.misclassified.len() < MISCLASSIFIED_SHOWN {
            self.misclassified.push(Misclassified { name: name(), truth, predicted, confidence });
        }
    }

    /// The epoch's report: on the validation images, or on the training ones when none were held out.
    pub fn report(&self, epoch: usize, fit: Option<FitSummary>, trained_stages: Option<usize>) -> EpochReport {
        let val_accuracy = self.val.accuracy();
        let shown = if val_accuracy.is_some() { &self.val } else { &self.train };
        EpochReport {
            epoch,
            train_loss: (self.loss_sum / self.batches.max(1) as f64) as f32,
            train_accuracy: self.train.accuracy().unwrap_or(0.0),
            val_accuracy,
            per_class_accuracy: shown.per_class_accuracy(),
            confusion: shown.clone(),
            misclassified: self.misclassified.clone(),
            fit,
            trained_stages,
            unknown_below: unknown_threshold(&self.val_confidences, KNOWN_KEPT),
        }
    }
}
