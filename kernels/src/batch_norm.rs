//! BatchNorm in training mode followed by its activation, forward and backward, over
//! `[batch, channels, plane]` activations as they lie in memory (NCHW). Each direction reads the
//! activations twice and writes once: the statistics (or the gradient sums) per plane, combined
//! per channel, then the element-wise pass. Burn's generic version transposes the activations to
//! channels-first rows for each reduction and takes a dozen element-wise passes, and its ReLU6 is
//! two clamps, each a comparison and a masked fill each way: training MobileNetV2 spent about 40 %
//! of its time there. The backward pass recomputes the normalised values for the activation's
//! slope rather than keeping them.
//!
//! The statistics are the batch mean and the biased variance, the normalisation
//! `(x − mean) / √(var + ε)`, as `torch.nn.functional.batch_norm` in training computes them.
//!
//! A batch may be split across engines that each hold a share of it (data-parallel training):
//! every per-channel sum, and the count of values it is over, passes through `add_up`, which
//! replaces this share's sums with the whole batch's, so that each share is normalised with the
//! whole batch's statistics and its gradient takes the whole batch's sums. One engine alone passes
//! [`alone`].

use crate::Activation;

/// Sizes of the activations: `batch` images of `channels` planes of `plane` values each.
#[derive(Debug, Clone, Copy)]
pub struct NormGeometry {
    pub batch: usize,
    pub channels: usize,
    pub plane: usize,
}

impl NormGeometry {
    /// Values per channel in this share of the batch.
    fn count(&self) -> f64 {
        (self.batch * self.plane) as f64
    }
}

/// Replaces per-channel sums over this engine's share of a batch with their sums over the whole
/// batch (every engine's share, added in the same order on each).
pub type AddUp<'a> = &'a dyn Fn(&mut [f64]);

/// The [`AddUp`] of an engine that holds the whole batch: its sums are the batch's already.
pub fn alone(_: &mut [f64]) {}

/// The normalised, scaled, shifted and activated values, with the batch mean and biased variance
/// per channel.
pub struct NormForward {
    pub output: Vec<f32>,
    pub mean: Vec<f32>,
    pub variance: Vec<f32>,
}

/// The gradients of [`forward`]'s output with respect to its input, `gamma` and `beta`.
pub struct NormBackward {
    pub input: Vec<f32>,
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
}

/// `activation(gamma · (x − mean) / √(var + ε) + beta)` with the batch's statistics.
pub fn forward(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    epsilon: f64,
    geometry: NormGeometry,
    activation: Activation,
    add_up: AddUp,
) -> NormForward {
    let NormGeometry { channels, plane, .. } = geometry;
    let planes = |index: usize| &x[index * plane..][..plane];
    // The sums, then the count of values they are over, added up across the batch's shares.
    let mut totals =
        per_channel(&per_plane(geometry, |index| sums(planes(index), planes(index), |v, _| (v, 0.0)).0), channels);
    totals.push(geometry.count());
    add_up(&mut totals);
    let count = totals.pop().unwrap_or(geometry.count());
    let mean: Vec<f64> = totals.iter().map(|total| total / count).collect();
    let mut squares = per_channel(
        &per_plane(geometry, |index| {
            let mean = mean[index % channels] as f32;
            sums(planes(index), planes(index), |v, _| ((v - mean) * (v - mean), 0.0)).0
        }),
        channels,
    );
    add_up(&mut squares);
    let variance: Vec<f64> = squares.iter().map(|total| total / count).collect();
    let mean: Vec<f32> = mean.iter().map(|&m| m as f32).collect();
    let variance: Vec<f32> = variance.iter().map(|&v| v as f32).collect();
    let mut output = vec![0.0; x.len()];
    crate::conv::for_each_chunk(&mut output, plane, |index, out| {
        let (scale, shift) = affine(gamma, beta, &mean, &variance, epsilon, index % channels);
        for (out, &v) in out.iter_mut().zip(planes(index)) {
            *out = activation.apply(v * scale + shift);
        }
    });
    NormForward { output, mean, variance }
}

/// The gradients of [`forward`] given the gradient `grad` of its (activated) output, `mean` and
/// `variance` being the statistics it returned.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    x: &[f32],
    grad: &[f32],
    gamma: &[f32],
    beta: &[f32],
    mean: &[f32],
    variance: &[f32],
    epsilon: f64,
    geometry: NormGeometry,
    activation: Activation,
    add_up: AddUp,
) -> NormBackward {
    let NormGeometry { channels, plane, .. } = geometry;
    let planes = |values, index| plane_of(values, index, plane);
    // The gradient before the activation, from the normalised value recomputed.
    let before_activation = |index: usize| {
        let (scale, shift) = affine(gamma, beta, mean, variance, epsilon, index % channels);
        move |v: f32, g: f32| g * activation.slope(v * scale + shift)
    };
    // Per channel: Σ g and Σ g · (x − mean), in one pass.
    let totals = per_plane(geometry, |index| {
        let (g, mean) = (before_activation(index), mean[index % channels]);
        sums(planes(x, index), planes(grad, index), |v, d| {
            let g = g(v, d);
            (g, g * (v - mean))
        })
    });
    // This share's sums give gamma's and beta's gradients (the engines add those up with the
    // other parameters' gradients); the input's gradient takes the whole batch's, added up with
    // the count in one exchange.
    let share_grad_sums = per_channel(&totals.iter().map(|t| t.0).collect::<Vec<_>>(), channels);
    let share_centred_sums = per_channel(&totals.iter().map(|t| t.1).collect::<Vec<_>>(), channels);
    let mut both = [share_grad_sums.as_slice(), &share_centred_sums, &[geometry.count()]].concat();
    add_up(&mut both);
    let count = both.pop().unwrap_or(geometry.count());
    let (grad_sums, centred_sums) = both.split_at(channels);
    let inv_std: Vec<f64> = variance.iter().map(|&v| 1.0 / (v as f64 + epsilon).sqrt()).collect();
    let mut input = vec![0.0; x.len()];
    crate::conv::for_each_chunk(&mut input, plane, |index, out| {
        let channel = index % channels;
        // dx = γ·σ⁻¹ · (g − Σg/N − (x − μ)·σ⁻²·Σg(x − μ)/N)
        let scale = (gamma[channel] as f64 * inv_std[channel]) as f32;
        let mean_grad = (grad_sums[channel] / count) as f32;
        let projection = (centred_sums[channel] * inv_std[channel].powi(2) / count) as f32;
        let (g, mean) = (before_activation(index), mean[channel]);
        for ((out, &v), &d) in out.iter_mut().zip(planes(x, index)).zip(planes(grad, index)) {
            *out = scale * (g(v, d) - mean_grad - (v - mean) * projection);
        }
    });
    NormBackward {
        input,
        gamma: share_centred_sums.iter().zip(&inv_std).map(|(&total, &inv)| (total * inv) as f32).collect(),
        beta: share_grad_sums.iter().map(|&total| total as f32).collect(),
    }
}

/// Plane `index` of `values`.
fn plane_of(values: &[f32], index: usize, plane: usize) -> &[f32] {
    &values[index * plane..][..plane]
}

/// The normalisation of `channel` as `x · scale + shift`, computed the same way both ways so that
/// the backward pass recomputes exactly the values the activation saw.
fn affine(gamma: &[f32], beta: &[f32], mean: &[f32], variance: &[f32], epsilon: f64, channel: usize) -> (f32, f32) {
    let scale = gamma[channel] as f64 / (variance[channel] as f64 + epsilon).sqrt();
    let shift = beta[channel] as f64 - mean[channel] as f64 * scale;
    (scale as f32, shift as f32)
}

/// The two sums `Σ f(a, b)` over two planes of the same length: eight running f32 sums each
/// (vectorised), added up in f64.
fn sums(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> (f32, f32)) -> (f64, f64) {
    let (mut first, mut second) = ([0.0f32; 8], [0.0f32; 8]);
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let mut rest = (0.0f64, 0.0f64);
    for (&a, &b) in a_chunks.remainder().iter().zip(b_chunks.remainder()) {
        let (x, y) = f(a, b);
        rest = (rest.0 + x as f64, rest.1 + y as f64);
    }
    for (a, b) in a_chunks.zip(b_chunks) {
        for lane in 0..8 {
            let (x, y) = f(a[lane], b[lane]);
            first[lane] += x;
            second[lane] += y;
        }
    }
    let total = |lanes: [f32; 8]| lanes.iter().map(|&lane| lane as f64).sum::<f64>();
    (total(first) + rest.0, total(second) + rest.1)
}

/// `f(index)` for each of the `batch × channels` planes: on all cores natively, in order in the
/// browser.
fn per_plane<T: Send>(geometry: NormGeometry, f: impl Fn(usize) -> T + Sync + Send) -> Vec<T> {
    let planes = geometry.batch * geometry.channels;
    #[cfg(not(target_arch = "wasm32"))]
    {
        use rayon::prelude::*;
        (0..planes).into_par_iter().map(f).collect()
    }
    #[cfg(target_arch = "wasm32")]
    (0..planes).map(f).collect()
}

/// `Σ` per channel of per-plane values laid out `[batch, channels]`.
fn per_channel(planes: &[f64], channels: usize) -> Vec<f64> {
    let mut totals = vec![0.0; channels];
    for (index, &value) in planes.iter().enumerate() {
        totals[index % channels] += value;
    }
    totals
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in [-2, 2) with a per-channel offset, so that the means matter.
    fn values(count: usize, seed: u32) -> Vec<f32> {
        let mut state = seed;
        (0..count)
            .map(|i| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 8) as f32 / (1u32 << 24) as f32 * 4.0 - 2.0 + (i % 3) as f32
            })
            .collect()
    }

    /// The layer's output computed the long way, in f64: the forward reference, and the function
    /// the finite differences differentiate.
    fn reference(x: &[f32], gamma: &[f32], beta: &[f32], activation: Activation) -> Vec<f64> {
        let NormGeometry { batch, channels, plane } = GEOMETRY;
        let mut out = vec![0.0; x.len()];
        for c in 0..channels {
            let at = |b: usize, p: usize| (b * channels + c) * plane + p;
            let all: Vec<f64> =
                (0..batch).flat_map(|b| (0..plane).map(move |p| (b, p))).map(|(b, p)| x[at(b, p)] as f64).collect();
            let mean = all.iter().sum::<f64>() / all.len() as f64;
            let variance = all.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / all.len() as f64;
            for b in 0..batch {
                for p in 0..plane {
                    let normalised = (x[at(b, p)] as f64 - mean) / (variance + EPSILON).sqrt();
                    let z = gamma[c] as f64 * normalised + beta[c] as f64;
                    out[at(b, p)] = activation.apply(z as f32) as f64;
                }
            }
        }
        out
    }

    const GEOMETRY: NormGeometry = NormGeometry { batch: 3, channels: 4, plane: 13 };
    const EPSILON: f64 = 1e-5;
    const ACTIVATIONS: [Activation; 5] =
        [Activation::Identity, Activation::Relu, Activation::Relu6, Activation::Hardswish, Activation::Silu];
    const GAMMA: [f32; 4] = [0.5, 1.0, 1.5, -2.0];
    const BETA: [f32; 4] = [0.1, -0.2, 3.0, 0.0];

    #[test]
    fn the_forward_pass_normalises_with_the_batch_statistics_then_activates() {
        let x = values(3 * 4 * 13, 1);
        for activation in ACTIVATIONS {
            let result = forward(&x, &GAMMA, &BETA, EPSILON, GEOMETRY, activation, &alone);
            for (actual, expected) in result.output.iter().zip(reference(&x, &GAMMA, &BETA, activation)) {
                assert!((*actual as f64 - expected).abs() < 1e-5, "{activation:?}: {actual} ≠ {expected}");
            }
            // Channel 0 of each image: the first plane of each image's four.
            let channel0: Vec<f64> = (0..3).flat_map(|b| x[b * 52..][..13].iter().map(|&v| v as f64)).collect();
            let mean = channel0.iter().sum::<f64>() / 39.0;
            assert!((result.mean[0] as f64 - mean).abs() < 1e-6);
            let variance = channel0.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 39.0;
            assert!((result.variance[0] as f64 - variance).abs() < 1e-5);
        }
    }

    /// The backward pass against central finite differences of `Σ w · output` (weights `w` as the
    /// upstream gradient), for the input, `gamma` and `beta`, through each activation.
    #[test]
    fn the_backward_pass_matches_finite_differences() {
        let x = values(3 * 4 * 13, 2);
        let grad = values(3 * 4 * 13, 3);
        for activation in ACTIVATIONS {
            let result = forward(&x, &GAMMA, &BETA, EPSILON, GEOMETRY, activation, &alone);
            let gradients = backward(
                &x,
                &grad,
                &GAMMA,
                &BETA,
                &result.mean,
                &result.variance,
                EPSILON,
                GEOMETRY,
                activation,
                &alone,
            );
            let loss = |x: &[f32], gamma: &[f32], beta: &[f32]| -> f64 {
                let out = reference(x, gamma, beta, activation);
                out.iter().zip(&grad).map(|(o, &g)| o * g as f64).sum()
            };
            let step = 1e-3f32;
            let numeric = |perturb: &dyn Fn(f32) -> f64| (perturb(step) - perturb(-step)) / (2.0 * step as f64);
            let close = |actual: f32, expected: f64| (actual as f64 - expected).abs() < 5e-3 * expected.abs().max(1.0);
            for i in [0, 7, 51, 100, 155] {
                let derivative = numeric(&|delta| {
                    let mut shifted = x.clone();
                    shifted[i] += delta;
                    loss(&shifted, &GAMMA, &BETA)
                });
                assert!(
                    close(gradients.input[i], derivative),
                    "{activation:?} input {i}: {} ≠ {derivative}",
                    gradients.input[i]
                );
            }
            for c in 0..4 {
                let for_gamma = numeric(&|delta| {
                    let mut shifted = GAMMA;
                    shifted[c] += delta;
                    loss(&x, &shifted, &BETA)
                });
                let for_beta = numeric(&|delta| {
                    let mut shifted = BETA;
                    shifted[c] += delta;
                    loss(&x, &GAMMA, &shifted)
                });
                assert!(
                    close(gradients.gamma[c], for_gamma),
                    "{activation:?} gamma {c}: {} ≠ {for_gamma}",
                    gradients.gamma[c]
                );
                assert!(
                    close(gradients.beta[c], for_beta),
                    "{activation:?} beta {c}: {} ≠ {for_beta}",
                    gradients.beta[c]
                );
            }
        }
    }
    /// Two engines holding two images each of a four-image batch, adding their sums up through a
    /// shared slot, get the whole batch's output and input gradients for their images, and gamma
    /// and beta gradients that add up to the whole batch's.
    #[test]
    fn shares_of_a_batch_compute_what_the_whole_batch_computes() {
        use std::sync::{Barrier, Mutex};
        let geometry = NormGeometry { batch: 4, channels: 4, plane: 13 };
        let x = values(4 * 4 * 13, 5);
        let grad = values(4 * 4 * 13, 6);
        let whole = forward(&x, &GAMMA, &BETA, EPSILON, geometry, Activation::Relu6, &alone);
        let whole_grads = backward(
            &x,
            &grad,
            &GAMMA,
            &BETA,
            &whole.mean,
            &whole.variance,
            EPSILON,
            geometry,
            Activation::Relu6,
            &alone,
        );
        let (slots, barrier) = (Mutex::new([Vec::new(), Vec::new()]), Barrier::new(2));
        let half = 2 * 4 * 13;
        let shares: Vec<_> = std::thread::scope(|scope| {
            let (slots, barrier) = (&slots, &barrier);
            let handles: Vec<_> = (0..2)
                .map(|share| {
                    let (x, grad) = (&x[share * half..][..half], &grad[share * half..][..half]);
                    scope.spawn(move || {
                        let add_up = |sums: &mut [f64]| {
                            slots.lock().unwrap()[share] = sums.to_vec();
                            barrier.wait();
                            let slots = slots.lock().unwrap();
                            for (i, sum) in sums.iter_mut().enumerate() {
                                *sum = slots[0][i] + slots[1][i];
                            }
                            drop(slots);
                            barrier.wait();
                        };
                        let geometry = NormGeometry { batch: 2, ..geometry };
                        let result = forward(x, &GAMMA, &BETA, EPSILON, geometry, Activation::Relu6, &add_up);
                        let grads = backward(
                            x,
                            grad,
                            &GAMMA,
                            &BETA,
                            &result.mean,
                            &result.variance,
                            EPSILON,
                            geometry,
                            Activation::Relu6,
                            &add_up,
                        );
                        (result, grads)
                    })
                })
                .collect();
            handles.into_iter().map(|handle| handle.join().unwrap()).collect()
        });
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(a, b)| (a - b).abs() < 1e-5);
        for (share, (result, grads)) in shares.iter().enumerate() {
            assert!(close(&result.output, &whole.output[share * half..][..half]), "share {share}'s output");
            assert!(close(&grads.input, &whole_grads.input[share * half..][..half]), "share {share}'s input gradient");
            assert!(close(&result.mean, &whole.mean) && close(&result.variance, &whole.variance));
        }
        let summed = |pick: fn(&NormBackward) -> &Vec<f32>| -> Vec<f32> {
            (0..4).map(|c| pick(&shares[0].1)[c] + pick(&shares[1].1)[c]).collect()
        };
        assert!(close(&summed(|g| &g.gamma), &whole_grads.gamma));
        assert!(close(&summed(|g| &g.beta), &whole_grads.beta));
    }
}
