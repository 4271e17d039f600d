//! BatchNorm folding for inference. In evaluation mode a BatchNorm after a convolution is an
//! affine map per output channel, so it can be merged into the convolution's weights and bias:
//! the folded network computes the same function (up to float rounding) without the four
//! element-wise passes over every activation that a BatchNorm costs on the CPU.
//!
//! Folded modules are for extracting features with frozen weights only: they have no BatchNorm
//! parameters to train or to export. On the CPU backend a folded convolution also takes its
//! bias, residual and activation in one fused operation ([`conv_norm_act`]), and a 3×3 stride-1
//! one keeps its weights transformed for Winograd's method, once rather than on every pass.

use burn::module::{Module, Param};
use burn::nn::BatchNorm;
use burn::nn::conv::Conv2d;
use burn::tensor::Tensor;

use crate::kernels::{Activation, add_and_activate, batch_norm, conv2d_activation, conv2d_train, winograd_weights};

/// The convolution that computes `bn(conv(x))` with `bn` in evaluation mode:
/// `W' = W·s`, `b' = (b − μ)·s + β` with `s = γ / √(σ² + ε)` per output channel.
pub fn fold_batch_norm(conv: &Conv2d, bn: &BatchNorm) -> Conv2d {
    let scale = bn.gamma.val() / (bn.running_var.value() + bn.epsilon).sqrt();
    let weight = conv.weight.val();
    let [out_channels, ..] = weight.dims();
    let folded_weight = weight * scale.clone().reshape([out_channels, 1, 1, 1]);
    let bias = match &conv.bias {
        Some(bias) => bias.val(),
        None => scale.zeros_like(),
    };
    let folded_bias = (bias - bn.running_mean.value()) * scale + bn.beta.val();
    Conv2d {
        weight: Param::from_tensor(folded_weight),
        bias: Some(Param::from_tensor(folded_bias)),
        stride: conv.stride,
        kernel_size: conv.kernel_size,
        dilation: conv.dilation,
        groups: conv.groups,
        padding: conv.padding.clone(),
    }
}

/// A convolution's BatchNorm as loaded and trained, or what is left of it once [`fold_pair`] has
/// folded it into the convolution: on the CPU, for a 3×3 stride-1 convolution, the convolution's
/// weights in Winograd's layout ([`winograd_weights`]).
// One per convolution, built once: the size difference between the variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum FoldableNorm {
    BatchNorm(BatchNorm),
    Folded(Option<Param<Tensor<3>>>),
}

impl FoldableNorm {
    /// The BatchNorm, unless folded.
    pub fn batch_norm(&self) -> Option<&BatchNorm> {
        match self {
            FoldableNorm::BatchNorm(bn) => Some(bn),
            FoldableNorm::Folded(_) => None,
        }
    }
}

/// A bias-free convolution followed by BatchNorm (or, folded, a convolution with bias): the block
/// most networks are made of (torchvision's `Conv2dNormActivation`, `BasicConv2d`, a ResNet's
/// `downsample`), its fields named as torchvision names them.
#[derive(Module, Debug)]
pub struct ConvNorm {
    pub conv: Conv2d,
    pub bn: FoldableNorm,
}

impl ConvNorm {
    /// `activation(bn(conv(x)) + residual)`.
    pub fn forward(&self, x: Tensor<4>, residual: Option<Tensor<4>>, activation: Activation) -> Tensor<4> {
        conv_norm_act(&self.conv, &self.bn, x, residual, activation)
    }

    /// The same with the BatchNorm folded in.
    pub fn folded(&self) -> Self {
        let (conv, bn) = fold_pair(&self.conv, &self.bn);
        Self { conv, bn }
    }
}

/// `activation(bn(conv(x)) + residual)`. A folded pair (no BatchNorm left) runs as one fused
/// operation on the CPU backend (see [`crate::kernels`]).
pub fn conv_norm_act(
    conv: &Conv2d,
    bn: &FoldableNorm,
    x: Tensor<4>,
    residual: Option<Tensor<4>>,
    activation: Activation,
) -> Tensor<4> {
    match bn {
        FoldableNorm::BatchNorm(bn) => match residual {
            None => batch_norm(bn, conv2d_train(conv, x), activation),
            residual => {
                add_and_activate(batch_norm(bn, conv2d_train(conv, x), Activation::Identity), residual, activation)
            }
        },
        FoldableNorm::Folded(transformed) => {
            conv2d_activation(conv, transformed.as_ref().map(Param::val).as_ref(), x, residual, activation)
        }
    }
}

/// `conv` with `bn` folded in, and no BatchNorm left; an already folded pair stays as it is.
pub fn fold_pair(conv: &Conv2d, bn: &FoldableNorm) -> (Conv2d, FoldableNorm) {
    match bn {
        FoldableNorm::BatchNorm(bn) => {
            let folded = fold_batch_norm(conv, bn);
            let transformed = winograd_weights(&folded).map(Param::from_tensor);
            (folded, FoldableNorm::Folded(transformed))
        }
        FoldableNorm::Folded(_) => (conv.clone(), bn.clone()),
    }
}

/// A convolution that no BatchNorm follows, made ready for the fused path as a folded one is: a
/// zero bias where it has none (DenseNet's), and on the CPU Winograd's weights where they apply.
pub fn prepare_bare_conv(conv: &Conv2d) -> (Conv2d, Option<Param<Tensor<3>>>) {
    let mut prepared = conv.clone();
    if prepared.bias.is_none() {
        let weight = conv.weight.val();
        let [out_channels, ..] = weight.dims();
        prepared.bias = Some(Param::from_tensor(Tensor::zeros([out_channels], &weight.device())));
    }
    let transformed = winograd_weights(&prepared).map(Param::from_tensor);
    (prepared, transformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::RunningState;
    use burn::nn::BatchNormConfig;
    use burn::nn::PaddingConfig2d;
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::{Device, Distribution, TensorData};

    /// A BatchNorm with non-trivial statistics, so that every term of the fold matters.
    fn trained_norm(channels: usize, device: &Device) -> BatchNorm {
        let mut bn = BatchNormConfig::new(channels).with_epsilon(1e-3).init(device);
        let random = |low: f64, high: f64| Tensor::<1>::random([channels], Distribution::Uniform(low, high), device);
        bn.gamma = Param::from_tensor(random(0.5, 1.5));
        bn.beta = Param::from_tensor(random(-0.5, 0.5));
        bn.running_mean = RunningState::new(random(-0.3, 0.3));
        bn.running_var = RunningState::new(random(0.2, 2.0));
        bn
    }

    #[test]
    fn a_folded_convolution_computes_the_same_as_conv_then_norm() {
        let device = Device::flex();
        device.seed(7);
        let input = Tensor::<4>::random([2, 8, 11, 9], Distribution::Normal(0.0, 1.0), &device);
        for (groups, out, bias, stride) in [(1, 6, false, 2), (8, 8, false, 2), (2, 4, true, 2), (1, 5, false, 1)] {
            let conv = Conv2dConfig::new([8, out], [3, 3])
                .with_groups(groups)
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .with_bias(bias)
                .init(&device);
            let bn = trained_norm(out, &device);
            let bn = FoldableNorm::BatchNorm(bn);
            let expected: TensorData = conv_norm_act(&conv, &bn, input.clone(), None, Activation::Relu6).into_data();
            let (folded, rest) = fold_pair(&conv, &bn);
            // Only the plain 3×3 stride-1 convolution keeps Winograd-transformed weights.
            let FoldableNorm::Folded(transformed) = &rest else { panic!("a BatchNorm left after folding") };
            assert_eq!(transformed.is_some(), groups == 1 && stride == 1);
            // Fused on the CPU backend: as a matrix product, by Winograd's method from the
            // transformed weights, and directly for the depthwise case.
            let actual = conv_norm_act(&folded, &rest, input.clone(), None, Activation::Relu6).into_data();
            actual.assert_approx_eq::<f32>(&expected, burn::tensor::Tolerance::absolute(1e-5));
        }
    }
}
