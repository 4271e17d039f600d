//! Probabilities that mean what they say: temperature scaling (Guo et al., 2017) fitted on the
//! validation split, and the expected calibration error (ECE) with its reliability diagram.
//!
//! A softmax over `logits / T` keeps every prediction and changes only how sure it is: one
//! parameter, fitted by minimising the negative log-likelihood of the validation labels.

use serde::Serialize;

use super::{argmax, tempered_softmax};

/// Equal-width confidence bins of the reliability diagram and the ECE (the usual 15).
pub const CALIBRATION_BINS: usize = 15;

/// The range of `1 / T` searched: temperatures from 0.05 to 20.
const INVERSE_TEMPERATURES: (f64, f64) = (0.05, 20.0);

/// Mean negative log-likelihood of `labels` under a softmax of `logits / temperature`, rows of
/// `classes` logits, one per label.
pub fn mean_nll(logits: &[f32], classes: usize, labels: &[usize], temperature: f64) -> f64 {
    let inverse = 1.0 / temperature;
    let total: f64 = logits
        .chunks_exact(classes)
        .zip(labels)
        .map(|(row, &label)| {
            let scaled = row.iter().map(|&z| f64::from(z) * inverse);
            let max = scaled.clone().fold(f64::NEG_INFINITY, f64::max);
            let log_sum = max + scaled.map(|z| (z - max).exp()).sum::<f64>().ln();
            log_sum - f64::from(row[label]) * inverse
        })
        .sum();
    total / labels.len().max(1) as f64
}

/// How a temperature was chosen ([`fit_temperature`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TemperatureFit {
    /// The one that minimises [`mean_nll`] (temperature scaling proper).
    Likelihood,
    /// Every row was predicted right, so the likelihood grows without bound as `T` falls: the one
    /// whose mean top-class probability is `(n + 1) / (n + 2)` (Laplace's rule of succession), the
    /// accuracy `n` right answers out of `n` vouch for.
    AllRight,
}

/// The temperature for labelled rows of `classes` logits, and how it was chosen; `None` without
/// rows. Temperatures are searched from 0.05 to 20.
pub fn fit_temperature(logits: &[f32], classes: usize, labels: &[usize]) -> Option<(f32, TemperatureFit)> {
    if labels.is_empty() {
        return None;
    }
    let all_right = logits.chunks_exact(classes).zip(labels).all(|(row, &label)| argmax(row) == label);
    if all_right {
        let rows = labels.len() as f64;
        let vouched = (rows + 1.0) / (rows + 2.0);
        let mean_confidence = |inverse: f64| {
            let tops = top_probabilities(logits, classes, (1.0 / inverse) as f32);
            tops.into_iter().map(f64::from).sum::<f64>() / rows
        };
        // The mean confidence rises with 1 / T: bisect for the vouched one.
        let (mut low, mut high) = INVERSE_TEMPERATURES;
        while high - low > 1e-6 * high {
            let middle = (low + high) / 2.0;
            if mean_confidence(middle) < vouched { low = middle } else { high = middle }
        }
        return Some(((2.0 / (low + high)) as f32, TemperatureFit::AllRight));
    }
    // The likelihood is concave in 1 / T: a golden-section search over 1 / T finds its optimum.
    let nll = |inverse: f64| mean_nll(logits, classes, labels, 1.0 / inverse);
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let (mut low, mut high) = INVERSE_TEMPERATURES;
    let mut left = high - ratio * (high - low);
    let mut right = low + ratio * (high - low);
    let (mut left_nll, mut right_nll) = (nll(left), nll(right));
    while high - low > 1e-6 * high {
        if left_nll < right_nll {
            high = right;
            (right, right_nll) = (left, left_nll);
            left = high - ratio * (high - low);
            left_nll = nll(left);
        } else {
            low = left;
            (left, left_nll) = (right, right_nll);
            right = low + ratio * (high - low);
            right_nll = nll(right);
        }
    }
    Some(((2.0 / (low + high)) as f32, TemperatureFit::Likelihood))
}

/// The top-class probability of each row of `classes` logits, at `temperature`.
pub fn top_probabilities(logits: &[f32], classes: usize, temperature: f32) -> Vec<f32> {
    logits.chunks_exact(classes).map(|row| tempered_softmax(row, temperature).into_iter().fold(0.0, f32::max)).collect()
}

/// One bin of a reliability diagram: the predictions whose top-class probability falls in it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ReliabilityBin {
    pub count: u32,
    /// Mean top-class probability of the bin's predictions (0 when empty).
    pub confidence: f32,
    /// Share of them that are right (0 when empty).
    pub accuracy: f32,
}

/// How far predicted probabilities are from observed accuracy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reliability {
    /// Expected calibration error: the bins' |accuracy − confidence|, weighted by their share of
    /// the predictions.
    pub ece: f32,
    /// [`CALIBRATION_BINS`] equal-width bins over (0, 1]; bin `i` holds confidences in
    /// `(i / 15, (i + 1) / 15]`.
    pub bins: Vec<ReliabilityBin>,
}

impl Reliability {
    /// From each prediction's top-class probability and whether it was right.
    pub fn new(confidences: &[f32], correct: &[bool]) -> Self {
        let mut sums = vec![(0u32, 0f64, 0u32); CALIBRATION_BINS];
        for (&confidence, &right) in confidences.iter().zip(correct) {
            let bin =
                ((f64::from(confidence) * CALIBRATION_BINS as f64).ceil() as usize).clamp(1, CALIBRATION_BINS) - 1;
            let (count, confidence_sum, right_count) = &mut sums[bin];
            *count += 1;
            *confidence_sum += f64::from(confidence);
            *right_count += u32::from(right);
        }
        let total = confidences.len().min(correct.len()).max(1) as f64;
        let bins: Vec<ReliabilityBin> = sums
            .into_iter()
            .map(|(count, confidence_sum, right)| match count {
                0 => ReliabilityBin { count, confidence: 0.0, accuracy: 0.0 },
                _ => ReliabilityBin {
                    count,
                    confidence: (confidence_sum / f64::from(count)) as f32,
                    accuracy: right as f32 / count as f32,
                },
            })
            .collect();
        let ece = bins
            .iter()
            .map(|bin| f64::from(bin.count) / total * f64::from((bin.accuracy - bin.confidence).abs()))
            .sum::<f64>();
        Self { ece: ece as f32, bins }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::softmax;

    /// Rows drawn from a known temperature: logits `z` whose labels follow softmax(z / 2). The
    /// fit, given `z`, finds a temperature near 2; and the likelihood is lowest there.
    #[test]
    fn the_fitted_temperature_recovers_the_one_the_labels_were_drawn_from() {
        let mut state = 7u64;
        let mut uniform = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let classes = 3;
        let (mut logits, mut labels) = (Vec::new(), Vec::new());
        for _ in 0..4000 {
            let row: Vec<f32> = (0..classes).map(|_| (uniform() * 12.0 - 6.0) as f32).collect();
            let probabilities = softmax(&row.iter().map(|z| z / 2.0).collect::<Vec<_>>());
            let draw = uniform() as f32;
            let mut cumulative = 0.0;
            let label = probabilities.iter().position(|p| {
                cumulative += p;
                draw < cumulative
            });
            labels.push(label.unwrap_or(classes - 1));
            logits.extend(row);
        }
        let (temperature, fit) = fit_temperature(&logits, classes, &labels).unwrap();
        assert_eq!(fit, TemperatureFit::Likelihood);
        assert!((temperature - 2.0).abs() < 0.15, "{temperature}");
        let best = mean_nll(&logits, classes, &labels, f64::from(temperature));
        for other in [1.0, 1.5, 2.5, 4.0] {
            assert!(best < mean_nll(&logits, classes, &labels, other), "T = {other}");
        }
    }

    /// With every row right, the temperature brings the mean confidence to (n + 1) / (n + 2):
    /// softer for logits surer than that, sharper for less sure ones.
    #[test]
    fn all_right_rows_are_as_sure_as_their_count_vouches() {
        assert_eq!(fit_temperature(&[], 2, &[]), None);
        let labels = [0, 1, 0, 1, 0, 1, 0, 1];
        let vouched = 9.0 / 10.0;
        for scale in [0.5f32, 20.0] {
            let logits: Vec<f32> =
                labels.iter().flat_map(|&l| if l == 0 { [scale, 0.0] } else { [0.0, scale] }).collect();
            let (temperature, fit) = fit_temperature(&logits, 2, &labels).unwrap();
            assert_eq!(fit, TemperatureFit::AllRight);
            let confidence = tempered_softmax(&[scale, 0.0], temperature)[0];
            assert!((confidence - vouched).abs() < 1e-4, "scale {scale}: {confidence}");
            assert_eq!(temperature > 1.0, scale == 20.0, "scale {scale}: T = {temperature}");
        }
        assert_eq!(fit_temperature(&[2.0, 0.0, 0.0, 3.0], 2, &[1, 1]).unwrap().1, TemperatureFit::Likelihood);
    }

    /// Four predictions at 0.9 of which two are right, two at 0.5 both right: ECE = 4/6 · 0.4 +
    /// 2/6 · 0.5; the two groups land in bins 13 and 7 (from 0).
    #[test]
    fn the_calibration_error_weighs_each_bins_gap() {
        let reliability = Reliability::new(&[0.9, 0.9, 0.9, 0.9, 0.5, 0.5], &[true, true, false, false, true, true]);
        assert!((reliability.ece - (4.0 / 6.0 * 0.4 + 2.0 / 6.0 * 0.5)).abs() < 1e-6, "{}", reliability.ece);
        assert_eq!(reliability.bins.len(), CALIBRATION_BINS);
        assert_eq!(reliability.bins[13], ReliabilityBin { count: 4, confidence: 0.9, accuracy: 0.5 });
        assert_eq!(reliability.bins[7], ReliabilityBin { count: 2, confidence: 0.5, accuracy: 1.0 });
        assert_eq!(reliability.bins.iter().map(|bin| bin.count).sum::<u32>(), 6);
    }
}
