//! Pillow's 8-bit resampling passes (`ImagingResampleHorizontal_8bpc` and `…Vertical_8bpc`) on
//! interleaved RGB pixels, with fixed-point weights the caller computes: the work of the
//! transforms' `Resize`.

/// Fractional bits of the fixed-point weights (Pillow's `PRECISION_BITS`).
pub const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Rounding offset of the fixed-point sums.
const HALF: i32 = 1 << (PRECISION_BITS - 1);

/// For each output pixel along one axis: the first input pixel it reads and its weights.
pub type Coefficients = [(usize, Vec<i32>)];

fn clip8(sum: i32) -> u8 {
    (sum >> PRECISION_BITS).clamp(0, 255) as u8
}

/// Every row of an RGB `image` `width` pixels wide resampled to `coefficients.len()` pixels, each
/// output pixel a weighted sum of adjacent input pixels (slices rather than per-pixel access,
/// whose bounds checks cost more than the sums).
pub fn horizontal_pass(image: &[u8], width: usize, coefficients: &Coefficients) -> Vec<u8> {
    let (in_row, out_row) = (width * 3, coefficients.len() * 3);
    let rows = image.len() / in_row.max(1);
    let mut out = vec![0u8; out_row * rows];
    for (source, target) in image.chunks_exact(in_row).zip(out.chunks_exact_mut(out_row)) {
        for ((start, weights), pixel) in coefficients.iter().zip(target.chunks_exact_mut(3)) {
            let mut sums = [HALF; 3];
            for (tap, w) in source[start * 3..].chunks_exact(3).zip(weights) {
                for c in 0..3 {
                    sums[c] += i32::from(tap[c]) * w;
                }
            }
            pixel.copy_from_slice(&sums.map(clip8));
        }
    }
    out
}

/// Every column of an RGB `image` `width` pixels wide resampled to `coefficients.len()` rows:
/// each output row is a weighted sum of whole input rows, which vectorises.
pub fn vertical_pass(image: &[u8], width: usize, coefficients: &Coefficients) -> Vec<u8> {
    let row = width * 3;
    let mut out = vec![0u8; row * coefficients.len()];
    let mut sums = vec![0i32; row];
    for ((start, weights), target) in coefficients.iter().zip(out.chunks_exact_mut(row)) {
        sums.fill(HALF);
        for (k, &w) in weights.iter().enumerate() {
            let input = &image[(start + k) * row..(start + k + 1) * row];
            for (sum, &value) in sums.iter_mut().zip(input) {
                *sum += i32::from(value) * w;
            }
        }
        for (value, &sum) in target.iter_mut().zip(&sums) {
            *value = clip8(sum);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Weights that sum to one in fixed point: a pixel copied, two averaged with rounding.
    #[test]
    fn weights_in_fixed_point_copy_and_average_with_rounding() {
        let one = 1 << PRECISION_BITS;
        let copy_and_average: &Coefficients = &[(0, vec![one]), (1, vec![one / 2, one / 2])];
        let row = [10, 20, 30, 11, 21, 31, 12, 22, 32];
        assert_eq!(horizontal_pass(&row, 3, copy_and_average), [10, 20, 30, 12, 22, 32]);
        let column = [10, 20, 30, 11, 21, 31, 12, 22, 32];
        assert_eq!(vertical_pass(&column, 1, copy_and_average), [10, 20, 30, 12, 22, 32]);
    }
}
