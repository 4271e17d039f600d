//! What a run reports: each step's [`Progress`], and at the end of each epoch an [`EpochReport`]
//! tallied from the epoch's batches.

use serde::Serialize;

use super::FitSummary;
use crate::metrics::{
    ConfusionMatrix, KNOWN_KEPT, Reliability, TemperatureFit, argmax, fit_temperature, top_probabilities,
    unknown_threshold,
};

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
    /// The top-class probability (calibrated) under which an image is called unlike every class:
    /// 95 % of the validation images score at or above it ([`crate::metrics::unknown_threshold`]);
    /// `None` without validation images.
    pub unknown_below: Option<f32>,
    /// The probabilities' calibration on the validation images; `None` without them.
    pub calibration: Option<Calibration>,
    /// Each validation image's dataset index and whether it was classified right: what a data
    /// check's leaked duplicates did to the accuracy ([`crate::doctor::leak_effect`]). Not sent
    /// to the page.
    #[serde(skip)]
    pub val_outcomes: Vec<(usize, bool)>,
}

/// Temperature scaling fitted on an epoch's validation logits, and what it changed.
#[derive(Debug, Clone, Serialize)]
pub struct Calibration {
    /// Probabilities are a softmax of `logits / temperature`.
    pub temperature: f32,
    /// How: by likelihood, or, when every validation image was right, to the accuracy their
    /// count vouches for.
    pub fit: TemperatureFit,
    /// Of the softmax of the logits as they are.
    pub before: Reliability,
    /// Of the softmax of `logits / temperature`, on the same images it was fitted on.
    pub after: Reliability,
}

impl Calibration {
    /// Fits the temperature on validation `logits` (rows of `classes`) and their `labels`.
    /// `None` without labels.
    fn fit(logits: &[f32], classes: usize, labels: &[usize]) -> Option<Self> {
        let (temperature, fit) = fit_temperature(logits, classes, labels)?;
        let correct: Vec<bool> =
            logits.chunks_exact(classes).zip(labels).map(|(row, &label)| argmax(row) == label).collect();
        let reliability = |temperature| Reliability::new(&top_probabilities(logits, classes, temperature), &correct);
        Some(Self { temperature, fit, before: reliability(1.0), after: reliability(temperature) })
    }
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
    /// The misclassified validation images shown, each with its row in `val_logits`.
    misclassified: Vec<(usize, Misclassified)>,
    /// The logits of each validation image, rows of `classes`, and its class.
    val_logits: Vec<f32>,
    val_labels: Vec<usize>,
    val_outcomes: Vec<(usize, bool)>,
    classes: usize,
}

impl EpochTally {
    pub fn new(classes: usize) -> Self {
        Self {
            loss_sum: 0.0,
            batches: 0,
            train: ConfusionMatrix::new(classes),
            val: ConfusionMatrix::new(classes),
            misclassified: Vec::new(),
            val_logits: Vec::new(),
            val_labels: Vec::new(),
            val_outcomes: Vec::new(),
            classes,
        }
    }

    /// Counts the prediction of validation image `index` from its `logits`; `name` is asked for
    /// only when the image is shown as misclassified.
    pub fn add_val(&mut self, index: usize, truth: usize, logits: &[f32], name: impl FnOnce() -> String) {
        let predicted = argmax(logits);
        self.val.add(truth, predicted);
        self.val_outcomes.push((index, predicted == truth));
        if predicted != truth && self.misclassified.len() < MISCLASSIFIED_SHOWN {
            let shown = Misclassified { name: name(), truth, predicted, confidence: 0.0 };
            self.misclassified.push((self.val_labels.len(), shown));
        }
        self.val_logits.extend_from_slice(logits);
        self.val_labels.push(truth);
    }

    /// The epoch's report: on the validation images, or on the training ones when none were held
    /// out. The probabilities it quotes are calibrated with the temperature fitted here.
    pub fn report(&self, epoch: usize, fit: Option<FitSummary>, trained_stages: Option<usize>) -> EpochReport {
        let val_accuracy = self.val.accuracy();
        let shown = if val_accuracy.is_some() { &self.val } else { &self.train };
        let calibration = Calibration::fit(&self.val_logits, self.classes, &self.val_labels);
        let temperature = calibration.as_ref().map_or(1.0, |calibration| calibration.temperature);
        let confidences = top_probabilities(&self.val_logits, self.classes, temperature);
        let misclassified = self
            .misclassified
            .iter()
            .map(|(row, shown)| Misclassified { confidence: confidences[*row], ..shown.clone() })
            .collect();
        EpochReport {
            epoch,
            train_loss: (self.loss_sum / self.batches.max(1) as f64) as f32,
            train_accuracy: self.train.accuracy().unwrap_or(0.0),
            val_accuracy,
            per_class_accuracy: shown.per_class_accuracy(),
            confusion: shown.clone(),
            misclassified,
            fit,
            trained_stages,
            unknown_below: unknown_threshold(&confidences, KNOWN_KEPT),
            calibration,
            val_outcomes: self.val_outcomes.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{mean_nll, tempered_softmax};

    /// An overconfident epoch: large logits, a third of them wrong. The fitted temperature
    /// softens them (T > 1, a lower likelihood loss), and the misclassified images and the
    /// "unknown" threshold quote the calibrated probabilities.
    #[test]
    fn an_epochs_report_calibrates_its_probabilities() {
        let mut tally = EpochTally::new(2);
        let rows: Vec<([f32; 2], usize)> =
            (0..30).map(|i| ([8.0 + (i % 5) as f32, 0.0], if i % 3 == 0 { 1 } else { 0 })).collect();
        for (i, (logits, truth)) in rows.iter().enumerate() {
            tally.add_val(i, *truth, logits, || format!("{i}.jpg"));
        }
        let report = tally.report(1, None, None);
        let calibration = report.calibration.expect("validation images, some wrong");
        assert_eq!(calibration.fit, TemperatureFit::Likelihood);
        assert!(calibration.temperature > 1.0, "{}", calibration.temperature);
        let (logits, labels): (Vec<f32>, Vec<usize>) =
            (rows.iter().flat_map(|(l, _)| *l).collect(), rows.iter().map(|(_, t)| *t).collect());
        assert!(mean_nll(&logits, 2, &labels, calibration.temperature.into()) < mean_nll(&logits, 2, &labels, 1.0));
        assert!(calibration.after.ece < calibration.before.ece);
        let first = &report.misclassified[0];
        assert_eq!((first.name.as_str(), first.truth, first.predicted), ("0.jpg", 1, 0));
        let calibrated = tempered_softmax(&rows[0].0, calibration.temperature)[0];
        assert!((first.confidence - calibrated).abs() < 1e-6 && calibrated < 0.99);
        let confidences = top_probabilities(&logits, 2, calibration.temperature);
        assert_eq!(report.unknown_below, unknown_threshold(&confidences, KNOWN_KEPT));
        assert_eq!(report.val_outcomes.len(), 30);
        assert_eq!(report.val_outcomes.iter().filter(|(_, right)| *right).count(), 20);
    }
}
