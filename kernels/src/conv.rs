//! The fused convolution on host memory: `act(conv(x, w) + bias + residual)` for NCHW tensors,
//! one image at a time as a matrix product `[out, in·kh·kw] × [in·kh·kw, oh·ow]` written
//! straight into the output (PyTorch's weight layout is already the left matrix, so nothing is
//! re-laid out). The output is computed in blocks of columns small enough to stay in cache: the
//! bias and the residual are put in a block first, the product is added onto them, and the
//! activation is applied before the next block, so a block goes to memory once.

/// What follows the convolution (its code is what crosses the backend-extension boundary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Activation {
    Identity = 0,
    Relu = 1,
    Relu6 = 2,
    /// `x · relu6(x + 3) / 6` (MobileNetV3).
    Hardswish = 3,
    /// `x · sigmoid(x)` (EfficientNet-B0).
    Silu = 4,
}

impl Activation {
    /// The activation of a code as [`Activation`]'s `repr` gives it (an unknown one: identity).
    pub fn from_code(code: u8) -> Self {
        match code {
            1 => Activation::Relu,
            2 => Activation::Relu6,
            3 => Activation::Hardswish,
            4 => Activation::Silu,
            _ => Activation::Identity,
        }
    }

    pub fn apply(self, z: f32) -> f32 {
        match self {
            Activation::Identity => z,
            Activation::Relu => z.max(0.0),
            Activation::Relu6 => z.clamp(0.0, 6.0),
            Activation::Hardswish => z * (z + 3.0).clamp(0.0, 6.0) / 6.0,
            Activation::Silu => z / (1.0 + (-z).exp()),
        }
    }

    /// The derivative at `z`, as PyTorch's backward takes it (0 at the kinks' lower side).
    pub fn slope(self, z: f32) -> f32 {
        let step = |inside: bool| if inside { 1.0 } else { 0.0 };
        match self {
            Activation::Identity => 1.0,
            Activation::Relu => step(z > 0.0),
            Activation::Relu6 => step(z > 0.0 && z < 6.0),
            Activation::Hardswish if z < -3.0 => 0.0,
            Activation::Hardswish if z > 3.0 => 1.0,
            Activation::Hardswish => (2.0 * z + 3.0) / 6.0,
            Activation::Silu => {
                let sigmoid = 1.0 / (1.0 + (-z).exp());
                sigmoid * (1.0 + z * (1.0 - sigmoid))
            }
        }
    }
}

/// Sizes of one convolution: groups 1, no dilation, padding per side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    pub batch: usize,
    pub in_channels: usize,
    pub in_height: usize,
    pub in_width: usize,
    pub out_channels: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    /// Top, left, bottom, right.
    pub padding: [usize; 4],
}

impl ConvGeometry {
    pub fn out_height(&self) -> usize {
        (self.in_height + self.padding[0] + self.padding[2] - self.kernel[0]) / self.stride[0] + 1
    }

    pub fn out_width(&self) -> usize {
        (self.in_width + self.padding[1] + self.padding[3] - self.kernel[1]) / self.stride[1] + 1
    }

    /// Rows of the unfolded input: one per input channel and kernel position.
    fn patch_len(&self) -> usize {
        self.in_channels * self.kernel[0] * self.kernel[1]
    }

    /// A 1×1, stride-1, unpadded convolution reads the input as it is.
    fn is_pointwise(&self) -> bool {
        self.kernel == [1, 1] && self.stride == [1, 1] && self.padding == [0; 4]
    }

    /// The output columns `[first, last)` whose input column, at kernel column `kj`, lies inside
    /// the image rather than in the padding.
    pub(crate) fn valid_columns(&self, kj: usize) -> (usize, usize) {
        let (out_w, stride_w, pad_left) = (self.out_width(), self.stride[1], self.padding[1]);
        let first = pad_left.saturating_sub(kj).div_ceil(stride_w).min(out_w);
        let last = (self.in_width + pad_left).saturating_sub(kj).div_ceil(stride_w).clamp(first, out_w);
        (first, last)
    }
}

/// Starts an output plane at its channel's bias, plus the residual's plane when there is one: the
/// convolution's sum is then added onto it.
pub(crate) fn start_plane(out: &mut [f32], bias: f32, residual: Option<&[f32]>) {
    out.fill(bias);
    if let Some(residual) = residual {
        for (o, r) in out.iter_mut().zip(residual) {
            *o += r;
        }
    }
}

/// `act(conv(x, weight) + bias + residual)`: `x` `[batch, in, h, w]`, `weight` `[out, in, kh, kw]`,
/// `bias` `[out]`, `residual` the output's shape `[batch, out, oh, ow]`.
pub fn conv2d_fused(
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    residual: Option<&[f32]>,
    geometry: &ConvGeometry,
    activation: Activation,
) -> Vec<f32> {
    let g = geometry;
    if super::winograd::applies(g.kernel, g.stride) {
        let transformed = super::winograd::transform_weights(weight, g.out_channels, g.in_channels);
        return super::winograd::conv3x3_fused(x, &transformed, bias, residual, g, activation);
    }
    let (out_plane, in_image) = (g.out_height() * g.out_width(), g.in_channels * g.in_height * g.in_width);
    let out_image = g.out_channels * out_plane;
    let mut output = vec![0.0f32; g.batch * out_image];
    let mut columns = if g.is_pointwise() { Vec::new() } else { vec![0.0f32; g.patch_len() * out_plane] };
    for image in 0..g.batch {
        let dst = &mut output[image * out_image..(image + 1) * out_image];
        let residual = residual.map(|residual| &residual[image * out_image..(image + 1) * out_image]);
        let input = &x[image * in_image..(image + 1) * in_image];
        let rhs = if g.is_pointwise() {
            input
        } else {
            unfold(input, g, &mut columns);
            &columns
        };
        let block = column_block(g.out_channels, out_plane);
        for first in (0..out_plane).step_by(block) {
            let width = block.min(out_plane - first);
            let rows = |channel: usize| channel * out_plane + first..channel * out_plane + first + width;
            for channel in 0..g.out_channels {
                start_plane(&mut dst[rows(channel)], bias[channel], residual.map(|r| &r[rows(channel)]));
            }
            gemm_f32(
                Matrix { values: &mut dst[first..], row_stride: out_plane },
                weight,
                Matrix { values: &rhs[first..], row_stride: out_plane },
                [g.out_channels, g.patch_len(), width],
                true,
            );
            for channel in 0..g.out_channels {
                activate(&mut dst[rows(channel)], activation);
            }
        }
    }
    output
}

/// Output columns per block: `rows × block` values (about 256 kB) stay in a core's L2 cache.
fn column_block(rows: usize, columns: usize) -> usize {
    const BLOCK_VALUES: usize = 64 * 1024;
    (BLOCK_VALUES / rows.max(1) / 16 * 16).max(64).min(columns.max(1))
}

/// im2col: row `(c, ki, kj)` of `columns` holds input channel `c` shifted by the kernel
/// position, zero where it falls in the padding.
fn unfold(input: &[f32], g: &ConvGeometry, columns: &mut [f32]) {
    let (out_h, out_w) = (g.out_height(), g.out_width());
    let [kernel_h, kernel_w] = g.kernel;
    let [stride_h, stride_w] = g.stride;
    let (pad_top, pad_left) = (g.padding[0], g.padding[1]);
    let plane = g.in_height * g.in_width;
    for_each_chunk(columns, kernel_h * kernel_w * out_h * out_w, |channel, channel_rows| {
        let source = &input[channel * plane..(channel + 1) * plane];
        let mut rows = channel_rows.chunks_exact_mut(out_h * out_w);
        for ki in 0..kernel_h {
            for kj in 0..kernel_w {
                let Some(row) = rows.next() else { return };
                // Output columns whose input column lies inside the image: [first, last).
                let (first, last) = g.valid_columns(kj);
                for (oh, out_row) in row.chunks_exact_mut(out_w).enumerate() {
                    let ih = (oh * stride_h + ki) as isize - pad_top as isize;
                    if ih < 0 || ih as usize >= g.in_height {
                        out_row.fill(0.0);
                        continue;
                    }
                    let in_row = &source[ih as usize * g.in_width..(ih as usize + 1) * g.in_width];
                    out_row[..first].fill(0.0);
                    out_row[last..].fill(0.0);
                    if first == last {
                        continue;
                    }
                    let start = first * stride_w + kj - pad_left;
                    if stride_w == 1 {
                        out_row[first..last].copy_from_slice(&in_row[start..start + (last - first)]);
                    } else {
                        for (o, value) in out_row[first..last].iter_mut().zip(in_row[start..].iter().step_by(stride_w))
                        {
                            *o = *value;
                        }
                    }
                }
            }
        }
    });
}

/// A row-major matrix whose rows start `row_stride` values apart in `values`.
pub(crate) struct Matrix<T> {
    pub values: T,
    pub row_stride: usize,
}

/// `dst[m×n] = lhs[m×k] · rhs[k×n]` (`lhs` contiguous), with the `gemm` crate's SIMD kernels
/// (simd128 in the browser; all cores natively); `accumulate` adds to `dst` instead.
pub(crate) fn gemm_f32(
    dst: Matrix<&mut [f32]>,
    lhs: &[f32],
    rhs: Matrix<&[f32]>,
    [m, k, n]: [usize; 3],
    accumulate: bool,
) {
    let spans = |rows: usize, stride: usize| if rows == 0 { 0 } else { (rows - 1) * stride + n };
    assert!(
        dst.row_stride >= n
            && rhs.row_stride >= n
            && dst.values.len() >= spans(m, dst.row_stride)
            && rhs.values.len() >= spans(k, rhs.row_stride)
            && lhs.len() == m * k,
        "matrix sizes"
    );
    #[cfg(not(target_arch = "wasm32"))]
    let parallelism = gemm::Parallelism::Rayon(0);
    #[cfg(target_arch = "wasm32")]
    let parallelism = gemm::Parallelism::None;
    // SAFETY: the slices cover every element the sizes and strides address (checked above), and
    // `dst` is a mutable borrow, so it aliases neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.values.as_mut_ptr(),
            1,
            dst.row_stride as isize,
            accumulate,
            lhs.as_ptr(),
            1,
            k as isize,
            rhs.values.as_ptr(),
            1,
            rhs.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Calls `f(index, chunk)` for each `size`-long chunk of `values`: on all cores natively, in
/// order in the browser (where parallelism comes from workers instead).
pub(crate) fn for_each_chunk(values: &mut [f32], size: usize, f: impl Fn(usize, &mut [f32]) + Sync + Send) {
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        values.par_chunks_mut(size).enumerate().for_each(|(index, chunk)| f(index, chunk));
    }
    #[cfg(target_arch = "wasm32")]
    values.chunks_mut(size).enumerate().for_each(|(index, chunk)| f(index, chunk));
}

pub(crate) fn activate(values: &mut [f32], activation: Activation) {
    match activation {
        Activation::Identity => {}
        Activation::Relu => values.iter_mut().for_each(|v| *v = v.max(0.0)),
        Activation::Relu6 => values.iter_mut().for_each(|v| *v = v.clamp(0.0, 6.0)),
        Activation::Hardswish => values.iter_mut().for_each(|v| *v *= (*v + 3.0).clamp(0.0, 6.0) / 6.0),
        Activation::Silu => values.iter_mut().for_each(|v| *v /= 1.0 + (-*v).exp()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, one output at a time.
    fn naive(
        x: &[f32],
        w: &[f32],
        bias: &[f32],
        residual: Option<&[f32]>,
        g: &ConvGeometry,
        act: Activation,
    ) -> Vec<f32> {
        let (oh, ow) = (g.out_height(), g.out_width());
        let mut out = Vec::new();
        for b in 0..g.batch {
            for (co, &channel_bias) in bias.iter().enumerate().take(g.out_channels) {
                for i in 0..oh {
                    for j in 0..ow {
                        let mut sum = channel_bias;
                        for ci in 0..g.in_channels {
                            for ki in 0..g.kernel[0] {
                                for kj in 0..g.kernel[1] {
                                    let ih = (i * g.stride[0] + ki) as isize - g.padding[0] as isize;
                                    let iw = (j * g.stride[1] + kj) as isize - g.padding[1] as isize;
                                    if ih < 0 || iw < 0 || ih as usize >= g.in_height || iw as usize >= g.in_width {
                                        continue;
                                    }
                                    let xi = ((b * g.in_channels + ci) * g.in_height + ih as usize) * g.in_width
                                        + iw as usize;
                                    let wi = ((co * g.in_channels + ci) * g.kernel[0] + ki) * g.kernel[1] + kj;
                                    sum += x[xi] * w[wi];
                                }
                            }
                        }
                        let index = out.len();
                        sum += residual.map_or(0.0, |r| r[index]);
                        let mut value = [sum];
                        activate(&mut value, act);
                        out.push(value[0]);
                    }
                }
            }
        }
        out
    }

    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| (((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 16) % 200) as f32 / 100.0 - 1.0)
            .collect()
    }

    #[test]
    fn matches_the_definition_for_every_shape_the_backbones_use() {
        let cases = [
            // ResNet's stem, 3×3 stride 1 and 2, 1×1 stride 2 downsample; TF-SAME asymmetric
            // padding; a pointwise convolution; a wide kernel on a narrow image.
            ([2, 3, 23, 19, 8], [7, 7], [2, 2], [3, 3, 3, 3], Activation::Relu),
            ([1, 5, 9, 11, 6], [3, 3], [1, 1], [1, 1, 1, 1], Activation::Relu),
            // 3×3 stride 1 goes through Winograd: odd and even sizes, batches, no or odd padding.
            ([3, 4, 8, 8, 5], [3, 3], [1, 1], [1, 1, 1, 1], Activation::Relu),
            ([2, 3, 7, 6, 2], [3, 3], [1, 1], [0, 0, 0, 0], Activation::Identity),
            ([1, 2, 5, 5, 3], [3, 3], [1, 1], [1, 0, 2, 1], Activation::Relu6),
            ([2, 4, 10, 9, 7], [3, 3], [2, 2], [1, 1, 1, 1], Activation::Identity),
            ([1, 6, 8, 8, 4], [1, 1], [2, 2], [0, 0, 0, 0], Activation::Identity),
            ([1, 3, 12, 12, 5], [3, 3], [2, 2], [0, 0, 1, 1], Activation::Relu6),
            ([3, 7, 5, 6, 9], [1, 1], [1, 1], [0, 0, 0, 0], Activation::Relu6),
            ([1, 2, 4, 3, 3], [5, 5], [1, 1], [2, 2, 2, 2], Activation::Relu),
            ([2, 3, 6, 7, 4], [3, 3], [1, 1], [1, 1, 1, 1], Activation::Hardswish),
            ([1, 4, 9, 9, 5], [1, 1], [1, 1], [0, 0, 0, 0], Activation::Hardswish),
            ([2, 3, 6, 7, 4], [3, 3], [2, 2], [1, 1, 1, 1], Activation::Silu),
            // Outputs wider than a column block: two blocks and a remainder.
            ([1, 3, 40, 41, 64], [1, 1], [1, 1], [0, 0, 0, 0], Activation::Relu6),
            ([2, 3, 80, 81, 64], [3, 3], [2, 2], [1, 1, 1, 1], Activation::Relu),
        ];
        for (i, ([batch, in_channels, in_height, in_width, out_channels], kernel, stride, padding, act)) in
            cases.into_iter().enumerate()
        {
            let g = ConvGeometry { batch, in_channels, in_height, in_width, out_channels, kernel, stride, padding };
            let x = values(batch * in_channels * in_height * in_width, 1);
            let w = values(out_channels * in_channels * kernel[0] * kernel[1], 2);
            let bias = values(out_channels, 3);
            let residual = values(batch * out_channels * g.out_height() * g.out_width(), 4);
            for residual in [None, Some(residual.as_slice())] {
                let ours = conv2d_fused(&x, &w, &bias, residual, &g, act);
                let expected = naive(&x, &w, &bias, residual, &g, act);
                assert_eq!(ours.len(), expected.len(), "case {i}");
                let diff = ours.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
                assert!(diff < 1e-4, "case {i}: {diff}");
            }
        }
    }
}
