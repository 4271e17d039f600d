//! Where a module's parameters come from while it is built.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::tensor::Device;

/// Supplies the parameters of each layer, addressed by its torchvision key prefix
/// (`"layer1.0.conv1"`). Implemented by fresh initialisation and by the weights loader.
pub trait ParamSource {
    fn conv2d(&mut self, key: &str, config: &Conv2dConfig) -> Conv2d;
    fn batch_norm(&mut self, key: &str, config: &BatchNormConfig) -> BatchNorm;
    fn linear(&mut self, key: &str, config: &LinearConfig) -> Linear;
}

/// Burn's default initialisers (Kaiming uniform for conv and linear, ones/zeros for BatchNorm).
pub struct FreshInit {
    device: Device,
}

impl FreshInit {
    pub fn new(device: &Device) -> Self {
        Self { device: device.clone() }
    }
}

impl ParamSource for FreshInit {
    fn conv2d(&mut self, _key: &str, config: &Conv2dConfig) -> Conv2d {
        config.init(&self.device)
    }
    fn batch_norm(&mut self, _key: &str, config: &BatchNormConfig) -> BatchNorm {
        config.init(&self.device)
    }
    fn linear(&mut self, _key: &str, config: &LinearConfig) -> Linear {
        config.init(&self.device)
    }
}
