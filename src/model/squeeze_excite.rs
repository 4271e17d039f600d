//! torchvision's `SqueezeExcitation`: each channel of the input scaled by a gate computed from all
//! channels' means (1×1 convolution, activation, 1×1 convolution, gate). MobileNetV3 squeezes to a
//! quarter of the expanded width (rounded to a multiple of 8) with ReLU and a Hardsigmoid gate;
//! EfficientNet-B0 to a quarter of the block's input with SiLU and a sigmoid gate.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::Tensor;
use burn::tensor::activation::{hard_sigmoid, sigmoid};

use super::{ParamSource, make_divisible};
use crate::kernels::{Activation, add_and_activate};

/// How wide the squeeze is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Squeeze {
    /// `make_divisible(expanded / 4)` (MobileNetV3).
    QuarterOfExpanded,
    /// `max(1, input / 4)`, of the block's input (EfficientNet).
    QuarterOfInput,
}

/// What turns the excitation into a scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// PyTorch's `relu6(x + 3) / 6`.
    Hardsigmoid,
    Sigmoid,
}

/// The layout of a network's squeeze-excitations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqueezeExciteSpec {
    pub squeeze: Squeeze,
    pub activation: Activation,
    pub gate: Gate,
}

impl SqueezeExciteSpec {
    /// Width of the squeeze in a block taking `input` channels, expanded to `expanded`.
    pub fn squeezed(&self, input: usize, expanded: usize) -> usize {
        match self.squeeze {
            Squeeze::QuarterOfExpanded => make_divisible(expanded / 4),
            Squeeze::QuarterOfInput => (input / 4).max(1),
        }
    }
}

/// # Shapes
/// `[B, C, H, W] → [B, C, H, W]`
#[derive(Module, Debug)]
pub struct SqueezeExcite {
    pub fc1: Conv2d,
    pub fc2: Conv2d,
    #[module(skip)]
    pub activation: Activation,
    #[module(skip)]
    pub gate: Gate,
}

impl SqueezeExcite {
    /// `channels` → `squeezed` → `channels`, under the keys of `fc1` and `fc2`.
    pub fn build(
        source: &mut impl ParamSource,
        [fc1, fc2]: [&str; 2],
        spec: &SqueezeExciteSpec,
        channels: usize,
        squeezed: usize,
    ) -> Self {
        Self {
            fc1: source.conv2d(fc1, &Conv2dConfig::new([channels, squeezed], [1, 1])),
            fc2: source.conv2d(fc2, &Conv2dConfig::new([squeezed, channels], [1, 1])),
            activation: spec.activation,
            gate: spec.gate,
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let means = x.clone().mean_dim(2).mean_dim(3);
        let excitation = self.fc2.forward(add_and_activate(self.fc1.forward(means), None, self.activation));
        let gate = match self.gate {
            Gate::Hardsigmoid => hard_sigmoid(excitation, 1.0 / 6.0, 0.5),
            Gate::Sigmoid => sigmoid(excitation),
        };
        x * gate
    }
}
