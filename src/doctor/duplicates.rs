//! Near-duplicates: pairs of images whose features point the same way, within and across the
//! split, and what a duplicate across it did to the validation accuracy.

use serde::Serialize;

/// Cosine similarity of features at or above which two images are near-duplicates. On
/// hymenoptera (MobileNetV2) a copy resized to 75 % and re-encoded scores 0.90 or more, two
/// different photos at most 0.89 (`examples/bench_doctor.rs` prints both): a narrow margin, so
/// the list is for the user to look through, not to act on blindly.
pub const DUPLICATE_SIMILARITY: f32 = 0.9;
/// At or above this, the two images are the same picture (equal pixels give equal features, up
/// to rounding).
pub const IDENTICAL_SIMILARITY: f32 = 0.9999;

/// Two images that look the same to the backbone.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Duplicate {
    /// Dataset indices.
    pub first: usize,
    pub second: usize,
    pub similarity: f32,
    /// The same picture (see [`IDENTICAL_SIMILARITY`]), not merely alike.
    pub identical: bool,
    /// One is a training image, the other a validation image: the model is tested on what it
    /// trained on.
    pub across_split: bool,
}

/// Pairs `(i, j, similarity)` with `i` in `rows` (global positions `first..`) and `j > i` among
/// all `count` positions, from a block of similarities (`[rows.len(), count]`, row-major).
pub(super) fn similar_pairs(block: &[f32], first: usize, count: usize) -> Vec<(usize, usize, f32)> {
    block
        .chunks_exact(count)
        .enumerate()
        .flat_map(|(row, similarities)| {
            let i = first + row;
            similarities[i + 1..]
                .iter()
                .enumerate()
                .filter(|(_, s)| **s >= DUPLICATE_SIMILARITY)
                .map(move |(offset, &s)| (i, i + 1 + offset, s))
        })
        .collect()
}

/// What validation images with a duplicate in training did to the accuracy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeakEffect {
    /// Validation images with a near-duplicate among the training images.
    pub leaked: usize,
    pub validation_images: usize,
    pub accuracy: f32,
    /// The accuracy on the other validation images; `None` when every one leaked.
    pub accuracy_without_leaked: Option<f32>,
}

/// The effect of the `leaked` validation images (dataset indices) given the last evaluation's
/// `outcomes` (dataset index, right or wrong); `None` without outcomes.
pub fn leak_effect(leaked: &[usize], outcomes: &[(usize, bool)]) -> Option<LeakEffect> {
    if outcomes.is_empty() {
        return None;
    }
    let share = |kept: &dyn Fn(usize) -> bool| {
        let judged: Vec<bool> = outcomes.iter().filter(|(i, _)| kept(*i)).map(|&(_, right)| right).collect();
        (!judged.is_empty()).then(|| judged.iter().filter(|&&right| right).count() as f32 / judged.len() as f32)
    };
    Some(LeakEffect {
        leaked: outcomes.iter().filter(|(i, _)| leaked.contains(i)).count(),
        validation_images: outcomes.len(),
        accuracy: share(&|_| true)?,
        accuracy_without_leaked: share(&|i| !leaked.contains(&i)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_above_the_threshold_are_found_once() {
        // Four images; the block holds rows 1 and 2 of the similarity matrix.
        let block = [
            0.2, 1.0, 0.95, 0.1, // row 1: alike 2 (0.95); 0 is before it, itself is 1.0
            0.3, 0.95, 1.0, 0.91, // row 2: alike 3
        ];
        assert_eq!(similar_pairs(&block, 1, 4), vec![(1, 2, 0.95), (2, 3, 0.91)]);
    }

    #[test]
    fn a_leak_inflates_the_accuracy_by_the_leaked_images_being_right() {
        let outcomes = [(10, true), (11, true), (12, false), (13, true), (14, false)];
        let effect = leak_effect(&[10, 11, 99], &outcomes).expect("outcomes");
        assert_eq!(effect.leaked, 2);
        assert_eq!(effect.validation_images, 5);
        assert!((effect.accuracy - 0.6).abs() < 1e-6);
        assert!((effect.accuracy_without_leaked.unwrap() - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(leak_effect(&[10], &[]), None);
        assert_eq!(leak_effect(&[10], &[(10, true)]).unwrap().accuracy_without_leaked, None);
    }
}
