//! Kernels of our own, behind Burn's backend-extension mechanism: BatchNorm in training
//! (`norm.rs`), and the fused convolution that feature extraction runs on the CPU backend
//! (`flex`), where a folded convolution, its bias, a residual addition and the activation become
//! one operation instead of four passes over the activations: plain convolutions as matrix products, with Winograd's
//! F(2×2, 3×3) for 3×3 stride-1 ones (most of ResNet's work; their weights transformed once, when
//! folded), and depthwise convolutions (most of the mobile networks' passes) directly. Other
//! backends (WebGPU) run Burn's own operations. The arithmetic is the `browser-finetune-kernels`
//! crate (`kernels/`), built for speed; this file connects it to Burn's tensors.

#[cfg(feature = "training")]
mod depthwise_train;
#[cfg(feature = "training")]
mod norm;

#[cfg(feature = "training")]
pub use depthwise_train::conv2d_train;
#[cfg(feature = "training")]
pub use norm::{AddUp, batch_norm, sharing};

/// `conv(x)`; without training, convolutions are never trained.
#[cfg(not(feature = "training"))]
pub fn conv2d_train(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    conv.forward(x)
}

/// `activation(bn(x))`; without training, BatchNorm only ever runs in evaluation mode.
///
/// # Shapes
/// `[batch, channels, height, width]`, both ways
#[cfg(not(feature = "training"))]
pub fn batch_norm(bn: &burn::nn::BatchNorm, x: Tensor<4>, activation: Activation) -> Tensor<4> {
    add_and_activate(bn.forward(x), None, activation)
}

use burn::backend::flex::FlexTensor;
use burn::backend::{Backend, Flex, backend_extension, tensor::FloatTensor};
use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::tensor::activation::{hard_swish, relu, relu6, silu};
use burn::tensor::{Tensor, TensorData};

pub use browser_finetune_kernels::Activation;
use browser_finetune_kernels::depthwise::{self, depthwise_fused};
use browser_finetune_kernels::{ConvGeometry, conv2d_fused, winograd};

/// The fused convolution as a backend operation: groups 1 or one per channel (depthwise, 3×3
/// or 5×5), no dilation. `weight` is `[out, in/groups, kh, kw]`, or `[16, out, in]`
/// as [`winograd_weights`] transformed it for a 3×3 stride-1 convolution.
#[backend_extension(Flex)]
pub trait FusedConvBackend: Backend {
    /// A 3×3 convolution's weights `[out, in, 3, 3]` in Winograd's layout `[16, out, in]`.
    fn winograd_transform(weight: FloatTensor<Self>) -> FloatTensor<Self>;

    /// `activation(conv(x, weight) + bias)`, with `activation` 0 identity, 1 ReLU, 2 ReLU6, 3
    /// Hardswish, 4 SiLU.
    #[allow(clippy::too_many_arguments)]
    fn fused_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        pad_top: usize,
        pad_left: usize,
        pad_bottom: usize,
        pad_right: usize,
        activation: u8,
    ) -> FloatTensor<Self>;

    /// The same with `residual` (the output's shape) added before the activation.
    #[allow(clippy::too_many_arguments)]
    fn fused_conv2d_residual(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        residual: FloatTensor<Self>,
        stride: usize,
        pad_top: usize,
        pad_left: usize,
        pad_bottom: usize,
        pad_right: usize,
        activation: u8,
    ) -> FloatTensor<Self>;
}

impl FusedConvBackend for Flex {
    fn winograd_transform(weight: FlexTensor) -> FlexTensor {
        let weight = weight.to_contiguous();
        let &[out_channels, in_channels, 3, 3] = weight.layout().shape().as_slice() else {
            unreachable!("Winograd's transform takes 3×3 weights");
        };
        let transformed = winograd::transform_weights(values(&weight), out_channels, in_channels);
        flex_tensor(transformed, [16, out_channels, in_channels])
    }

    fn fused_conv2d(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        stride: usize,
        pad_top: usize,
        pad_left: usize,
        pad_bottom: usize,
        pad_right: usize,
        activation: u8,
    ) -> FlexTensor {
        flex_conv(x, weight, bias, None, stride, [pad_top, pad_left, pad_bottom, pad_right], activation)
    }

    fn fused_conv2d_residual(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        residual: FlexTensor,
        stride: usize,
        pad_top: usize,
        pad_left: usize,
        pad_bottom: usize,
        pad_right: usize,
        activation: u8,
    ) -> FlexTensor {
        let padding = [pad_top, pad_left, pad_bottom, pad_right];
        flex_conv(x, weight, bias, Some(residual), stride, padding, activation)
    }
}

fn flex_conv(
    x: FlexTensor,
    weight: FlexTensor,
    bias: FlexTensor,
    residual: Option<FlexTensor>,
    stride: usize,
    padding: [usize; 4],
    activation: u8,
) -> FlexTensor {
    let (x, weight, bias) = (x.to_contiguous(), weight.to_contiguous(), bias.to_contiguous());
    let residual = residual.map(|residual| residual.to_contiguous());
    let &[batch, in_channels, in_height, in_width] = x.layout().shape().as_slice() else {
        unreachable!("the fused convolution takes 4-d input");
    };
    let (out_channels, kernel_h, kernel_w, per_group, transformed) = match *weight.layout().shape().as_slice() {
        [out_channels, per_group, kernel_h, kernel_w] => (out_channels, kernel_h, kernel_w, per_group, false),
        [16, out_channels, _] => (out_channels, 3, 3, in_channels, true),
        _ => unreachable!("the fused convolution takes 4-d or Winograd-transformed weights"),
    };
    let geometry = ConvGeometry {
        batch,
        in_channels,
        in_height,
        in_width,
        out_channels,
        kernel: [kernel_h, kernel_w],
        stride: [stride, stride],
        padding,
    };
    let activation = Activation::from_code(activation);
    // One input channel per filter and a filter per channel: depthwise (groups = channels).
    let fused = if transformed {
        winograd::conv3x3_fused
    } else if in_channels == out_channels && per_group == 1 && in_channels > 1 {
        depthwise_fused
    } else {
        conv2d_fused
    };
    let output =
        fused(values(&x), values(&weight), values(&bias), residual.as_ref().map(values), &geometry, activation);
    let shape = [batch, out_channels, geometry.out_height(), geometry.out_width()];
    flex_tensor(output, shape)
}

/// A contiguous float32 tensor's values, for the kernels.
fn values(tensor: &FlexTensor) -> &[f32] {
    tensor.as_slice::<f32>().expect("contiguous float32")
}

/// A kernel's output as a tensor of `shape`.
fn flex_tensor(values: Vec<f32>, shape: impl Into<burn::tensor::Shape>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

/// Whether `conv` is a depthwise convolution our kernels compute (one filter per channel, a
/// kernel [`depthwise::supports`]); dilation and strides are checked where it is used.
fn is_fused_depthwise(conv: &Conv2d) -> bool {
    let [out_channels, channels_per_group, ..] = conv.weight.dims();
    conv.groups == out_channels && channels_per_group == 1 && out_channels > 1 && depthwise::supports(conv.kernel_size)
}

/// On the CPU backend, the weights of a 3×3 stride-1 convolution (groups 1, no dilation)
/// transformed once for Winograd's method, to be passed to [`conv2d_activation`] with it on every
/// forward pass; `None` for other convolutions and backends.
pub fn winograd_weights(conv: &Conv2d) -> Option<Tensor<3>> {
    let weight = conv.weight.val();
    let winograd = winograd::applies(conv.kernel_size, conv.stride) && conv.groups == 1 && conv.dilation == [1, 1];
    (winograd && crate::backend::is_cpu(&weight.device())).then(|| {
        Tensor::from_dispatch(<burn::backend::Dispatch as FusedConvBackend>::winograd_transform(weight.into_dispatch()))
    })
}

/// `activation(conv(x) + residual)` for a convolution with bias (a folded one): fused on the CPU
/// backend where the convolution is plain (groups 1, no dilation, equal strides), with its
/// `transformed` weights where [`winograd_weights`] made them; Burn's operations otherwise.
pub fn conv2d_activation(
    conv: &Conv2d,
    transformed: Option<&Tensor<3>>,
    x: Tensor<4>,
    residual: Option<Tensor<4>>,
    activation: Activation,
) -> Tensor<4> {
    let on_flex = crate::backend::is_cpu(&x.device());
    let plain =
        (conv.groups == 1 || is_fused_depthwise(conv)) && conv.dilation == [1, 1] && conv.stride[0] == conv.stride[1];
    match (&conv.bias, on_flex && plain) {
        (Some(bias), true) => {
            let [_, _, height, width] = x.dims();
            let [top, left, bottom, right] = padding(conv, height, width);
            let code = activation as u8;
            let weight = match transformed {
                Some(transformed) => transformed.clone().into_dispatch(),
                None => conv.weight.val().into_dispatch(),
            };
            let (x, bias) = (x.into_dispatch(), bias.val().into_dispatch());
            let stride = conv.stride[0];
            Tensor::from_dispatch(match residual {
                None => <burn::backend::Dispatch as FusedConvBackend>::fused_conv2d(
                    x, weight, bias, stride, top, left, bottom, right, code,
                ),
                Some(residual) => <burn::backend::Dispatch as FusedConvBackend>::fused_conv2d_residual(
                    x,
                    weight,
                    bias,
                    residual.into_dispatch(),
                    stride,
                    top,
                    left,
                    bottom,
                    right,
                    code,
                ),
            })
        }
        _ => add_and_activate(conv.forward(x), residual, activation),
    }
}

/// Top, left, bottom and right padding of `conv` on a `height × width` input, as Burn's `Conv2d`
/// computes it (for "same", the odd pixel goes to the bottom and right, as in TensorFlow).
fn padding(conv: &Conv2d, height: usize, width: usize) -> [usize; 4] {
    let same = |kernel: usize, stride: usize, size: usize| {
        let total = ((size.div_ceil(stride).max(1) - 1) * stride + kernel).saturating_sub(size);
        (total / 2, total - total / 2)
    };
    match conv.padding {
        PaddingConfig2d::Valid => [0; 4],
        PaddingConfig2d::Explicit(top, left, bottom, right) => [top, left, bottom, right],
        PaddingConfig2d::Same => {
            let (top, bottom) = same(conv.kernel_size[0], conv.stride[0], height);
            let (left, right) = same(conv.kernel_size[1], conv.stride[1], width);
            [top, left, bottom, right]
        }
    }
}

/// `activation(out + residual)` with Burn's operations.
pub fn add_and_activate(out: Tensor<4>, residual: Option<Tensor<4>>, activation: Activation) -> Tensor<4> {
    let out = match residual {
        Some(residual) => out + residual,
        None => out,
    };
    match activation {
        Activation::Identity => out,
        Activation::Relu => relu(out),
        Activation::Relu6 => relu6(out),
        Activation::Hardswish => hard_swish(out),
        Activation::Silu => silu(out),
    }
}
