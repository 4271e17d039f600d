//! Classifiers fitted to convergence on cached backbone features — the seed lesson's alternative
//! to training a head by gradient steps: logistic regression and a linear SVM (squared hinge,
//! one-vs-rest), as scikit-learn's `LogisticRegression` (lbfgs) and `LinearSVC` define them, on
//! standardised features, with the L2 strength `C` chosen by cross-validation on the training
//! split. The result is an ordinary linear head on the raw features, so a fitted classifier
//! predicts, exports and continues training like a trained head.

use serde::{Deserialize, Serialize};

use super::lbfgs::{LbfgsSettings, minimize};
use crate::metrics::mean_nll;

/// Which classifier is fitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinearModel {
    /// Cross-entropy: binary for two classes, multinomial otherwise. The intercept is not
    /// penalised, as in scikit-learn's `LogisticRegression`.
    LogisticRegression,
    /// Squared hinge, one binary problem per class (one in all for two classes). The intercept is
    /// penalised like a weight, as `LinearSVC`'s `intercept_scaling=1` does.
    LinearSvm,
}

/// The L2 strengths tried, 1e-4 … 1e4 (the range of scikit-learn's `LogisticRegressionCV`): `C`
/// weighs the data term against `½‖w‖²`.
pub const C_GRID: [f64; 9] = [1e-4, 1e-3, 1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3, 1e4];
/// Cross-validation folds, fewer when a class has fewer training images.
pub const FOLDS: usize = 5;

/// How `C` was chosen and how the final fit went, for the epoch report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FitSummary {
    pub model: LinearModel,
    pub c: f64,
    /// Held-out accuracy of `c` over all folds; `None` without cross-validation (a class with a
    /// single training image), when `C` is 1.
    pub cv_accuracy: Option<f32>,
    pub folds: usize,
    /// L-BFGS iterations of the final fit (the largest over its problems).
    pub iterations: usize,
    pub converged: bool,
}

/// The training features: rows of the cached features as extracted, with their standardisation
/// (scikit-learn's `StandardScaler`: the population deviation, 1 where it is 0), which is folded
/// into the weights rather than applied to a copy of the features.
pub(crate) struct Design<'a> {
    rows: Vec<&'a [f32]>,
    labels: Vec<usize>,
    classes: usize,
    mean: Vec<f64>,
    inv_scale: Vec<f64>,
}

/// Score columns of a fit on `classes` classes: one for two (positive: the second), one per class
/// otherwise.
pub(crate) fn score_columns(classes: usize) -> usize {
    if classes == 2 { 1 } else { classes }
}

/// Per score column, weights and intercept on the raw features (f64: rounding them to f32 would
/// leave the minimiser a staircase near the optimum).
type RawWeights = Vec<(Vec<f64>, f64)>;

impl<'a> Design<'a> {
    /// # Shapes
    /// `rows`: n rows of equal width; `labels`: n class indices below `classes` (at least 2).
    pub fn new(rows: Vec<&'a [f32]>, labels: Vec<usize>, classes: usize) -> Self {
        let width = rows.first().map_or(0, |row| row.len());
        let n = rows.len().max(1) as f64;
        let mut mean = vec![0.0; width];
        for row in &rows {
            mean.iter_mut().zip(*row).for_each(|(m, &x)| *m += f64::from(x));
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut variance = vec![0.0; width];
        for row in &rows {
            variance.iter_mut().zip(*row).zip(&mean).for_each(|((v, &x), m)| *v += (f64::from(x) - m).powi(2));
        }
        let inv_scale = variance.iter().map(|v| if *v > 0.0 { (n / v).sqrt() } else { 1.0 }).collect();
        Self { rows, labels, classes, mean, inv_scale }
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn labels(&self) -> &[usize] {
        &self.labels
    }

    fn width(&self) -> usize {
        self.mean.len()
    }

    fn outputs(&self) -> usize {
        score_columns(self.classes)
    }

    /// What standardised `params` (`[w…, b]` per score column) amount to on the raw features.
    fn raw_weights(&self, params: &[f64]) -> RawWeights {
        params
            .chunks(self.width() + 1)
            .map(|chunk| {
                let (w, b) = chunk.split_at(self.width());
                let raw: Vec<f64> = w.iter().zip(&self.inv_scale).map(|(w, s)| w * s).collect();
                let intercept = b[0] - raw.iter().zip(&self.mean).map(|(w, m)| w * m).sum::<f64>();
                (raw, intercept)
            })
            .collect()
    }

    /// Scores `[positions.len() × columns]`.
    fn scores(&self, raw: &RawWeights, positions: &[usize]) -> Vec<f64> {
        positions.iter().flat_map(|&p| raw.iter().map(move |(w, b)| dot(self.rows[p], w) + b)).collect()
    }

    /// Writes the gradient with respect to standardised parameters of `Σ g[i][k] · score[i][k]`
    /// over `positions` into `gradient`.
    fn backpropagate(&self, g: &[f64], positions: &[usize], columns: usize, gradient: &mut [f64]) {
        let width = self.width();
        let mut raw = vec![0.0f64; width];
        for k in 0..columns {
            raw.iter_mut().for_each(|r| *r = 0.0);
            let mut intercept = 0.0;
            for (row, &p) in positions.iter().enumerate() {
                let gk = g[row * columns + k];
                if gk != 0.0 {
                    raw.iter_mut().zip(self.rows[p]).for_each(|(r, &x)| *r += gk * f64::from(x));
                    intercept += gk;
                }
            }
            let out = &mut gradient[k * (width + 1)..(k + 1) * (width + 1)];
            for j in 0..width {
                out[j] = self.inv_scale[j] * (raw[j] - self.mean[j] * intercept);
            }
            out[width] = intercept;
        }
    }

    /// Class logits from one row's scores: `[-s/2, s/2]` for a binary score, so that the softmax
    /// is the logistic probability and the argmax the sign.
    fn logits(scores: &[f64]) -> Vec<f64> {
        match scores {
            [score] => vec![-score / 2.0, score / 2.0],
            _ => scores.to_vec(),
        }
    }
}

/// `Σ a_i b_i` in four lanes (so that it vectorises).
fn dot(a: &[f32], b: &[f64]) -> f64 {
    let mut lanes = [0.0f64; 4];
    for (x, y) in a.chunks_exact(4).zip(b.chunks_exact(4)) {
        for lane in 0..4 {
            lanes[lane] += f64::from(x[lane]) * y[lane];
        }
    }
    let tail = a.len() - a.len() % 4;
    let rest: f64 = a[tail..].iter().zip(&b[tail..]).map(|(x, y)| f64::from(*x) * y).sum();
    lanes.iter().sum::<f64>() + rest
}

fn argmax(values: &[f64]) -> usize {
    values.iter().enumerate().fold(0, |best, (i, v)| if *v > values[best] { i } else { best })
}

/// `ln(1 + e^t)` without overflow.
fn softplus(t: f64) -> f64 {
    if t > 0.0 { t + (-t).exp().ln_1p() } else { t.exp().ln_1p() }
}

/// `1 / (1 + e^-t)` without overflow.
fn sigmoid(t: f64) -> f64 {
    if t >= 0.0 { 1.0 / (1.0 + (-t).exp()) } else { t.exp() / (1.0 + t.exp()) }
}

/// Adds `λ/2 ‖w‖²` (and the intercepts' squares when `intercepts`) to `value` and its gradient.
fn add_penalty(params: &[f64], gradient: &mut [f64], width: usize, intercepts: bool, lambda: f64) -> f64 {
    let mut penalty = 0.0;
    for (j, (p, g)) in params.iter().zip(gradient.iter_mut()).enumerate() {
        if intercepts || j % (width + 1) != width {
            penalty += p * p;
            *g += lambda * p;
        }
    }
    lambda / 2.0 * penalty
}

/// `(1/n) Σ loss(yᵢ sᵢ) + ‖·‖²/(2Cn)` of one binary problem with targets ±1, scikit-learn's
/// objective divided by `Cn` (same minimum, gradients of a size the tolerance suits).
fn binary_objective(
    model: LinearModel,
    design: &Design,
    positions: &[usize],
    targets: &[f64],
    c: f64,
    params: &[f64],
    gradient: &mut [f64],
) -> f64 {
    let n = positions.len() as f64;
    let scores = design.scores(&design.raw_weights(params), positions);
    let mut loss = 0.0;
    let g: Vec<f64> = scores
        .iter()
        .zip(targets)
        .map(|(s, y)| {
            let margin = y * s;
            match model {
                LinearModel::LogisticRegression => {
                    loss += softplus(-margin);
                    -y * sigmoid(-margin) / n
                }
                LinearModel::LinearSvm => {
                    let violation = (1.0 - margin).max(0.0);
                    loss += violation * violation;
                    -2.0 * y * violation / n
                }
            }
        })
        .collect();
    design.backpropagate(&g, positions, 1, gradient);
    let intercepts = model == LinearModel::LinearSvm;
    loss / n + add_penalty(params, gradient, design.width(), intercepts, 1.0 / (c * n))
}

/// The multinomial logistic objective, scaled as [`binary_objective`].
fn softmax_objective(design: &Design, positions: &[usize], c: f64, params: &[f64], gradient: &mut [f64]) -> f64 {
    let n = positions.len() as f64;
    let columns = design.outputs();
    let mut g = design.scores(&design.raw_weights(params), positions);
    let mut loss = 0.0;
    for (row, &p) in g.chunks_mut(columns).zip(positions) {
        let max = row.iter().fold(f64::NEG_INFINITY, |m, &s| m.max(s));
        let sum: f64 = row.iter().map(|s| (s - max).exp()).sum();
        let truth = design.labels[p];
        loss += max + sum.ln() - row[truth];
        for (k, s) in row.iter_mut().enumerate() {
            *s = ((*s - max).exp() / sum - f64::from(u8::from(k == truth))) / n;
        }
    }
    design.backpropagate(&g, positions, columns, gradient);
    loss / n + add_penalty(params, gradient, design.width(), false, 1.0 / (c * n))
}

/// A fit's standardised parameters (`[w…, b]` per score column), its L-BFGS iterations (the most
/// over its problems) and whether every problem converged.
struct Fitted {
    params: Vec<f64>,
    iterations: usize,
    converged: bool,
}

/// Fits `model` with strength `c` on the examples at `positions`, from `start` (a warm start) or
/// from zero.
fn fit(model: LinearModel, design: &Design, positions: &[usize], c: f64, start: Option<&[f64]>) -> Fitted {
    let size = design.width() + 1;
    let columns = design.outputs();
    let mut params = start.map_or_else(|| vec![0.0; columns * size], <[f64]>::to_vec);
    if model == LinearModel::LogisticRegression && columns > 1 {
        let minimum = minimize(
            |params, gradient| softmax_objective(design, positions, c, params, gradient),
            params,
            LbfgsSettings::default(),
        );
        return Fitted { params: minimum.x, iterations: minimum.iterations, converged: minimum.converged };
    }
    // Binary problems: the positive class is the second of two, or each class against the rest.
    let mut fitted = Fitted { params: Vec::new(), iterations: 0, converged: true };
    for k in 0..columns {
        let positive = if columns == 1 { 1 } else { k };
        let targets: Vec<f64> =
            positions.iter().map(|&p| if design.labels[p] == positive { 1.0 } else { -1.0 }).collect();
        let minimum = minimize(
            |params, gradient| binary_objective(model, design, positions, &targets, c, params, gradient),
            params[k * size..(k + 1) * size].to_vec(),
            LbfgsSettings::default(),
        );
        params[k * size..(k + 1) * size].copy_from_slice(&minimum.x);
        fitted.iterations = fitted.iterations.max(minimum.iterations);
        fitted.converged &= minimum.converged;
    }
    fitted.params = params;
    fitted
}

/// The fitted classifier as a linear head on the raw features.
pub(crate) struct LinearHead {
    /// `[features, classes]`, row-major, as Burn's `Linear` stores its weight.
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    /// Logits of each training example, in the design's order.
    pub train_logits: Vec<Vec<f64>>,
    pub summary: FitSummary,
}

/// Cross-validation of `C` over [`C_GRID`], then the final fit on every training example: one
/// fit per [`CrossValidation::step`], so that the page reports progress and can cancel between
/// them. Folds are stratified: the r-th training example of a class (in the design's order) is in
/// fold `r mod folds`; each fold walks the grid upwards, warm-starting from the previous `C`.
pub(crate) struct CrossValidation {
    model: LinearModel,
    /// Each training example's fold; empty without cross-validation.
    fold_of: Vec<usize>,
    folds: usize,
    task: usize,
    warm: Option<Vec<f64>>,
    correct: [usize; C_GRID.len()],
    /// With [`CrossValidation::keeping_held_out`]: per `C`, each example's logits from the fit
    /// that held it out (rows of the classes, in the design's order).
    held_out_logits: Option<Vec<Vec<f32>>>,
    /// The design's labels, for judging the held-out logits.
    labels: Vec<usize>,
}

/// What the cross-validation predicted for examples it held out, at the `C` it chose: the
/// out-of-fold predictions a data check judges labels by.
pub(crate) struct OutOfFold {
    pub c: f64,
    pub cv_accuracy: f32,
    /// Rows of the classes, in the design's order.
    pub logits: Vec<f32>,
}

/// Each example's rank within its class, in order, and the number of folds the smallest class
/// allows (0: no cross-validation).
fn class_ranks(labels: impl Iterator<Item = usize>, classes: usize) -> (Vec<usize>, usize) {
    let mut seen = vec![0usize; classes];
    let ranks = labels
        .map(|label| {
            seen[label] += 1;
            seen[label] - 1
        })
        .collect();
    let folds = seen.iter().copied().min().unwrap_or(0).min(FOLDS);
    (ranks, if folds >= 2 { folds } else { 0 })
}

impl CrossValidation {
    pub fn new(model: LinearModel, design: &Design) -> Self {
        let (ranks, folds) = class_ranks(design.labels.iter().copied(), design.classes);
        let fold_of = if folds > 0 { ranks.iter().map(|r| r % folds).collect() } else { Vec::new() };
        Self {
            model,
            folds,
            fold_of,
            task: 0,
            warm: None,
            correct: [0; C_GRID.len()],
            held_out_logits: None,
            labels: Vec::new(),
        }
    }

    /// The same, keeping every held-out prediction for [`CrossValidation::out_of_fold`].
    pub fn keeping_held_out(model: LinearModel, design: &Design) -> Self {
        let mut cross_validation = Self::new(model, design);
        let row = design.len() * design.classes;
        cross_validation.held_out_logits = Some(vec![vec![0.0; row]; C_GRID.len()]);
        cross_validation.labels = design.labels.clone();
        cross_validation
    }

    pub fn folds(&self) -> usize {
        self.folds
    }

    /// The fits of the cross-validation itself, before the final one.
    pub fn cross_validation_steps(&self) -> usize {
        self.folds * C_GRID.len()
    }

    /// Whether every cross-validation fit is done (the final fit aside).
    pub fn cross_validated(&self) -> bool {
        self.task >= self.cross_validation_steps()
    }

    /// The held-out predictions at the `C` whose held-out probabilities are the most likely (the
    /// lowest mean negative log-likelihood: a data check reads probabilities, not only the
    /// argmax), once every cross-validation fit is done; `None` before, without
    /// cross-validation, or when not kept.
    pub fn out_of_fold(&self) -> Option<OutOfFold> {
        let kept = self.held_out_logits.as_ref()?;
        if self.folds == 0 || !self.cross_validated() {
            return None;
        }
        let labels = &self.labels;
        let classes = kept[0].len() / labels.len().max(1);
        let losses: Vec<f64> = kept.iter().map(|logits| -mean_nll(logits, classes, labels, 1.0)).collect();
        let best = argmax(&losses);
        let total = labels.len().max(1) as f32;
        Some(OutOfFold { c: C_GRID[best], cv_accuracy: self.correct[best] as f32 / total, logits: kept[best].clone() })
    }

    /// Fits in all for training examples with these labels: one per fold and `C`, and the final one.
    pub fn steps_for(labels: impl Iterator<Item = usize>, classes: usize) -> usize {
        class_ranks(labels, classes).1 * C_GRID.len() + 1
    }

    pub fn steps(&self) -> usize {
        self.folds * C_GRID.len() + 1
    }

    /// Does the next fit; the last one returns the classifier.
    pub fn step(&mut self, design: &Design) -> Option<LinearHead> {
        let cv_tasks = self.cross_validation_steps();
        if self.task < cv_tasks {
            let (fold, grid) = (self.task / C_GRID.len(), self.task % C_GRID.len());
            let (held_out, kept): (Vec<usize>, Vec<usize>) = (0..design.len()).partition(|&p| self.fold_of[p] == fold);
            let warm = if grid == 0 { None } else { self.warm.take() };
            let fitted = fit(self.model, design, &kept, C_GRID[grid], warm.as_deref());
            let raw = design.raw_weights(&fitted.params);
            let scores = design.scores(&raw, &held_out);
            let columns = raw.len();
            for (&p, score) in held_out.iter().zip(scores.chunks(columns)) {
                let logits = Design::logits(score);
                self.correct[grid] += usize::from(argmax(&logits) == design.labels[p]);
                if let Some(kept) = self.held_out_logits.as_mut() {
                    let row = &mut kept[grid][p * design.classes..(p + 1) * design.classes];
                    row.iter_mut().zip(&logits).for_each(|(out, &l)| *out = l as f32);
                }
            }
            self.warm = Some(fitted.params);
            self.task += 1;
            return None;
        }
        // The first best C: the strongest penalty among the ties.
        let (c, cv_accuracy) = if self.folds > 0 {
            let best = argmax(&self.correct.map(|c| c as f64));
            (C_GRID[best], Some(self.correct[best] as f32 / design.len() as f32))
        } else {
            (1.0, None)
        };
        let all: Vec<usize> = (0..design.len()).collect();
        let fitted = fit(self.model, design, &all, c, None);
        let raw = design.raw_weights(&fitted.params);
        let scores = design.scores(&raw, &all);
        let train_logits: Vec<Vec<f64>> = scores.chunks(raw.len()).map(Design::logits).collect();
        let classes = design.classes;
        let mut weight = vec![0.0f32; design.width() * classes];
        let mut bias = vec![0.0f32; classes];
        for (k, (w, b)) in raw.iter().enumerate() {
            for (j, &wj) in w.iter().enumerate() {
                if raw.len() == 1 {
                    weight[j * classes] = (-wj / 2.0) as f32;
                    weight[j * classes + 1] = (wj / 2.0) as f32;
                } else {
                    weight[j * classes + k] = wj as f32;
                }
            }
            if raw.len() == 1 {
                bias = vec![(-b / 2.0) as f32, (b / 2.0) as f32];
            } else {
                bias[k] = *b as f32;
            }
        }
        self.task += 1;
        let summary = FitSummary {
            model: self.model,
            c,
            cv_accuracy,
            folds: self.folds,
            iterations: fitted.iterations,
            converged: fitted.converged,
        };
        Some(LinearHead { weight, bias, train_logits, summary })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three classes around distinct centres in 16 dimensions, with noise, in scales that differ
    /// by 100× (so that standardisation matters).
    fn blobs(n: usize) -> (Vec<Vec<f32>>, Vec<usize>) {
        let mut state = 12345u64;
        let mut noise = move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 33) as f64 / (1u64 << 31) as f64 - 0.5) as f32
        };
        let labels: Vec<usize> = (0..n).map(|i| i % 3).collect();
        let rows = labels
            .iter()
            .map(|&label| {
                (0..16)
                    .map(|j| (noise() * 2.0 + if j % 3 == label { 1.0 } else { 0.0 }) * if j < 8 { 100.0 } else { 1.0 })
                    .collect()
            })
            .collect();
        (rows, labels)
    }

    fn run(model: LinearModel, rows: &[Vec<f32>], labels: &[usize], classes: usize) -> LinearHead {
        let design = Design::new(rows.iter().map(Vec::as_slice).collect(), labels.to_vec(), classes);
        let mut cv = CrossValidation::new(model, &design);
        assert_eq!(cv.steps(), FOLDS * C_GRID.len() + 1);
        for _ in 1..cv.steps() {
            assert!(cv.step(&design).is_none());
        }
        cv.step(&design).expect("the last step fits the classifier")
    }

    /// The logits of the head on raw `row`, as the trained model computes them.
    fn head_logits(head: &LinearHead, row: &[f32], classes: usize) -> Vec<f64> {
        (0..classes)
            .map(|k| {
                f64::from(head.bias[k])
                    + row.iter().enumerate().map(|(j, &x)| f64::from(x * head.weight[j * classes + k])).sum::<f64>()
            })
            .collect()
    }

    #[test]
    fn both_models_separate_noisy_blobs_and_their_head_reproduces_the_fit() {
        let (rows, labels) = blobs(150);
        for model in [LinearModel::LogisticRegression, LinearModel::LinearSvm] {
            let head = run(model, &rows, &labels, 3);
            assert!(head.summary.converged, "{model:?}: {:?}", head.summary);
            let accuracy = head.summary.cv_accuracy.expect("cross-validated");
            assert!(accuracy > 0.8, "{model:?}: {:?}", head.summary);
            for (row, logits) in rows.iter().zip(&head.train_logits) {
                let from_head = head_logits(&head, row, 3);
                for (a, b) in from_head.iter().zip(logits) {
                    assert!((a - b).abs() < 1e-3 * (1.0 + b.abs()), "{model:?}: {from_head:?} vs {logits:?}");
                }
            }
        }
    }

    #[test]
    fn the_optimum_has_zero_gradient_and_matches_the_closed_form_in_one_dimension() {
        // Logistic regression on 1-D data x = ±1 with labels equal to sign(x) on 3 of 4 points
        // per side: by symmetry the intercept is 0 and the weight solves
        // w/C = Σ yᵢxᵢ σ(-yᵢxᵢw) = 2·(3σ(-w) − σ(w)) (n = 8, data term summed).
        let rows: Vec<Vec<f32>> = [1.0f32, 1.0, 1.0, 1.0, -1.0, -1.0, -1.0, -1.0].iter().map(|&x| vec![x]).collect();
        let labels = vec![1, 1, 1, 0, 0, 0, 0, 1];
        let design = Design::new(rows.iter().map(Vec::as_slice).collect(), labels, 2);
        let all: Vec<usize> = (0..8).collect();
        let fitted = fit(LinearModel::LogisticRegression, &design, &all, 1.0, None);
        let (w, b) = (fitted.params[0], fitted.params[1]);
        assert!(b.abs() < 1e-6, "intercept {b}");
        let residual = w - 2.0 * (3.0 * sigmoid(-w) - sigmoid(w));
        assert!(residual.abs() < 1e-6, "w = {w}, residual {residual}");
    }

    /// The kept held-out logits are the fits' own: their accuracy is the one cross-validation
    /// counted for the chosen `C`.
    #[test]
    fn out_of_fold_logits_are_kept_for_the_likeliest_c() {
        let (rows, labels) = blobs(60);
        let design = Design::new(rows.iter().map(Vec::as_slice).collect(), labels.clone(), 3);
        let mut cv = CrossValidation::keeping_held_out(LinearModel::LogisticRegression, &design);
        for _ in 0..cv.cross_validation_steps() {
            assert!(cv.out_of_fold().is_none() && !cv.cross_validated());
            assert!(cv.step(&design).is_none());
        }
        let fold = cv.out_of_fold().expect("every fold fitted");
        assert!(C_GRID.contains(&fold.c));
        assert_eq!(fold.logits.len(), 60 * 3);
        let right =
            fold.logits.chunks(3).zip(&labels).filter(|(row, label)| crate::metrics::argmax(row) == **label).count();
        assert!((fold.cv_accuracy - right as f32 / 60.0).abs() < 1e-6, "{} vs {right}", fold.cv_accuracy);
        assert!(CrossValidation::new(LinearModel::LogisticRegression, &design).out_of_fold().is_none(), "not kept");
    }

    #[test]
    fn a_class_with_one_training_image_is_fitted_without_cross_validation() {
        let (mut rows, mut labels) = blobs(40);
        rows.truncate(4);
        labels.truncate(4);
        labels[3] = 0; // classes 0, 1, 2, 0: classes 1 and 2 have one image each
        let design = Design::new(rows.iter().map(Vec::as_slice).collect(), labels, 3);
        let mut cv = CrossValidation::new(LinearModel::LinearSvm, &design);
        assert_eq!(cv.steps(), 1);
        let head = cv.step(&design).expect("one fit");
        assert_eq!((head.summary.c, head.summary.cv_accuracy, head.summary.folds), (1.0, None, 0));
    }
}
