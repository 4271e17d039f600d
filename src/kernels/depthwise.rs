//! The fused depthwise convolution (one filter per channel, as in MobileNetV2's and
//! EfficientNet's blocks): `act(conv(x, w) + bias + residual)`, accumulated one output plane at a
//! time while it stays in cache, with the bias, residual and activation applied to that plane
//! before it is left.

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
    let [stride_h, stride_w] = g.stride;
    let (pad_top, pad_left) = (g.padding[0], g.padding[1]);
    let (in_plane, out_plane) = (g.in_height * g.in_width, out_h * out_w);
    let mut output = vec![0.0f32; g.batch * g.in_channels * out_plane];
    for_each_chunk(&mut output, out_plane, |plane_index, out| {
        let channel = plane_index % g.in_channels;
        let input = &x[plane_index * in_plane..(plane_index + 1) * in_plane];
        start_plane(out, bias[channel], residual.map(|r| &r[plane_index * out_plane..(plane_index + 1) * out_plane]));
        let filter = &weight[channel * kernel_h * kernel_w..(channel + 1) * kernel_h * kernel_w];
        for ki in 0..kernel_h {
            for kj in 0..kernel_w {
                let tap = filter[ki * kernel_w + kj];
                let (first, last) = g.valid_columns(kj);
                if first == last {
                    continue;
                }
                for (oh, out_row) in out.chunks_exact_mut(out_w).enumerate() {
                    let ih = (oh * stride_h + ki) as isize - pad_top as isize;
                    if ih < 0 || ih as usize >= g.in_height {
                        continue;
                    }
                    let in_row = &input[ih as usize * g.in_width..(ih as usize + 1) * g.in_width];
                    let start = first * stride_w + kj - pad_left;
                    let span = &mut out_row[first..last];
                    if stride_w == 1 {
                        let width = span.len();
                        for (o, v) in span.iter_mut().zip(&in_row[start..start + width]) {
                            *o += tap * v;
                        }
                    } else {
                        for (o, v) in span.iter_mut().zip(in_row[start..].iter().step_by(stride_w)) {
                            *o += tap * v;
                        }
                    }
                }
            }
        }
        activate(out, activation);
    });
    output
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
