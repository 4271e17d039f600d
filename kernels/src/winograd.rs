//! Winograd's F(2×2, 3×3) for 3×3 stride-1 convolutions: each 2×2 block of outputs from a 4×4
//! block of inputs with 16 multiplications instead of 36. Over a whole layer that becomes 16
//! independent matrix products `[out, in] × [in, blocks]` (one per position of the 4×4
//! transformed block) between the transformed weights `U = G·g·Gᵀ` and inputs `V = Bᵀ·d·B`,
//! then `Y = Aᵀ·M·A` per block (Lavin & Gray, 2015). The transforms use only additions and
//! halvings, so the result equals direct convolution up to float rounding.

use super::conv::{Activation, ConvGeometry, Matrix, activate, for_each_chunk, gemm_f32, start_plane};

/// Whether a convolution (groups 1, no dilation) of this kernel and stride is one this method
/// computes.
pub fn applies(kernel: [usize; 2], stride: [usize; 2]) -> bool {
    kernel == [3, 3] && stride == [1, 1]
}

/// `act(conv(x, weight) + bias + residual)` as [`super::conv::conv2d_fused`], for a 3×3 stride-1
/// convolution whose weights [`transform_weights`] has transformed. All images of the batch go
/// through the same 16 products.
pub fn conv3x3_fused(
    x: &[f32],
    transformed_weights: &[f32],
    bias: &[f32],
    residual: Option<&[f32]>,
    g: &ConvGeometry,
    activation: Activation,
) -> Vec<f32> {
    let (out_h, out_w) = (g.out_height(), g.out_width());
    let (tiles_h, tiles_w) = (out_h.div_ceil(2), out_w.div_ceil(2));
    let tiles = g.batch * tiles_h * tiles_w;
    let (cin, cout) = (g.in_channels, g.out_channels);
    // Inputs `[in, 16, blocks]` and products `[out, 16, blocks]`: each channel's part is
    // contiguous, so the transforms run channel by channel on all cores natively; the products
    // read and write them with a row stride of 16 blocks.
    let transformed_input = transform_input(x, g, tiles_h, tiles_w);
    let mut products = vec![0.0f32; cout * 16 * tiles];
    for position in 0..16 {
        gemm_f32(
            Matrix { values: &mut products[position * tiles..], row_stride: 16 * tiles },
            &transformed_weights[position * cout * cin..(position + 1) * cout * cin],
            Matrix { values: &transformed_input[position * tiles..], row_stride: 16 * tiles },
            [cout, cin, tiles],
            false,
        );
    }
    let out_plane = out_h * out_w;
    let mut output = vec![0.0f32; g.batch * cout * out_plane];
    for_each_chunk(&mut output, out_plane, |plane, out| {
        let (image, channel) = (plane / cout, plane % cout);
        let start = plane * out_plane;
        let channel_products = &products[channel * 16 * tiles..(channel + 1) * 16 * tiles];
        start_plane(out, bias[channel], residual.map(|r| &r[start..start + out_plane]));
        for ty in 0..tiles_h {
            for tx in 0..tiles_w {
                let tile = (image * tiles_h + ty) * tiles_w + tx;
                let m: [f32; 16] = std::array::from_fn(|position| channel_products[position * tiles + tile]);
                let y = output_transform(&m);
                for (dy, row) in y.iter().enumerate() {
                    let oy = 2 * ty + dy;
                    if oy >= out_h {
                        continue;
                    }
                    for (dx, value) in row.iter().enumerate() {
                        let ox = 2 * tx + dx;
                        if ox < out_w {
                            out[oy * out_w + ox] += value;
                        }
                    }
                }
            }
        }
        activate(out, activation);
    });
    output
}

/// `U = G·g·Gᵀ` for every (out, in) pair of `weight` `[out, in, 3, 3]`, stored as 16 matrices
/// `[out, in]`: done once per frozen layer when it is folded (the main crate's `kernels::winograd_weights`).
pub fn transform_weights(weight: &[f32], cout: usize, cin: usize) -> Vec<f32> {
    let mut transformed = vec![0.0f32; 16 * cout * cin];
    for (pair, g) in weight.chunks_exact(9).enumerate() {
        // G·g: 4×3, then (G·g)·Gᵀ: 4×4. G = [[1,0,0],[½,½,½],[½,−½,½],[0,0,1]].
        let mut gg = [[0.0f32; 3]; 4];
        for col in 0..3 {
            let (a, b, c) = (g[col], g[3 + col], g[6 + col]);
            gg[0][col] = a;
            gg[1][col] = 0.5 * (a + b + c);
            gg[2][col] = 0.5 * (a - b + c);
            gg[3][col] = c;
        }
        for (row, r) in gg.iter().enumerate() {
            let u = [r[0], 0.5 * (r[0] + r[1] + r[2]), 0.5 * (r[0] - r[1] + r[2]), r[2]];
            for (col, value) in u.into_iter().enumerate() {
                transformed[(row * 4 + col) * cout * cin + pair] = value;
            }
        }
    }
    transformed
}

/// `V = Bᵀ·d·B` for every input channel and 4×4 input block (blocks overlap by 2), stored as
/// `[in, 16, blocks]`; pixels in the padding are zero.
fn transform_input(x: &[f32], g: &ConvGeometry, tiles_h: usize, tiles_w: usize) -> Vec<f32> {
    let tiles = g.batch * tiles_h * tiles_w;
    let (height, width) = (g.in_height as isize, g.in_width as isize);
    let (pad_top, pad_left) = (g.padding[0] as isize, g.padding[1] as isize);
    let mut transformed = vec![0.0f32; g.in_channels * 16 * tiles];
    let plane = g.in_height * g.in_width;
    for_each_chunk(&mut transformed, 16 * tiles, |channel, positions| {
        for image in 0..g.batch {
            let source = &x[(image * g.in_channels + channel) * plane..][..plane];
            for ty in 0..tiles_h {
                for tx in 0..tiles_w {
                    let mut d = [[0.0f32; 4]; 4];
                    let (y0, x0) = (2 * ty as isize - pad_top, 2 * tx as isize - pad_left);
                    for (i, row) in d.iter_mut().enumerate() {
                        let y = y0 + i as isize;
                        if y < 0 || y >= height {
                            continue;
                        }
                        for (j, value) in row.iter_mut().enumerate() {
                            let x = x0 + j as isize;
                            if x >= 0 && x < width {
                                *value = source[(y * width + x) as usize];
                            }
                        }
                    }
                    let tile = (image * tiles_h + ty) * tiles_w + tx;
                    for (position, value) in input_transform(&d).into_iter().enumerate() {
                        positions[position * tiles + tile] = value;
                    }
                }
            }
        }
    });
    transformed
}

/// `Bᵀ·d·B` with Bᵀ = [[1,0,−1,0],[0,1,1,0],[0,−1,1,0],[0,1,0,−1]], row-major 4×4.
fn input_transform(d: &[[f32; 4]; 4]) -> [f32; 16] {
    let rows =
        |a: [f32; 4], b: [f32; 4], f: fn(f32, f32) -> f32| [f(a[0], b[0]), f(a[1], b[1]), f(a[2], b[2]), f(a[3], b[3])];
    let t = [
        rows(d[0], d[2], |a, b| a - b),
        rows(d[1], d[2], |a, b| a + b),
        rows(d[2], d[1], |a, b| a - b),
        rows(d[1], d[3], |a, b| a - b),
    ];
    let mut v = [0.0f32; 16];
    for (i, r) in t.iter().enumerate() {
        v[i * 4] = r[0] - r[2];
        v[i * 4 + 1] = r[1] + r[2];
        v[i * 4 + 2] = r[2] - r[1];
        v[i * 4 + 3] = r[1] - r[3];
    }
    v
}

/// `Aᵀ·m·A` with Aᵀ = [[1,1,1,0],[0,1,−1,−1]]: the 2×2 outputs of a block.
fn output_transform(m: &[f32; 16]) -> [[f32; 2]; 2] {
    let row = |i: usize| [m[i * 4], m[i * 4 + 1], m[i * 4 + 2], m[i * 4 + 3]];
    let (r0, r1, r2, r3) = (row(0), row(1), row(2), row(3));
    let s0: [f32; 4] = std::array::from_fn(|k| r0[k] + r1[k] + r2[k]);
    let s1: [f32; 4] = std::array::from_fn(|k| r1[k] - r2[k] - r3[k]);
    [[s0[0] + s0[1] + s0[2], s0[1] - s0[2] - s0[3]], [s1[0] + s1[1] + s1[2], s1[1] - s1[2] - s1[3]]]
}
