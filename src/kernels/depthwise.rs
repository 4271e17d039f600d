//! The fused depthwise convolution (one filter per channel, as in MobileNetV2's and
//! EfficientNet's blocks): `act(conv(x, w) + bias + residual)`, one output row at a time: the row
//! starts at the bias (and residual), every tap adds a contiguous run of a zero-padded input row
//! onto it while it sits in L1, and the activation is applied before the row is left. Strided
//! convolutions read their input rows split into phases, so that they too are contiguous runs
//! that vectorise.

use super::conv::{Activation, ConvGeometry, activate, for_each_chunk, start_plane};

/// `x` `[batch, c, h, w]`, `weight` `[c, 1, kh, kw]`, `bias` `[c]`, `residual` the output's shape.
pub fn depthwise_fused(
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    residual: Option<&[f32]>,
    g: &ConvGeometry,
    activation: Activation,
) -> Vec<f32> {
    let (out_h, out_w) = (g.out_height(), g.out_width());
    let [kernel_h, kernel_w] = g.kernel;
    let (in_plane, out_plane) = (g.in_height * g.in_width, out_h * out_w);
    let mut output = vec![0.0f32; g.batch * g.in_channels * out_plane];
    for_each_chunk(&mut output, out_plane, |plane_index, out| {
        let channel = plane_index % g.in_channels;
        let input = &x[plane_index * in_plane..][..in_plane];
        let residual = residual.map(|r| &r[plane_index * out_plane..][..out_plane]);
        let filter = &weight[channel * kernel_h * kernel_w..][..kernel_h * kernel_w];
        let mut row = PhasedRow::new(g);
        for (oh, out_row) in out.chunks_exact_mut(out_w).enumerate() {
            start_plane(out_row, bias[channel], residual.map(|r| &r[oh * out_w..][..out_w]));
            for (ki, taps) in filter.chunks_exact(kernel_w).enumerate() {
                let Some(ih) = (oh * g.stride[0] + ki).checked_sub(g.padding[0]).filter(|&ih| ih < g.in_height) else {
                    continue;
                };
                row.load(&input[ih * g.in_width..][..g.in_width]);
                for (kj, &tap) in taps.iter().enumerate() {
                    for (o, v) in out_row.iter_mut().zip(row.tap(kj)) {
                        *o += tap * v;
                    }
                }
            }
            activate(out_row, activation);
        }
    });
    output
}

/// One input row, zero-padded on both sides and split into `stride` phases (every stride-th
/// value), so that the inputs of kernel column `kj` for consecutive outputs are contiguous.
/// Every offset is worked out once per plane: divisions by a runtime stride cost more than the
/// row's arithmetic.
struct PhasedRow {
    values: Vec<f32>,
    stride: usize,
    /// Per phase: the first image column that falls in it, and where that column is stored.
    phases: Vec<(usize, usize)>,
    /// Per kernel column: where its run of inputs starts.
    taps: Vec<usize>,
    out_width: usize,
}

impl PhasedRow {
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
        // The padding stays zero: `load` writes only the image's columns.
        Self { values: vec![0.0; stride * phase_len], stride, phases, taps, out_width: g.out_width() }
    }

    fn load(&mut self, row: &[f32]) {
        for &(first, start) in &self.phases {
            let Some(columns) = row.get(first..) else { continue };
            if self.stride == 1 {
                self.values[start..][..columns.len()].copy_from_slice(columns);
                continue;
            }
            for (slot, &value) in self.values[start..].iter_mut().zip(columns.iter().step_by(self.stride)) {
                *slot = value;
            }
        }
    }

    /// The inputs of kernel column `kj`: element `i` is padded column `i·stride + kj`.
    fn tap(&self, kj: usize) -> &[f32] {
        &self.values[self.taps[kj]..][..self.out_width]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_definition_with_and_without_padding_and_stride() {
        for (stride, kernel, padding) in
            [(1, 3, [1, 1, 1, 1]), (2, 3, [0, 0, 1, 1]), (2, 5, [2, 2, 2, 2]), (1, 5, [2, 2, 2, 2])]
        {
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
            let ours = depthwise_fused(&x, &w, &bias, None, &g, Activation::Relu6);
            let (oh, ow) = (g.out_height(), g.out_width());
            for (index, value) in ours.iter().enumerate() {
                let (plane, i, j) = (index / (oh * ow), index / ow % oh, index % ow);
                let c = plane % 3;
                let mut sum = bias[c];
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
