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

/// The gradient with respect to the input of a depthwise convolution without bias or activation
/// (training's, where BatchNorm follows), given the output's gradient `grad` `[batch, c, oh, ow]`
/// and `weight` `[c, 1, k, k]`: each output's gradient goes back to the inputs its taps read,
/// accumulated in the padded, phased plane the forward pass reads, so that every tap's run is
/// contiguous whatever the stride.
///
/// # Panics
/// When the kernel is not one [`supports`] takes.
pub fn depthwise_backward_input(grad: &[f32], weight: &[f32], g: &ConvGeometry) -> Vec<f32> {
    match g.kernel {
        [3, 3] => backward_input_square::<3>(grad, weight, g),
        [5, 5] => backward_input_square::<5>(grad, weight, g),
        kernel => panic!("no depthwise backward pass for a {kernel:?} kernel"),
    }
}

/// The gradient with respect to the weight `[c, 1, k, k]` of the same convolution, given its
/// input `x` `[batch, c, h, w]` and the output's gradient: per plane, each tap's run of inputs
/// against the output gradient's row, then summed over the batch.
///
/// # Panics
/// When the kernel is not one [`supports`] takes.
pub fn depthwise_backward_weight(x: &[f32], grad: &[f32], g: &ConvGeometry) -> Vec<f32> {
    match g.kernel {
        [3, 3] => backward_weight_square::<3>(x, grad, g),
        [5, 5] => backward_weight_square::<5>(x, grad, g),
        kernel => panic!("no depthwise backward pass for a {kernel:?} kernel"),
    }
}

fn backward_input_square<const K: usize>(grad: &[f32], weight: &[f32], g: &ConvGeometry) -> Vec<f32> {
    let (out_h, out_w) = (g.out_height(), g.out_width());
    let (in_plane, out_plane) = (g.in_height * g.in_width, out_h * out_w);
    let layout = PaddedPlane::new(g);
    let mut input_grad = vec![0.0f32; g.batch * g.in_channels * in_plane];
    for_each_chunk(&mut input_grad, in_plane, |plane_index, target| {
        let channel = plane_index % g.in_channels;
        let filter: [[f32; K]; K] = array::from_fn(|ki| array::from_fn(|kj| weight[(channel * K + ki) * K + kj]));
        let mut padded = vec![0.0f32; layout.rows * layout.row_len];
        for (oh, grad_row) in grad[plane_index * out_plane..][..out_plane].chunks_exact(out_w).enumerate() {
            for (ki, taps) in filter.iter().enumerate() {
                let row = layout.row_mut(&mut padded, oh * g.stride[0] + ki);
                for (&tap, &start) in taps.iter().zip(&layout.taps) {
                    for (slot, &value) in row[start..][..out_w].iter_mut().zip(grad_row) {
                        *slot += tap * value;
                    }
                }
            }
        }
        layout.unpad(&padded, target);
    });
    input_grad
}

fn backward_weight_square<const K: usize>(x: &[f32], grad: &[f32], g: &ConvGeometry) -> Vec<f32> {
    let (out_h, out_w) = (g.out_height(), g.out_width());
    let (in_plane, out_plane) = (g.in_height * g.in_width, out_h * out_w);
    let layout = PaddedPlane::new(g);
    // Each plane's sums apart (the planes run in parallel), then added up over the batch.
    let mut per_plane = vec![0.0f32; g.batch * g.in_channels * K * K];
    for_each_chunk(&mut per_plane, K * K, |plane_index, sums| {
        let padded = layout.pad(&x[plane_index * in_plane..][..in_plane]);
        for (oh, grad_row) in grad[plane_index * out_plane..][..out_plane].chunks_exact(out_w).enumerate() {
            for ki in 0..K {
                let row = layout.row(&padded, oh * g.stride[0] + ki);
                for (kj, &start) in layout.taps.iter().enumerate() {
                    sums[ki * K + kj] += dot(&row[start..][..out_w], grad_row);
                }
            }
        }
    });
    let mut weight_grad = vec![0.0f32; g.in_channels * K * K];
    for (plane_index, sums) in per_plane.chunks_exact(K * K).enumerate() {
        let channel = plane_index % g.in_channels;
        for (total, sum) in weight_grad[channel * K * K..][..K * K].iter_mut().zip(sums) {
            *total += sum;
        }
    }
    weight_grad
}

/// `a · b` in eight independent lanes, which the compiler keeps in SIMD registers (one chain of
/// additions could not be reordered).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 8;
    let mut lanes = [0.0f32; LANES];
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = a_chunks.remainder().iter().zip(b_chunks.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for lane in 0..LANES {
            lanes[lane] += x[lane] * y[lane];
        }
    }
    lanes.iter().sum::<f32>() + tail
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

    fn row_mut<'a>(&self, padded: &'a mut [f32], index: usize) -> &'a mut [f32] {
        &mut padded[index * self.row_len..][..self.row_len]
    }

    /// The inverse of [`PaddedPlane::pad`]: the image's values of a padded, phased plane, written
    /// to `plane`; the padding's are dropped, and image rows below the padded rows stay as they are.
    fn unpad(&self, padded: &[f32], plane: &mut [f32]) {
        let image_rows = plane.chunks_exact_mut(self.in_width);
        for (source, row) in padded.chunks_exact(self.row_len).skip(self.pad_top).zip(image_rows) {
            for &(first, start) in &self.phases {
                let Some(columns) = row.get_mut(first..) else { continue };
                for (value, &slot) in columns.iter_mut().step_by(self.stride).zip(&source[start..]) {
                    *value = slot;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The geometries the tests take: strides 1 to 3, kernels 3 and 5, even and uneven padding.
    const CASES: [(usize, usize, [usize; 4]); 5] =
        [(1, 3, [1, 1, 1, 1]), (2, 3, [0, 0, 1, 1]), (2, 5, [2, 2, 2, 2]), (1, 5, [2, 2, 2, 2]), (3, 5, [2, 1, 0, 2])];

    fn geometry(stride: usize, kernel: usize, padding: [usize; 4]) -> ConvGeometry {
        ConvGeometry {
            batch: 2,
            in_channels: 3,
            in_height: 9,
            in_width: 8,
            out_channels: 3,
            kernel: [kernel, kernel],
            stride: [stride, stride],
            padding,
        }
    }

    /// The input position output (i, j)'s tap (ki, kj) reads, if inside the 9×8 image.
    fn tap_input(g: &ConvGeometry, i: usize, j: usize, ki: usize, kj: usize) -> Option<usize> {
        let ih = (i * g.stride[0] + ki).checked_sub(g.padding[0])?;
        let iw = (j * g.stride[1] + kj).checked_sub(g.padding[1])?;
        (ih < g.in_height && iw < g.in_width).then_some(ih * g.in_width + iw)
    }

    #[test]
    fn backward_passes_match_the_definition() {
        for (stride, kernel, padding) in CASES {
            let g = geometry(stride, kernel, padding);
            let (oh, ow) = (g.out_height(), g.out_width());
            let x: Vec<f32> = (0..2 * 3 * 9 * 8).map(|i| ((i * 37 % 23) as f32 - 11.0) / 7.0).collect();
            let w: Vec<f32> = (0..3 * kernel * kernel).map(|i| ((i * 17 % 13) as f32 - 6.0) / 5.0).collect();
            let grad: Vec<f32> = (0..2 * 3 * oh * ow).map(|i| ((i * 29 % 11) as f32 - 5.0) / 3.0).collect();
            let (mut input_grad, mut weight_grad) = (vec![0.0f32; x.len()], vec![0.0f32; w.len()]);
            for (index, &gv) in grad.iter().enumerate() {
                let (plane, i, j) = (index / (oh * ow), index / ow % oh, index % ow);
                let c = plane % 3;
                for ki in 0..kernel {
                    for kj in 0..kernel {
                        if let Some(at) = tap_input(&g, i, j, ki, kj) {
                            input_grad[plane * 72 + at] += gv * w[(c * kernel + ki) * kernel + kj];
                            weight_grad[(c * kernel + ki) * kernel + kj] += gv * x[plane * 72 + at];
                        }
                    }
                }
            }
            let ours = depthwise_backward_input(&grad, &w, &g);
            for (index, (a, b)) in ours.iter().zip(&input_grad).enumerate() {
                assert!((a - b).abs() < 1e-4, "input, stride {stride} kernel {kernel} at {index}: {a} against {b}");
            }
            let ours = depthwise_backward_weight(&x, &grad, &g);
            for (index, (a, b)) in ours.iter().zip(&weight_grad).enumerate() {
                assert!((a - b).abs() < 1e-3, "weight, stride {stride} kernel {kernel} at {index}: {a} against {b}");
            }
        }
    }

    #[test]
    fn matches_the_definition_with_and_without_padding_and_stride_and_a_residual() {
        for (stride, kernel, padding) in CASES {
            let g = geometry(stride, kernel, padding);
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
                        if let Some(at) = tap_input(&g, i, j, ki, kj) {
                            sum += w[(c * kernel + ki) * kernel + kj] * x[plane * 72 + at];
                        }
                    }
                }
                assert!((value - sum.clamp(0.0, 6.0)).abs() < 1e-5, "stride {stride} kernel {kernel} at {index}");
            }
        }
    }
}
