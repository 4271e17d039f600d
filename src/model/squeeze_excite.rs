//! torchvision's `SqueezeExcitation` as MobileNetV3 uses it: each channel of the input scaled by
//! a gate computed from all channels' means (1×1 convolution, ReLU, 1×1 convolution, Hardsigmoid).

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::Tensor;
use burn::tensor::activation::{hard_sigmoid, relu};

use super::ParamSource;

/// # Shapes
/// `[B, C, H, W] → [B, C, H, W]`
#[derive(Module, Debug)]
pub struct SqueezeExcite {
    pub fc1: Conv2d,
    pub fc2: Conv2d,
}

impl SqueezeExcite {
    /// `channels` → `squeezed` → `channels`, under the keys of `fc1` and `fc2`.
    pub fn build(source: &mut impl ParamSource, fc1: &str, fc2: &str, channels: usize, squeezed: usize) -> Self {
        Self {
            fc1: source.conv2d(fc1, &Conv2dConfig::new([channels, squeezed], [1, 1])),
            fc2: source.conv2d(fc2, &Conv2dConfig::new([squeezed, channels], [1, 1])),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let means = x.clone().mean_dim(2).mean_dim(3);
        // PyTorch's Hardsigmoid: relu6(x + 3) / 6.
        let gate = hard_sigmoid(self.fc2.forward(relu(self.fc1.forward(means))), 1.0 / 6.0, 0.5);
        x * gate
    }
}
