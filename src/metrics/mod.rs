//! Accuracy, per-class accuracy and the confusion matrix, from predicted and true classes; the
//! score under which an image is called unlike every class; and how well probabilities are
//! calibrated ([`calibration`]).

mod calibration;

pub use calibration::{
    CALIBRATION_BINS, Reliability, ReliabilityBin, TemperatureFit, fit_temperature, mean_nll, top_probabilities,
};
use serde::Serialize;

/// Index of the largest value (the predicted class of a row of logits).
pub fn argmax(values: &[f32]) -> usize {
    values.iter().enumerate().fold((0, f32::NEG_INFINITY), |best, (i, &v)| if v > best.1 { (i, v) } else { best }).0
}

/// Probabilities from logits, computed stably.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    tempered_softmax(logits, 1.0)
}

/// Probabilities from `logits / temperature` (a calibrated model's, see [`fit_temperature`]).
pub fn tempered_softmax(logits: &[f32], temperature: f32) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|v| ((v - max) / temperature).exp()).collect();
    let total: f32 = exps.iter().sum();
    exps.iter().map(|e| e / total).collect()
}

/// Share of known images an "unknown" threshold keeps: the usual operating point of
/// out-of-distribution detection (its false-positive rate is quoted at 95 % true positives).
pub const KNOWN_KEPT: f64 = 0.95;

/// The top-class probability (maximum-softmax score) under which an image is called unlike every
/// class: the largest value that keeps at least `keep` of `confidences`, the scores of images of
/// known classes (validation images), at or above it. `None` without scores.
pub fn unknown_threshold(confidences: &[f32], keep: f64) -> Option<f32> {
    let mut sorted: Vec<f32> = confidences.iter().copied().filter(|c| c.is_finite()).collect();
    sorted.sort_by(f32::total_cmp);
    let dropped = ((1.0 - keep) * sorted.len() as f64).floor() as usize;
    sorted.get(dropped.min(sorted.len().saturating_sub(1))).copied()
}

/// `counts[true_class][predicted_class]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfusionMatrix {
    pub counts: Vec<Vec<u32>>,
}

impl ConfusionMatrix {
    pub fn new(classes: usize) -> Self {
        Self { counts: vec![vec![0; classes]; classes] }
    }

    pub fn add(&mut self, truth: usize, predicted: usize) {
        self.counts[truth][predicted] += 1;
    }

    pub fn total(&self) -> u32 {
        self.counts.iter().flatten().sum()
    }

    /// Share of correct predictions; `None` before any prediction.
    pub fn accuracy(&self) -> Option<f32> {
        let correct: u32 = (0..self.counts.len()).map(|c| self.counts[c][c]).sum();
        let total = self.total();
        (total > 0).then(|| correct as f32 / total as f32)
    }

    /// Recall of each class; `None` for a class with no examples.
    pub fn per_class_accuracy(&self) -> Vec<Option<f32>> {
        self.counts
            .iter()
            .enumerate()
            .map(|(c, row)| {
                let total: u32 = row.iter().sum();
                (total > 0).then(|| row[c] as f32 / total as f32)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_and_recall_per_class() {
        let mut matrix = ConfusionMatrix::new(3);
        for (truth, predicted) in [(0, 0), (0, 1), (1, 1), (1, 1), (0, 0)] {
            matrix.add(truth, predicted);
        }
        assert_eq!(matrix.accuracy(), Some(0.8));
        assert_eq!(matrix.per_class_accuracy(), vec![Some(2.0 / 3.0), Some(1.0), None]);
        assert_eq!(ConfusionMatrix::new(2).accuracy(), None);
    }

    #[test]
    fn argmax_and_softmax() {
        assert_eq!(argmax(&[0.1, 3.0, -1.0]), 1);
        let p = softmax(&[1000.0, 1000.0]);
        assert!((p[0] - 0.5).abs() < 1e-6 && (p[1] - 0.5).abs() < 1e-6);
    }

    /// With 20 known scores, 95 % kept drops the lowest one: the threshold is the second lowest,
    /// and every score at or above it is kept.
    #[test]
    fn the_unknown_threshold_keeps_95_percent_of_known_images() {
        let scores: Vec<f32> = (0..20).rev().map(|i| 0.5 + i as f32 / 40.0).collect();
        let threshold = unknown_threshold(&scores, KNOWN_KEPT).unwrap();
        assert_eq!(threshold, 0.525);
        assert_eq!(scores.iter().filter(|&&s| s >= threshold).count(), 19);
        assert_eq!(unknown_threshold(&[0.9], KNOWN_KEPT), Some(0.9));
        assert_eq!(unknown_threshold(&[], KNOWN_KEPT), None);
    }
}
