//! Backbone plus classification head, as torchvision's `resnet18` with its `fc` replaced; and
//! what a weights file holds before that: a backbone, with or without its head.

use burn::module::{Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use super::{Architecture, Backbone, FreshInit, ParamSource};
use crate::error::{Error, Result};
use crate::weights::ModelCard;

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

/// A new head with its initial weights drawn now, from the device's generator as the caller just
/// seeded it, rather than at first use (Burn initialises lazily), when other work may have drawn
/// from it in between: so that a seeded run repeats exactly.
pub fn new_head(features: usize, num_classes: usize, device: &Device) -> Linear {
    let head = head_config(features, num_classes).init(device);
    let _ = (head.weight.val(), head.bias.as_ref().map(Param::val));
    head
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

    /// `backbone` with a fresh head for `num_classes` classes, as the transfer-learning recipe
    /// replaces `fc`.
    pub fn with_new_head(backbone: Backbone, num_classes: usize, device: &Device) -> Self {
        let fc = new_head(backbone.architecture().features(), num_classes, device);
        Self { backbone, fc }
    }

    pub fn num_classes(&self) -> usize {
        self.fc.weight.dims()[1]
    }

    /// The same model with its logits divided by `temperature` (the head's weight and bias
    /// scaled), so that a plain softmax of its output gives the calibrated probabilities.
    pub fn tempered(&self, temperature: f32) -> Self {
        let mut fc = self.fc.clone();
        fc.weight = fc.weight.map(|weight| weight / temperature);
        fc.bias = fc.bias.map(|bias| bias.map(|bias| bias / temperature));
        Self { backbone: self.backbone.clone(), fc }
    }

    /// # Shapes
    /// `[B, 3, H, W] → [B, num_classes]`
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.fc.forward(self.backbone.forward(images))
    }
}

/// Pretrained weights as loaded: the backbone, and the classification head when the file has one
/// (a feature extractor's file, such as the offline MobileNetV2's, has none); for a model exported
/// by this tool, its card with the class names.
#[derive(Debug, Clone)]
pub struct Pretrained {
    pub backbone: Backbone,
    pub head: Option<Linear>,
    pub card: Option<ModelCard>,
}

impl Pretrained {
    pub fn architecture(&self) -> Architecture {
        self.backbone.architecture()
    }

    /// Classes of the stored head; `None` for a backbone-only file.
    pub fn num_classes(&self) -> Option<usize> {
        self.head.as_ref().map(|fc| fc.weight.dims()[1])
    }

    /// The model with its stored head, for predicting before any training.
    pub fn classifier(&self) -> Result<ImageClassifier> {
        match &self.head {
            Some(fc) => Ok(ImageClassifier { backbone: self.backbone.clone(), fc: fc.clone() }),
            None => Err(Error::NoPretrainedHead { architecture: self.architecture().name() }),
        }
    }
}

impl From<ImageClassifier> for Pretrained {
    fn from(model: ImageClassifier) -> Self {
        Self { backbone: model.backbone, head: Some(model.fc), card: None }
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
        let model = ImageClassifier::with_new_head(model.backbone, 3, &device);
        assert_eq!(model.num_classes(), 3);
        assert_eq!(model.forward(Tensor::zeros([1, 3, 32, 32], &device)).dims(), [1, 3]);
    }

    #[test]
    fn a_tempered_model_divides_its_logits() {
        let device = Device::flex();
        let model = ImageClassifier::random(Architecture::ResNet18, 4, &device);
        let images = Tensor::<4>::ones([2, 3, 32, 32], &device);
        let expected = model.forward(images.clone()) / 2.5;
        model
            .tempered(2.5)
            .forward(images)
            .into_data()
            .assert_approx_eq::<f32>(&expected.into_data(), burn::tensor::Tolerance::rel_abs(1e-5, 1e-6));
    }

    #[test]
    fn a_backbone_without_head_cannot_predict_until_trained() {
        let device = Device::flex();
        let backbone = ImageClassifier::random(Architecture::MobileNetV2, 2, &device).backbone;
        let pretrained = Pretrained { backbone, head: None, card: None };
        assert_eq!(pretrained.num_classes(), None);
        let message = pretrained.classifier().unwrap_err().to_string();
        assert!(message.contains("MobileNetV2") && message.contains("train"), "{message}");
    }
}
