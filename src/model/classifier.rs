//! Backbone plus classification head, as torchvision's `resnet18` with its `fc` replaced.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use super::{Architecture, Backbone, FreshInit, ParamSource};

/// The ImageNet head that torchvision ships.
pub const IMAGENET_CLASSES: usize = 1000;

/// A backbone with a linear head for `num_classes` classes.
///
/// # Shapes
/// - input: `[batch, 3, height, width]`, normalised as the backbone expects
/// - output: `[batch, num_classes]` logits
#[derive(Module, Debug)]
pub struct ImageClassifier {
    pub backbone: Backbone,
    /// torchvision's `fc` (EfficientNet's `_fc`): `Linear(features, num_classes)`.
    pub fc: Linear,
}

/// The head's shape: the backbone's features in, one logit per class out.
pub fn head_config(features: usize, num_classes: usize) -> LinearConfig {
    LinearConfig::new(features, num_classes)
}

impl ImageClassifier {
    /// Builds backbone and head from `source`; the head is read under the architecture's key.
    pub fn build(source: &mut impl ParamSource, architecture: Architecture, num_classes: usize) -> Self {
        let backbone = architecture.build(source);
        let fc = source.linear(architecture.head_key(), &head_config(architecture.features(), num_classes));
        Self { backbone, fc }
    }

    /// A freshly initialised model (random weights), for tests and the explicit "no weights" choice.
    pub fn random(architecture: Architecture, num_classes: usize, device: &Device) -> Self {
        Self::build(&mut FreshInit::new(device), architecture, num_classes)
    }

    pub fn architecture(&self) -> Architecture {
        self.backbone.architecture()
    }

    /// Replaces `fc` with a fresh head for `num_classes` classes, as the transfer-learning recipe does.
    pub fn with_new_head(self, num_classes: usize, device: &Device) -> Self {
        let fc = head_config(self.architecture().features(), num_classes).init(device);
        Self { backbone: self.backbone, fc }
    }

    pub fn num_classes(&self) -> usize {
        self.fc.weight.dims()[1]
    }

    /// # Shapes
    /// `[B, 3, H, W] → [B, num_classes]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.fc.forward(self.backbone.forward(images))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_head_keeps_the_backbone_and_changes_the_class_count() {
        let device = Device::flex();
        let model = ImageClassifier::random(Architecture::ResNet18, IMAGENET_CLASSES, &device);
        assert_eq!(model.num_classes(), 1000);
        let model = model.with_new_head(3, &device);
        assert_eq!(model.num_classes(), 3);
        assert_eq!(model.forward(Tensor::zeros([1, 3, 32, 32], &device)).dims(), [1, 3]);
    }
}
