//! Labels that are likely wrong, and the classes most confused, from out-of-fold predicted
//! probabilities: each image judged by a classifier that never saw it.

use serde::Serialize;

/// An image whose given label the out-of-fold predictions doubt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelIssue {
    /// Dataset index.
    pub index: usize,
    pub given: usize,
    /// The class the predictions are confident it belongs to.
    pub suggested: usize,
    /// The out-of-fold probability of the given label (lower: more likely wrong).
    pub given_probability: f32,
}

/// Two classes the out-of-fold predictions mix up.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Confusion {
    pub classes: [usize; 2],
    /// Images of either class predicted as the other.
    pub mistakes: usize,
    /// `mistakes` over the images of the two classes.
    pub share: f32,
}

/// Positions (in `labels`' order) whose label confident learning (Northcutt et al., 2021, the
/// `confident_learning` filter of cleanlab's `find_label_issues`) calls wrong, with the class
/// suggested, lowest probability of the given label first. Class `j`'s threshold is the mean
/// probability of `j` over the images labelled `j`; an image counts towards the class with the
/// highest probability among those at or above their threshold, and is flagged when that class
/// is not its label.
///
/// # Shapes
/// `probabilities`: `[labels.len(), classes]`, rows summing to 1.
pub(super) fn label_issues(probabilities: &[f32], labels: &[usize], classes: usize) -> Vec<(usize, usize)> {
    let rows = || probabilities.chunks_exact(classes);
    let mut sums = vec![0.0f64; classes];
    let mut counts = vec![0usize; classes];
    for (row, &label) in rows().zip(labels) {
        sums[label] += f64::from(row[label]);
        counts[label] += 1;
    }
    let thresholds: Vec<f32> = sums
        .iter()
        .zip(&counts)
        .map(|(&sum, &count)| if count > 0 { (sum / count as f64) as f32 } else { 1.0 })
        .collect();
    let mut flagged: Vec<(usize, usize)> = rows()
        .zip(labels)
        .enumerate()
        .filter_map(|(position, (row, &label))| {
            let confident = (0..classes)
                .filter(|&j| counts[j] > 0 && row[j] >= thresholds[j])
                .max_by(|&a, &b| row[a].total_cmp(&row[b]))?;
            (confident != label).then_some((position, confident))
        })
        .collect();
    flagged.sort_by(|a, b| {
        probabilities[a.0 * classes + labels[a.0]].total_cmp(&probabilities[b.0 * classes + labels[b.0]])
    });
    flagged
}

/// Pairs of classes by how often the predictions mix them up (both directions over the pair's
/// images), most confused first; pairs never confused are left out.
pub(super) fn confusions(predicted: &[usize], labels: &[usize], classes: usize) -> Vec<Confusion> {
    let mut counts = vec![vec![0usize; classes]; classes];
    let mut sizes = vec![0usize; classes];
    for (&p, &label) in predicted.iter().zip(labels) {
        counts[label][p] += 1;
        sizes[label] += 1;
    }
    let mut pairs: Vec<Confusion> = (0..classes)
        .flat_map(|a| (a + 1..classes).map(move |b| (a, b)))
        .filter_map(|(a, b)| {
            let mistakes = counts[a][b] + counts[b][a];
            (mistakes > 0).then(|| Confusion {
                classes: [a, b],
                mistakes,
                share: mistakes as f32 / (sizes[a] + sizes[b]) as f32,
            })
        })
        .collect();
    pairs.sort_by(|x, y| y.share.total_cmp(&x.share));
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three classes; two images carry a label their probabilities contradict, one is merely
    /// unsure (it meets no other class's threshold) and is not flagged.
    #[test]
    fn confident_learning_flags_images_confidently_of_another_class() {
        let rows: [([f32; 3], usize); 8] = [
            ([0.9, 0.05, 0.05], 0),
            ([0.8, 0.1, 0.1], 0),
            ([0.1, 0.85, 0.05], 1),
            ([0.05, 0.9, 0.05], 1),
            ([0.1, 0.1, 0.8], 2),
            ([0.85, 0.1, 0.05], 1), // labelled 1, clearly a 0
            ([0.1, 0.05, 0.85], 0), // labelled 0, clearly a 2
            ([0.45, 0.4, 0.15], 0), // unsure: below class 0's threshold and class 1's
        ];
        let probabilities: Vec<f32> = rows.iter().flat_map(|(p, _)| *p).collect();
        let labels: Vec<usize> = rows.iter().map(|(_, l)| *l).collect();
        let flagged = label_issues(&probabilities, &labels, 3);
        // Lowest probability of the given label first: 0.05 (row 5), then 0.1 (row 6).
        assert_eq!(flagged, vec![(5, 0), (6, 2)]);
    }

    #[test]
    fn the_most_confused_pair_comes_first() {
        let labels = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2];
        let predicted = [0, 1, 1, 0, 0, 1, 1, 1, 2, 0];
        let pairs = confusions(&predicted, &labels, 3);
        assert_eq!(pairs[0], Confusion { classes: [0, 1], mistakes: 3, share: 3.0 / 8.0 });
        assert_eq!(pairs[1], Confusion { classes: [0, 2], mistakes: 1, share: 1.0 / 6.0 });
        assert_eq!(pairs.len(), 2);
    }
}
