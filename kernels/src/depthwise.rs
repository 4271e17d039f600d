//! The fused depthwise convolution (one filter per channel, as in MobileNetV2's and
//! EfficientNet's blocks): `act(conv(x, w) + bias + residual)`. Each input plane is zero-padded
//! once, its rows split into stride phases so that the inputs of a kernel column for consecutive
//! outputs are contiguous; then every output value takes all its taps in one pass, the row's
//! values side by side in SIMD lanes, and the bias, residual and activation on the way. With the
//! kernel's size a constant, the taps unroll into registers: each output is loaded and stored
//! once instead of once per tap (in the browser the depthwise convolutions took 16 % of
//! MobileNetV2's time, a third of what its matrix products took, for 3 % of its arithmetic).

use std::array;

use super::conv::{Activation, ConvGeometry, activate, for_each_chunk, start_plane};

/// Whether [`depthwise_fused`] takes a `kernel`: 3×3 or 5×5, the mobile networks' (each size is
/// its own unrolled code, so others run Burn's grouped convolution instead).
pub fn supports(kernel: [usize; 2]) -> bool {
    kernel == [3, 3] || kernel == [5, 5]
}

/// `x` `[batch, c, h, w]`, `weight` `[c, 1, k, k]`, `bias` `[c]`, `residual` the output's shape.
///
/// # Panics
/// When the kernel is not one [`supports`] takes.
pub fn depthwise_fused(
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    residual: Option<&[f32]>,
    g: &ConvGeometry,
    activation: Activation,
) -> Vec<f32> {
    match g.kernel {
        [3, 3] => depthwise_square::<3>(x, weight, bias, residual, g, activation),
        [5, 5] => depthwise_square::<5>(x, weight, bias, residual, g, activation),
        kernel => panic!("no fused depthwise convolution for a {kernel:?} kernel"),
    }
}

fn depthwise_square<const K: usize>(
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    residual: Option<&[f32]>,
    g: &ConvGeometry,
    activation: Activation,
) -> Vec<f32> {
    let (out_h, out_w) = (g.out_height(), g.out_width());
    let (in_plane, out_plane) = (g.in_height * g.in_width, out_h * out_w);
    let layout = PaddedPlane::new(g);
    let mut output = vec![0.0f32; g.batch * g.in_channels * out_plane];
    for_each_chunk(&mut output, out_plane, |plane_index, out| {
        let channel = plane_index % g.in_channels;
        let padded = layout.pad(&x[plane_index * in_plane..][..in_plane]);
        let residual = residual.map(|r| &r[plane_index * out_plane..][..out_plane]);
        let filter: [[f32; K]; K] = array::from_fn(|ki| array::from_fn(|kj| weight[(channel * K + ki) * K + kj]));
        for (oh, out_row) in out.chunks_exact_mut(out_w).enumerate() {
            start_plane(out_row, bias[channel], residual.map(|r| &r[oh * out_w..][..out_w]));
            // The inputs of tap (ki, kj) for this row's outputs, each exactly `out_w` long.
            let runs: [[&[f32]; K]; K] = array::from_fn(|ki| {
                let row = layout.row(&padded, oh * g.stride[0] + ki);
                array::from_fn(|kj| &row[layout.taps[kj]..][..out_w])
            });
            for (j, value) in out_row.iter_mut().enumerate() {
                // One partial sum per kernel row: K short chains of additions run side by side
                // instead of one long chain.
                let partial: [f32; K] = array::from_fn(|ki| {
                    filter[ki].iter().zip(&runs[ki]).fold(0.0, |sum, (tap, input)| sum + tap * input[j])
                });
                *value += partial.iter().sum::<f32>();
            }
            activate(out_row, activation);
        }
    });
    output
}

/// Where a zero-padded input plane keeps its values: `rows` rows (the padding's included), each
/// split into `stride` phases of `phase_len` values (every stride-th padded column), so that
/// element `i` of kernel column `kj`'s run is padded column `i·stride + kj`. Every offset is
/// worked out once per convolution: divisions by a runtime stride cost more than the arithmetic.
struct PaddedPlane {
    /// Values per padded row: `stride · phase_len`.
    row_len: usize,
    /// Per phase: the first image column that falls in it, and where that column is stored.
    phases: Vec<(usize, usize)>,
    /// Per kernel column: where its run of inputs starts in a row.
    taps: Vec<usize>,
    stride: usize,
    pad_top: usize,
    rows: usize,
    in_width: usize,
}

impl PaddedPlane {
    fn new(g: &ConvGeometry) -> Self {
        let (stride, pad_left) = (g.stride[1], g.padding[1]);
        let phase_len = (pad_left + g.in_width + g.padding[3]).div_ceil(stride);
        let phases = (0..stride)
            .map(|phase| {
                let first = (phase + stride - pad_left % stride) % stride;
                (first, phase * phase_len + (first + pad_left) / stride)
            })
            .collect();
        let taps = (0..g.kernel[1]).map(|kj| kj % stride * phase_len + kj / stride).collect();
        // Every row the last output row's taps reach, padding or not.
        let rows = (g.out_height() - 1) * g.stride[0] + g.kernel[0];
        Self { row_len: stride * phase_len, phases, taps, stride, pad_top: g.padding[0], rows, in_width: g.in_width }
    }

    /// The plane, padded and phased; rows outside the image (and below it) stay zero.
    fn pad(&self, plane: &[f32]) -> Vec<f32> {
        let mut padded = vec![0.0f32; self.rows * self.row_len];
        let image_rows = plane.chunks_exact(self.in_width);
        for (target, row) in padded.chunks_exact_mut(self.row_len).skip(self.pad_top).zip(image_rows) {
            for &(first, start) in &self.phases {
                let Some(columns) = row.get(first..) else { continue };
                if self.stride == 1 {
                    target[start..][..columns.len()].copy_from_slice(columns);
                    continue;
                }
                for (slot, &value) in target[start..].iter_mut().zip(columns.iter().step_by(self.stride)) {
                    *slot = value;
                }
            }
        }
        padded
    }

    /// Padded row `index` (image row `index − pad_top`).
    fn row<'a>(&self, padded: &'a [f32], index: usize) -> &'a [f32] {
        &padded[index * self.row_len..][..self.row_len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_definition_with_and_without_padding_and_stride_and_a_residual() {
        for (stride, kernel, padding) in [
            (1, 3, [1, 1, 1, 1]),
            (2, 3, [0, 0, 1, 1]),
            (2, 5, [2, 2, 2, 2]),
            (1, 5, [2, 2, 2, 2]),
            (3, 5, [2, 1, 0, 2]),
        ] {
            let g = ConvGeometry {
                batch: 2,
                in_channels: 3,
                in_height: 9,
                in_width: 8,
                out_channels: 3,
                kernel: [kernel, kernel],
                stride: [stride, stride],
                padding,
            };
            let x: Vec<f32> = (0..2 * 3 * 9 * 8).map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0).collect();
            let w: Vec<f32> = (0..3 * kernel * kernel).map(|i| ((i * 17 % 13) as f32 - 6.0) / 5.0).collect();
            let bias = [0.5, -0.25, 0.1];
            let (oh, ow) = (g.out_height(), g.out_width());
            let residual: Vec<f32> = (0..2 * 3 * oh * ow).map(|i| ((i * 29 % 11) as f32 - 5.0) / 3.0).collect();
            let ours = depthwise_fused(&x, &w, &bias, Some(&residual), &g, Activation::Relu6);
            for (index, value) in ours.iter().enumerate() {
                let (plane, i, j) = (index / (oh * ow), index / ow % oh, index % ow);
                let c = plane % 3;
                let mut sum = bias[c] + residual[index];
                for ki in 0..kernel {
                    for kj in 0..kernel {
                        let (ih, iw) = (
                            (i * stride + ki) as isize - padding[0] as isize,
                            (j * stride + kj) as isize - padding[1] as isize,
                        );
                        if ih >= 0 && iw >= 0 && (ih as usize) < 9 && (iw as usize) < 8 {
                            sum += w[(c * kernel + ki) * kernel + kj] * x[plane * 72 + ih as usize * 8 + iw as usize];
                        }
                    }
                }
                assert!((value - sum.clamp(0.0, 6.0)).abs() < 1e-5, "stride {stride} kernel {kernel} at {index}");
            }
        }
    }
}
