//! Depthwise convolutions in training, on the CPU backend, as one autodiff operation over our
//! kernels (`browser_finetune_kernels::depthwise`): Burn's grouped convolution unfolds each
//! channel's patches and multiplies them one group at a time, forward and backward, which took
//! about a fifth of MobileNetV2's full fine-tuning natively; ours computes every output, input
//! gradient and weight gradient directly. Other backends (WebGPU), other kernel sizes and frozen
//! folded layers run as before.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::FlexTensor;
use burn::backend::{AutodiffBackend, Backend, Flex, backend_extension, tensor::FloatTensor};
use burn::nn::conv::Conv2d;
use burn::tensor::Tensor;

use super::{flex_tensor, is_fused_depthwise, values};
use browser_finetune_kernels::depthwise::{self, depthwise_backward_input, depthwise_backward_weight};
use browser_finetune_kernels::{Activation, ConvGeometry};

/// A depthwise convolution without bias (`weight` `[channels, 1, k, k]`), `padding` top, left,
/// bottom, right, and its gradients.
#[backend_extension(Flex, Autodiff)]
pub trait TrainingDepthwiseBackend: Backend {
    fn depthwise_conv_train(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: usize,
        padding: [usize; 4],
    ) -> FloatTensor<Self>;

    /// The gradients with respect to the input and the weight, given the output's `grad`.
    fn depthwise_conv_train_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        stride: usize,
        padding: [usize; 4],
    ) -> (FloatTensor<Self>, FloatTensor<Self>);
}

impl TrainingDepthwiseBackend for Flex {
    fn depthwise_conv_train(x: FlexTensor, weight: FlexTensor, stride: usize, padding: [usize; 4]) -> FlexTensor {
        let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
        let g = geometry(&x, &weight, stride, padding);
        let no_bias = vec![0.0; g.in_channels];
        let output = depthwise::depthwise_fused(values(&x), values(&weight), &no_bias, None, &g, Activation::Identity);
        flex_tensor(output, vec![g.batch, g.in_channels, g.out_height(), g.out_width()])
    }

    fn depthwise_conv_train_backward(
        x: FlexTensor,
        weight: FlexTensor,
        grad: FlexTensor,
        stride: usize,
        padding: [usize; 4],
    ) -> (FlexTensor, FlexTensor) {
        let [x, weight, grad] = [x, weight, grad].map(|t| t.to_contiguous());
        let g = geometry(&x, &weight, stride, padding);
        let input_grad = depthwise_backward_input(values(&grad), values(&weight), &g);
        let weight_grad = depthwise_backward_weight(values(&x), values(&grad), &g);
        (
            flex_tensor(input_grad, x.layout().shape().as_slice().to_vec()),
            flex_tensor(weight_grad, weight.layout().shape().as_slice().to_vec()),
        )
    }
}

impl<B: TrainingDepthwiseBackend, C: CheckpointStrategy> TrainingDepthwiseBackend for Autodiff<B, C> {
    fn depthwise_conv_train(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stride: usize,
        padding: [usize; 4],
    ) -> FloatTensor<Self> {
        /// Keeps the input and the weight (checkpointed) for the backward pass.
        #[derive(Debug)]
        struct DepthwiseConv;

        impl<B: TrainingDepthwiseBackend> Backward<B, 2> for DepthwiseConv {
            type State = ([NodeId; 2], usize, [usize; 4]);

            fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
                let [node_x, node_weight] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (inputs, stride, padding) = ops.state;
                let [x, weight] =
                    inputs.map(|state| checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(state));
                let (x_grad, weight_grad) = B::depthwise_conv_train_backward(x, weight, grad, stride, padding);
                for (node, grad) in [(node_x, x_grad), (node_weight, weight_grad)] {
                    if let Some(node) = node {
                        grads.register::<B>(node.id, grad);
                    }
                }
            }
        }

        let nodes = [x.node(), weight.node()];
        match DepthwiseConv.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let inputs = [prep.checkpoint(&x), prep.checkpoint(&weight)];
                let output = B::depthwise_conv_train(x.into_primitive(), weight.into_primitive(), stride, padding);
                prep.finish((inputs, stride, padding), output)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::depthwise_conv_train(x.into_primitive(), weight.into_primitive(), stride, padding))
            }
        }
    }

    fn depthwise_conv_train_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        stride: usize,
        padding: [usize; 4],
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (x_grad, weight_grad) = B::depthwise_conv_train_backward(
            x.into_primitive(),
            weight.into_primitive(),
            grad.into_primitive(),
            stride,
            padding,
        );
        (Self::from_inner(x_grad), Self::from_inner(weight_grad))
    }
}

/// `conv(x)` of a convolution being trained: through our depthwise operation on the CPU backend
/// where the convolution is one (3×3 or 5×5, equal strides, no dilation), Burn's otherwise.
///
/// # Shapes
/// `[batch, channels, height, width]` → `[batch, out_channels, out_height, out_width]`
pub fn conv2d_train(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let device = x.device();
    let ours = device.is_autodiff()
        && crate::backend::is_cpu(&device.clone().inner())
        && is_fused_depthwise(conv)
        && conv.dilation == [1, 1]
        && conv.stride[0] == conv.stride[1];
    if !ours {
        return conv.forward(x);
    }
    let [_, _, height, width] = x.dims();
    let padding = super::padding(conv, height, width);
    let output =
        Tensor::<4>::from_dispatch(<burn::backend::Dispatch as TrainingDepthwiseBackend>::depthwise_conv_train(
            x.into_dispatch(),
            conv.weight.val().into_dispatch(),
            conv.stride[0],
            padding,
        ));
    match &conv.bias {
        Some(bias) => output + bias.val().reshape([1, conv.weight.dims()[0], 1, 1]),
        None => output,
    }
}

fn geometry(x: &FlexTensor, weight: &FlexTensor, stride: usize, padding: [usize; 4]) -> ConvGeometry {
    let &[batch, channels, in_height, in_width] = x.layout().shape().as_slice() else {
        unreachable!("a depthwise convolution takes 4-d input");
    };
    let &[_, _, kernel_h, kernel_w] = weight.layout().shape().as_slice() else {
        unreachable!("a depthwise convolution takes 4-d weights");
    };
    ConvGeometry {
        batch,
        in_channels: channels,
        in_height,
        in_width,
        out_channels: channels,
        kernel: [kernel_h, kernel_w],
        stride: [stride, stride],
        padding,
    }
}

#[cfg(test)]
mod tests {
    use burn::nn::PaddingConfig2d;
    use burn::nn::conv::Conv2dConfig;
    use burn::tensor::{Device, Distribution, Tolerance};

    use super::*;

    /// On the CPU in training, ours computes Burn's grouped convolution: the output and the
    /// gradients of the input and the weight, for the mobile networks' depthwise shapes (3×3 and
    /// 5×5, strides 1 and 2), with and without a bias.
    #[test]
    fn depthwise_training_computes_what_burns_grouped_convolution_computes() {
        for (kernel, stride, bias) in [(3, 1, false), (3, 2, false), (5, 1, false), (5, 2, true)] {
            let device = Device::flex().autodiff();
            device.seed(5);
            let half = kernel / 2;
            let conv = Conv2dConfig::new([6, 6], [kernel, kernel])
                .with_stride([stride, stride])
                .with_groups(6)
                .with_padding(PaddingConfig2d::Explicit(half, half, half, half))
                .with_bias(bias)
                .init(&device);
            let x = Tensor::<4>::random([2, 6, 11, 10], Distribution::Normal(0.0, 1.0), &device);
            let out_size = |size: usize| (size + 2 * half - kernel) / stride + 1;
            let weights =
                Tensor::<4>::random([2, 6, out_size(11), out_size(10)], Distribution::Normal(0.0, 1.0), &device);
            let run = |ours: bool| {
                let x = x.clone().require_grad();
                let out = if ours { conv2d_train(&conv, x.clone()) } else { conv.forward(x.clone()) };
                let grads = (out.clone() * weights.clone()).sum().backward();
                (
                    out.inner().into_data(),
                    x.grad(&grads).map(|g| g.into_data()),
                    conv.weight.val().grad(&grads).map(|g| g.into_data()),
                    conv.bias.as_ref().and_then(|b| b.val().grad(&grads)).map(|g| g.into_data()),
                )
            };
            let (ours, burns) = (run(true), run(false));
            let close = Tolerance::absolute(1e-4);
            ours.0.assert_approx_eq::<f32>(&burns.0, close);
            ours.1.expect("an input gradient").assert_approx_eq::<f32>(&burns.1.expect("Burn's"), close);
            ours.2
                .expect("a weight gradient")
                .assert_approx_eq::<f32>(&burns.2.expect("Burn's"), Tolerance::absolute(1e-3));
            assert_eq!(ours.3.is_some(), bias);
            if let (Some(ours), Some(burns)) = (ours.3, burns.3) {
                ours.assert_approx_eq::<f32>(&burns, close);
            }
        }
    }
}
