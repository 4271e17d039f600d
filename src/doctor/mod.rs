//! The dataset doctor: what may be wrong with the user's images, read from the backbone features
//! a run extracted — near-duplicates within and across the split ([`duplicates`]), labels that
//! are likely wrong and the classes most confused ([`labels`]: confident learning on the
//! out-of-fold predictions of a cross-validated logistic regression), and images unlike the rest
//! of their class ([`outliers`]). A [`DataCheck`] advances one step at a time (a block of
//! similarities, a cross-validation fit) so that the worker reports progress between them. It
//! only reports: removing an image is the user's choice.

mod duplicates;
mod labels;
mod outliers;

pub use duplicates::{DUPLICATE_SIMILARITY, Duplicate, IDENTICAL_SIMILARITY, LeakEffect, leak_effect};
pub use labels::{Confusion, LabelIssue};
pub use outliers::{OUTLIER_SCORE, Outlier};

use burn::tensor::{Device, Tensor, TensorData};
use serde::Serialize;

use crate::backend::read_back;
use crate::data::Split;
use crate::error::{Error, Result};
use crate::metrics::{argmax, softmax};
use crate::train::{CrossValidation, Design, LinearModel, score_columns};

/// At most this many entries of each list are reported (the counts say how many were found).
pub const LISTED: usize = 200;
/// Similarities read back per step: the block of rows compared with every image.
const SIMILARITIES_PER_STEP: usize = 1 << 22;
/// The most multiply-adds one pass of the logistic regression may take (images × score columns ×
/// feature width) for the labels to be judged: 45 fits of a few hundred passes each must stay
/// within a minute or two in the tab (10,000 images of two classes at 1280 features is 12.8 M).
const MAX_FIT_PASS: usize = 16_000_000;

/// The images to check: their dataset indices, classes, split and backbone features.
#[derive(Debug, Clone)]
pub struct FeatureTable {
    pub indices: Vec<usize>,
    pub labels: Vec<usize>,
    /// Whether each image is a validation image.
    pub validation: Vec<bool>,
    pub classes: usize,
    pub width: usize,
    /// `[indices.len(), width]`, row-major.
    pub values: Vec<f32>,
}

impl FeatureTable {
    /// The split's images (training, then validation) whose `features` are known.
    pub fn new<'a>(split: &Split, width: usize, features: impl Fn(usize) -> Option<&'a [f32]>) -> Self {
        let mut table = Self {
            indices: Vec::new(),
            labels: Vec::new(),
            validation: Vec::new(),
            classes: split.classes.len(),
            width,
            values: Vec::new(),
        };
        let images =
            split.train.iter().map(|&image| (image, false)).chain(split.val.iter().map(|&image| (image, true)));
        for ((index, label), validation) in images {
            if let Some(row) = features(index).filter(|row| row.len() == width) {
                table.indices.push(index);
                table.labels.push(label);
                table.validation.push(validation);
                table.values.extend_from_slice(row);
            }
        }
        table
    }

    fn len(&self) -> usize {
        self.indices.len()
    }

    fn design(&self) -> Design<'_> {
        Design::new(self.values.chunks_exact(self.width).collect(), self.labels.clone(), self.classes)
    }

    /// The rows scaled to unit length: cosine similarities are their dot products.
    pub fn unit_rows(&self) -> Vec<f32> {
        let mut unit = self.values.clone();
        for row in unit.chunks_exact_mut(self.width) {
            let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
            row.iter_mut().for_each(|x| *x /= norm);
        }
        unit
    }
}

/// How a check is going; `diagnosis` is set by the step that completes it.
#[derive(Debug, Clone, Serialize)]
pub struct CheckProgress {
    pub steps_done: usize,
    pub steps_total: usize,
    pub diagnosis: Option<Diagnosis>,
}

/// What the check found. Indices are dataset indices; classes are indices into the run's classes.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnosis {
    pub images: usize,
    /// Most similar first, at most [`LISTED`].
    pub duplicates: Vec<Duplicate>,
    pub duplicates_found: usize,
    /// Validation images with a near-duplicate among the training images.
    pub leaked: Vec<usize>,
    /// Lowest probability of the given label first, at most [`LISTED`]; empty when the labels
    /// were not judged ([`Diagnosis::labels_not_judged`]).
    pub label_issues: Vec<LabelIssue>,
    pub label_issues_found: usize,
    /// Most unusual first, at most [`LISTED`].
    pub outliers: Vec<Outlier>,
    pub outliers_found: usize,
    /// Most confused pair first.
    pub confusions: Vec<Confusion>,
    /// The cross-validated classifier the labels were judged by: its `C` and held-out accuracy.
    pub out_of_fold: Option<OutOfFoldSummary>,
    /// Why the labels were not judged, when they were not.
    pub labels_not_judged: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OutOfFoldSummary {
    pub c: f64,
    pub accuracy: f32,
    pub folds: usize,
}

/// A check in progress: similarity blocks first, then the cross-validation fits.
pub struct DataCheck {
    table: FeatureTable,
    unit: Vec<f32>,
    /// `unit` on the device, transposed: `[width, images]`.
    unit_t: Tensor<2>,
    device: Device,
    next_row: usize,
    pairs: Vec<(usize, usize, f32)>,
    /// `None` when the labels are not judged ([`Diagnosis::labels_not_judged`] says why).
    cross_validation: Option<CrossValidation>,
    labels_not_judged: Option<String>,
    steps_done: usize,
}

impl DataCheck {
    /// Plans a check of `table` (at least two images); similarities are computed on `device`.
    pub fn new(table: FeatureTable, device: &Device) -> Result<Self> {
        if table.len() < 2 || table.width == 0 || table.values.len() != table.len() * table.width {
            return Err(Error::InvalidInput(format!(
                "a data check needs the features of at least 2 images, got {} values for {} images",
                table.values.len(),
                table.len()
            )));
        }
        let unit = table.unit_rows();
        let unit_t =
            Tensor::<2>::from_data(TensorData::new(unit.clone(), [table.len(), table.width]), device).transpose();
        let pass = table.len() * score_columns(table.classes) * table.width;
        let (cross_validation, labels_not_judged) = if pass > MAX_FIT_PASS {
            let why = format!(
                "{} images in {} classes are more than this check cross-validates in the tab (it judges labels up to about \
                 10,000 images of two classes, or 1,000 of ten)",
                table.len(),
                table.classes
            );
            (None, Some(why))
        } else {
            let cross_validation = CrossValidation::keeping_held_out(LinearModel::LogisticRegression, &table.design());
            if cross_validation.cross_validation_steps() > 0 {
                (Some(cross_validation), None)
            } else {
                (None, Some("a class has fewer than 2 images, too few to cross-validate".to_string()))
            }
        };
        Ok(Self {
            table,
            unit,
            unit_t,
            device: device.clone(),
            next_row: 0,
            pairs: Vec::new(),
            cross_validation,
            labels_not_judged,
            steps_done: 0,
        })
    }

    fn rows_per_block(&self) -> usize {
        (SIMILARITIES_PER_STEP / self.table.len()).clamp(1, self.table.len())
    }

    pub fn steps_total(&self) -> usize {
        let blocks = self.table.len().div_ceil(self.rows_per_block());
        blocks + self.cross_validation.as_ref().map_or(0, CrossValidation::cross_validation_steps) + 1
    }

    /// Does the next step; the last one returns the diagnosis.
    pub async fn step(&mut self) -> Result<CheckProgress> {
        let n = self.table.len();
        let cross_validation_left = self.cross_validation.as_ref().is_some_and(|cv| !cv.cross_validated());
        let mut diagnosis = None;
        if self.next_row < n {
            let (first, end) = (self.next_row, (self.next_row + self.rows_per_block()).min(n));
            let width = self.table.width;
            let block = Tensor::<2>::from_data(
                TensorData::new(self.unit[first * width..end * width].to_vec(), [end - first, width]),
                &self.device,
            );
            let similarities = read_back(block.matmul(self.unit_t.clone())).await?;
            self.pairs.extend(duplicates::similar_pairs(&similarities, first, n));
            self.next_row = end;
        } else if cross_validation_left {
            let design = self.table.design();
            if let Some(cross_validation) = self.cross_validation.as_mut() {
                cross_validation.step(&design);
            }
        } else {
            diagnosis = Some(self.diagnose());
        }
        self.steps_done += 1;
        Ok(CheckProgress { steps_done: self.steps_done, steps_total: self.steps_total(), diagnosis })
    }

    fn diagnose(&self) -> Diagnosis {
        let table = &self.table;
        let classes = table.classes;
        let mut pairs = self.pairs.clone();
        pairs.sort_by(|a, b| b.2.total_cmp(&a.2));
        let mut duplicates: Vec<Duplicate> = pairs
            .iter()
            .map(|&(i, j, similarity)| Duplicate {
                first: table.indices[i],
                second: table.indices[j],
                similarity,
                identical: similarity >= IDENTICAL_SIMILARITY,
                across_split: table.validation[i] != table.validation[j],
            })
            .collect();
        let mut leaked: Vec<usize> = pairs
            .iter()
            .filter(|&&(i, j, _)| table.validation[i] != table.validation[j])
            .map(|&(i, j, _)| if table.validation[i] { table.indices[i] } else { table.indices[j] })
            .collect();
        leaked.sort_unstable();
        leaked.dedup();
        let out_of_fold = self.cross_validation.as_ref().and_then(CrossValidation::out_of_fold);
        let (mut label_issues, confusions): (Vec<LabelIssue>, _) = match &out_of_fold {
            Some(fold) => {
                let probabilities: Vec<f32> = fold.logits.chunks_exact(classes).flat_map(softmax).collect();
                let predicted: Vec<usize> = fold.logits.chunks_exact(classes).map(argmax).collect();
                let issues = labels::label_issues(&probabilities, &table.labels, classes)
                    .into_iter()
                    .map(|(p, suggested)| LabelIssue {
                        index: table.indices[p],
                        given: table.labels[p],
                        suggested,
                        given_probability: probabilities[p * classes + table.labels[p]],
                    })
                    .collect();
                (issues, labels::confusions(&predicted, &table.labels, classes))
            }
            None => (Vec::new(), Vec::new()),
        };
        let mut outliers: Vec<Outlier> = outliers::outliers(&self.unit, table.width, &table.labels, classes)
            .into_iter()
            .map(|(p, distance, score)| Outlier { index: table.indices[p], class: table.labels[p], distance, score })
            .collect();
        let found = [duplicates.len(), label_issues.len(), outliers.len()];
        duplicates.truncate(LISTED);
        label_issues.truncate(LISTED);
        outliers.truncate(LISTED);
        Diagnosis {
            images: table.len(),
            duplicates,
            duplicates_found: found[0],
            leaked,
            label_issues,
            label_issues_found: found[1],
            outliers,
            outliers_found: found[2],
            confusions,
            out_of_fold: out_of_fold.map(|fold| OutOfFoldSummary {
                c: fold.c,
                accuracy: fold.cv_accuracy,
                folds: self.cross_validation.as_ref().map_or(0, CrossValidation::folds),
            }),
            labels_not_judged: self.labels_not_judged.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_lite::future::block_on;

    use super::*;

    /// Two classes of 12 images each around two directions in 32 dimensions, with three faults planted: image 3
    /// repeated as image 24 (a validation image, so the copy leaks), image 4 of class 0 labelled
    /// 1, and image 7 pointing somewhere else entirely.
    fn planted() -> FeatureTable {
        let width = 32;
        let mut state = 7u64;
        let mut noise = move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 33) as f32 / (1u64 << 31) as f32 - 0.5) * 3.0
        };
        let mut values = Vec::new();
        let mut labels = Vec::new();
        for i in 0..24 {
            let class = i % 2;
            let row: Vec<f32> = (0..width)
                .map(|j| {
                    let signal = if i == 7 {
                        f32::from(u8::from(j == 31)) * 8.0
                    } else if j % 2 == class {
                        2.0
                    } else {
                        0.0
                    };
                    signal + noise()
                })
                .collect();
            values.extend(row);
            labels.push(if i == 4 { 1 } else { class });
        }
        values.extend_from_within(3 * width..4 * width);
        labels.push(1);
        let mut validation = vec![false; 25];
        validation[24] = true;
        FeatureTable { indices: (100..125).collect(), labels, validation, classes: 2, width, values }
    }

    async fn run(check: &mut DataCheck) -> Diagnosis {
        for _ in 0..check.steps_total() {
            if let Some(diagnosis) = check.step().await.expect("step").diagnosis {
                return diagnosis;
            }
        }
        panic!("no diagnosis after {} steps", check.steps_total());
    }

    #[test]
    fn the_planted_faults_are_found() {
        let device = Device::flex();
        let mut check = DataCheck::new(planted(), &device).expect("a check");
        // One similarity block, 5 folds × the C grid, the diagnosis.
        assert_eq!(check.steps_total(), 1 + 5 * crate::train::C_GRID.len() + 1);
        let diagnosis = block_on(run(&mut check));
        assert_eq!(diagnosis.images, 25);
        let first = &diagnosis.duplicates[0];
        assert_eq!((first.first, first.second, first.identical, first.across_split), (103, 124, true, true));
        assert_eq!(diagnosis.leaked, vec![124]);
        assert!(diagnosis.label_issues.iter().any(|issue| issue.index == 104 && issue.suggested == 0), "{diagnosis:?}");
        assert_eq!(diagnosis.duplicates_found, 1, "{diagnosis:?}");
        // The mislabelled image is also unlike the class it is filed under.
        let outliers: Vec<usize> = diagnosis.outliers.iter().map(|o| o.index).collect();
        assert!(outliers.contains(&107) && outliers.len() <= 2, "{outliers:?}");
        assert_eq!(diagnosis.confusions.first().map(|c| c.classes), Some([0, 1]));
    }

    /// Beyond the work the tab can afford the labels are not judged, and the diagnosis says so.
    #[test]
    fn too_many_classes_leave_the_labels_unjudged() {
        let mut table = planted();
        table.classes = MAX_FIT_PASS / (table.len() * table.width) + 1;
        let mut check = DataCheck::new(table, &Device::flex()).expect("a check");
        assert_eq!(check.steps_total(), 2, "one similarity block and the diagnosis");
        let diagnosis = block_on(run(&mut check));
        assert!(diagnosis.out_of_fold.is_none() && diagnosis.label_issues.is_empty());
        assert!(diagnosis.labels_not_judged.as_deref().is_some_and(|why| why.contains("more than this check")));
        assert_eq!(diagnosis.duplicates_found, 1);
    }

    #[test]
    fn too_few_images_are_refused() {
        let mut table = planted();
        table.indices.truncate(1);
        assert!(DataCheck::new(table, &Device::flex()).is_err());
    }
}
