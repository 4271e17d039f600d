//! Images unlike the rest of their class: far, in cosine distance, from the class's centre.

use serde::Serialize;

/// A robust z-score above this marks an outlier (Iglewicz and Hoaglin's cut-off for the
/// modified z-score).
pub const OUTLIER_SCORE: f32 = 3.5;
/// Classes with fewer images than this have no reliable centre and are not judged.
const MIN_CLASS_SIZE: usize = 5;

/// An image far from its class's centre.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outlier {
    /// Dataset index.
    pub index: usize,
    pub class: usize,
    /// Cosine distance from the class's centre.
    pub distance: f32,
    /// How unusual the distance is within the class: `(distance − median) / (1.4826 · MAD)`.
    pub score: f32,
}

/// Positions with their distance and score, most unusual first, among `unit_rows` (unit-length
/// features, rows of `width`) labelled `labels`.
pub(super) fn outliers(unit_rows: &[f32], width: usize, labels: &[usize], classes: usize) -> Vec<(usize, f32, f32)> {
    let mut found = Vec::new();
    for class in 0..classes {
        let members: Vec<usize> = (0..labels.len()).filter(|&p| labels[p] == class).collect();
        if members.len() < MIN_CLASS_SIZE {
            continue;
        }
        let mut centre = vec![0.0f32; width];
        for &p in &members {
            centre.iter_mut().zip(&unit_rows[p * width..(p + 1) * width]).for_each(|(c, x)| *c += x);
        }
        let norm = centre.iter().map(|c| c * c).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
        let distances: Vec<f32> = members
            .iter()
            .map(|&p| {
                let row = &unit_rows[p * width..(p + 1) * width];
                1.0 - row.iter().zip(&centre).map(|(x, c)| x * c).sum::<f32>() / norm
            })
            .collect();
        let middle = median(&distances);
        let spread = 1.4826 * median(&distances.iter().map(|d| (d - middle).abs()).collect::<Vec<_>>());
        if spread <= f32::EPSILON {
            continue;
        }
        for (&p, &distance) in members.iter().zip(&distances) {
            let score = (distance - middle) / spread;
            if score > OUTLIER_SCORE {
                found.push((p, distance, score));
            }
        }
    }
    found.sort_by(|a, b| b.2.total_cmp(&a.2));
    found
}

fn median(values: &[f32]) -> f32 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f32::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len().is_multiple_of(2) { (sorted[middle - 1] + sorted[middle]) / 2.0 } else { sorted[middle] }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: [f32; 3]) -> [f32; 3] {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.map(|x| x / n)
    }

    /// Class 0 clusters around the x axis with one image along z; class 1 around y. Only the
    /// stray image is flagged; the small class 2 is not judged.
    #[test]
    fn the_image_pointing_elsewhere_is_the_outlier() {
        let mut rows = Vec::new();
        let mut labels = Vec::new();
        for i in 0..8 {
            rows.extend(unit([1.0, 0.05 * i as f32, 0.02 * (i % 3) as f32]));
            labels.push(0);
            rows.extend(unit([0.03 * (i % 4) as f32, 1.0, 0.04 * i as f32]));
            labels.push(1);
        }
        rows.extend(unit([0.1, 0.0, 1.0]));
        labels.push(0);
        rows.extend(unit([0.0, 0.0, 1.0]));
        labels.push(2);
        let found = outliers(&rows, 3, &labels, 3);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, 16);
        assert!(found[0].1 > 0.5 && found[0].2 > OUTLIER_SCORE);
    }
}
