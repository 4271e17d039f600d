//! BatchNorm in training and the activation after it, on the CPU backend, as one autodiff
//! operation over our kernels (`browser_finetune_kernels::batch_norm`: two passes each way instead
//! of Burn's transposes and dozen element-wise passes). Evaluation mode and frozen layers run
//! Burn's BatchNorm and activations; training elsewhere (WebGPU) Burn's `batch_norm_train`. Either
//! way the running variance is updated with the unbiased batch variance, as PyTorch does.
//!
//! On the CPU a batch may be split across engines ([`sharing`]): its statistics and gradient sums
//! are then the whole batch's (the kernel adds the shares' sums up), as on one engine.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::FlexTensor;
use burn::backend::{AutodiffBackend, Backend, Flex, backend_extension, tensor::FloatTensor};
use burn::nn::BatchNorm;
use burn::tensor::Tensor;
use std::cell::RefCell;
use std::rc::Rc;

use super::{flex_tensor, values};
use browser_finetune_kernels::Activation;
use browser_finetune_kernels::batch_norm::{self, NormGeometry};

/// BatchNorm in training mode over `[batch, channels, …]`, its statistics taken over all but the
/// channel axis (the batch mean and the biased variance, as Burn's `batch_norm_train`), followed by
/// the activation of code `activation` (as [`Activation`]'s).
#[backend_extension(Flex, Autodiff)]
pub trait TrainingNormBackend: Backend {
    /// The normalised and activated output, the batch mean `[channels]` and the biased variance
    /// `[channels]`.
    fn batch_norm_train_fused(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        activation: u8,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// The gradients with respect to the input, `gamma` and `beta`, given the output's gradient
    /// `grad` and the statistics the forward pass returned.
    #[allow(clippy::too_many_arguments)]
    fn batch_norm_train_fused_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        activation: u8,
        grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

impl TrainingNormBackend for Flex {
    fn batch_norm_train_fused(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        epsilon: f64,
        activation: u8,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let (x, gamma, beta) = (x.to_contiguous(), gamma.to_contiguous(), beta.to_contiguous());
        let (geometry, shape) = geometry(&x);
        let activation = Activation::from_code(activation);
        let add_up = add_up();
        let result =
            batch_norm::forward(values(&x), values(&gamma), values(&beta), epsilon, geometry, activation, &*add_up);
        (
            flex_tensor(result.output, shape),
            flex_tensor(result.mean, vec![geometry.channels]),
            flex_tensor(result.variance, vec![geometry.channels]),
        )
    }

    fn batch_norm_train_fused_backward(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        mean: FlexTensor,
        variance: FlexTensor,
        epsilon: f64,
        activation: u8,
        grad: FlexTensor,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let [x, gamma, beta, mean, variance, grad] = [x, gamma, beta, mean, variance, grad].map(|t| t.to_contiguous());
        let (geometry, shape) = geometry(&x);
        let grads = batch_norm::backward(
            values(&x),
            values(&grad),
            values(&gamma),
            values(&beta),
            values(&mean),
            values(&variance),
            epsilon,
            geometry,
            Activation::from_code(activation),
            &*add_up(),
        );
        let channels = vec![geometry.channels];
        (flex_tensor(grads.input, shape), flex_tensor(grads.gamma, channels.clone()), flex_tensor(grads.beta, channels))
    }
}

impl<B: TrainingNormBackend, C: CheckpointStrategy> TrainingNormBackend for Autodiff<B, C> {
    fn batch_norm_train_fused(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        activation: u8,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        /// Keeps the input and parameters (checkpointed) and the statistics for the backward pass.
        #[derive(Debug)]
        struct FusedBatchNorm;

        impl<B: TrainingNormBackend> Backward<B, 3> for FusedBatchNorm {
            type State = ([NodeId; 3], B::FloatTensorPrimitive, B::FloatTensorPrimitive, f64, u8);

            fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
                let [node_x, node_gamma, node_beta] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let (inputs, mean, variance, epsilon, activation) = ops.state;
                let [x, gamma, beta] =
                    inputs.map(|state| checkpointer.retrieve_node_output::<B::FloatTensorPrimitive>(state));
                let (x_grad, gamma_grad, beta_grad) =
                    B::batch_norm_train_fused_backward(x, gamma, beta, mean, variance, epsilon, activation, grad);
                for (node, grad) in [(node_x, x_grad), (node_gamma, gamma_grad), (node_beta, beta_grad)] {
                    if let Some(node) = node {
                        grads.register::<B>(node.id, grad);
                    }
                }
            }
        }

        let nodes = [x.node(), gamma.node(), beta.node()];
        match FusedBatchNorm.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let inputs = [prep.checkpoint(&x), prep.checkpoint(&gamma), prep.checkpoint(&beta)];
                let (output, mean, variance) = B::batch_norm_train_fused(
                    x.into_primitive(),
                    gamma.into_primitive(),
                    beta.into_primitive(),
                    epsilon,
                    activation,
                );
                let state = (inputs, mean.clone(), variance.clone(), epsilon, activation);
                (prep.finish(state, output), Self::from_inner(mean), Self::from_inner(variance))
            }
            OpsKind::UnTracked(prep) => {
                let (output, mean, variance) = B::batch_norm_train_fused(
                    x.into_primitive(),
                    gamma.into_primitive(),
                    beta.into_primitive(),
                    epsilon,
                    activation,
                );
                (prep.finish(output), Self::from_inner(mean), Self::from_inner(variance))
            }
        }
    }

    /// The gradients as plain values: they are not differentiated again.
    fn batch_norm_train_fused_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
        activation: u8,
        grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (x_grad, gamma_grad, beta_grad) = B::batch_norm_train_fused_backward(
            x.into_primitive(),
            gamma.into_primitive(),
            beta.into_primitive(),
            mean.into_primitive(),
            variance.into_primitive(),
            epsilon,
            activation,
            grad.into_primitive(),
        );
        (Self::from_inner(x_grad), Self::from_inner(gamma_grad), Self::from_inner(beta_grad))
    }
}

/// `activation(bn(x))`, as PyTorch's BatchNorm and activation compute it, with PyTorch's update
/// of the running statistics; in training on the CPU backend as one operation
/// ([`TrainingNormBackend`]), elsewhere through Burn's `batch_norm_train`.
///
/// # Shapes
/// `[batch, channels, height, width]`, both ways
pub fn batch_norm(bn: &BatchNorm, x: Tensor<4>, activation: Activation) -> Tensor<4> {
    let device = x.device();
    if !(device.is_autodiff() && bn.training.is_enabled()) {
        return super::add_and_activate(bn.forward(x), None, activation);
    }
    let [batch, _, height, width] = x.dims();
    let (output, mean, variance) = if crate::backend::is_cpu(&device.clone().inner()) {
        let (output, mean, variance) = <burn::backend::Dispatch as TrainingNormBackend>::batch_norm_train_fused(
            x.into_dispatch(),
            bn.gamma.val().into_dispatch(),
            bn.beta.val().into_dispatch(),
            bn.epsilon,
            activation as u8,
        );
        (Tensor::from_dispatch(output), Tensor::<1>::from_dispatch(mean), Tensor::<1>::from_dispatch(variance))
    } else {
        let trained = burn::tensor::module::batch_norm_train(x, bn.gamma.val(), bn.beta.val(), bn.epsilon);
        (super::add_and_activate(trained.output, None, activation), trained.mean, trained.variance)
    };
    // running = (1 − momentum) · running + momentum · batch, the batch's variance unbiased as
    // PyTorch keeps it (the normalisation itself uses the biased one; Burn's BatchNorm keeps that).
    let count = SHARING.with_borrow(|sharing| sharing.as_ref().map_or(batch, |sharing| sharing.batch)) * height * width;
    let unbiased = if count > 1 { count as f64 / (count - 1) as f64 } else { 1.0 };
    let running_mean = bn.running_mean.value_sync().to_device(&device);
    let running_var = bn.running_var.value_sync().to_device(&device);
    let momentum = bn.momentum;
    bn.running_mean.update((running_mean.mul_scalar(1.0 - momentum) + mean.detach().mul_scalar(momentum)).detach());
    bn.running_var
        .update((running_var.mul_scalar(1.0 - momentum) + variance.detach().mul_scalar(momentum * unbiased)).detach());
    output
}

/// How an engine adds its per-channel sums over its share of a batch up with the other engines'
/// (the kernel's `AddUp`, kept for a pass).
pub type AddUp = Rc<dyn Fn(&mut [f64])>;

/// A batch split across engines, each holding a share: the whole batch's size and this engine's
/// add-up.
struct Sharing {
    batch: usize,
    add_up: AddUp,
}

thread_local! {
    /// Set by [`sharing`] for the forward and backward passes of a share (the fused BatchNorm runs
    /// deep inside Burn's autodiff, where no argument of ours reaches it).
    static SHARING: RefCell<Option<Sharing>> = const { RefCell::new(None) };
}

/// Runs `pass` (a forward and backward pass on this thread) as one engine's share of a batch of
/// `batch` images: every training BatchNorm on the CPU normalises with the whole batch's
/// statistics, which `add_up` computes by adding this engine's per-channel sums to the other
/// engines' (in the same order on each engine, so that all get the same values).
pub fn sharing<R>(batch: usize, add_up: AddUp, pass: impl FnOnce() -> R) -> R {
    /// Clears the setting however the pass ends.
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            SHARING.set(None);
        }
    }
    SHARING.set(Some(Sharing { batch, add_up }));
    let _reset = Reset;
    pass()
}

/// The add-up of the share being computed on this thread; an engine alone keeps its sums.
fn add_up() -> AddUp {
    SHARING
        .with_borrow(|sharing| sharing.as_ref().map(|sharing| sharing.add_up.clone()))
        .unwrap_or_else(|| Rc::new(batch_norm::alone))
}

/// The sizes of `[batch, channels, …]` activations for the kernels, and their shape.
fn geometry(x: &FlexTensor) -> (NormGeometry, Vec<usize>) {
    let shape = x.layout().shape().as_slice().to_vec();
    let (batch, channels) = (shape[0], shape[1]);
    let plane = shape[2..].iter().product();
    (NormGeometry { batch, channels, plane }, shape)
}

#[cfg(test)]
mod tests {
    use burn::module::Module;
    use burn::nn::BatchNormConfig;
    use burn::tensor::{Device, Distribution, TensorData, Tolerance};

    use super::*;

    /// On the CPU in training, the fused BatchNorm and activation compute Burn's output,
    /// gradients (input, gamma, beta) and running mean, and PyTorch's running variance (Burn's
    /// with the batch variance unbiased).
    #[test]
    fn the_fused_batch_norm_trains_as_burns_and_keeps_pytorchs_running_variance() {
        for activation in
            [Activation::Identity, Activation::Relu, Activation::Relu6, Activation::Hardswish, Activation::Silu]
        {
            let device = Device::flex().autodiff();
            device.seed(4);
            let x = Tensor::<4>::random([3, 5, 6, 7], Distribution::Normal(0.5, 2.0), &device);
            let weights = Tensor::<4>::random([3, 5, 6, 7], Distribution::Normal(0.0, 1.0), &device);
            let run = |fused: bool| {
                // A BatchNorm of its own: clones would share their running statistics.
                let (bn, x) = (BatchNormConfig::new(5).init(&device).train(), x.clone().require_grad());
                let out = if fused {
                    batch_norm(&bn, x.clone(), activation)
                } else {
                    crate::kernels::add_and_activate(bn.forward(x.clone()), None, activation)
                };
                let grads = (out.clone() * weights.clone()).sum().backward();
                let grad_of = |tensor: &Tensor<1>| tensor.grad(&grads).map(|g| g.into_data());
                (
                    out.inner().into_data(),
                    x.grad(&grads).map(|g| g.into_data()),
                    grad_of(&bn.gamma.val()),
                    grad_of(&bn.beta.val()),
                    bn.running_mean.value_sync().into_data(),
                    bn.running_var.value_sync().into_data(),
                )
            };
            let (fused, burns) = (run(true), run(false));
            let close = Tolerance::absolute(1e-4);
            fused.0.assert_approx_eq::<f32>(&burns.0, close);
            fused.1.expect("an input gradient").assert_approx_eq::<f32>(&burns.1.expect("Burn's"), close);
            fused.2.expect("a gamma gradient").assert_approx_eq::<f32>(&burns.2.expect("Burn's"), close);
            fused.3.expect("a beta gradient").assert_approx_eq::<f32>(&burns.3.expect("Burn's"), close);
            fused.4.assert_approx_eq::<f32>(&burns.4, close);
            // Both start from 1 with momentum 0.1: Burn's is 0.9 + 0.1 · biased, PyTorch's
            // 0.9 + 0.1 · biased · n / (n − 1), n = 3 · 6 · 7 values per channel.
            let n = (3 * 6 * 7) as f32;
            let burns_var = burns.5.try_to_vec::<f32>().expect("f32");
            // Trained, not evaluated: the running variance moved from its start.
            assert!(burns_var.iter().all(|v| (v - 1.0).abs() > 1e-3), "{burns_var:?}");
            let pytorchs: Vec<f32> = burns_var.iter().map(|v| 0.9 + (v - 0.9) * n / (n - 1.0)).collect();
            fused.5.assert_approx_eq::<f32>(&TensorData::new(pytorchs, [5]), close);
        }
    }
}
