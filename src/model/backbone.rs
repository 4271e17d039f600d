//! The backbone is a choice: torchvision's ResNet18, torchvision's MobileNetV2 or EfficientNet-Lite0.
//! Everything after the pooled features (heads, strategies, training, the page) is the same for all.

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::{
    EFFICIENTNET_LITE0, FEATURES, InvertedResidualNet, InvertedResidualSpec, MOBILENET_V2, ParamSource, ResNet18,
};
use crate::data::Preprocess;

/// Serialised as its variant's name (`"ResNet18"`), the name a model export's card carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Architecture {
    ResNet18,
    MobileNetV2,
    EfficientNetLite0,
}

impl Architecture {
    pub fn name(self) -> &'static str {
        match self {
            Architecture::ResNet18 => "torchvision ResNet18",
            Architecture::MobileNetV2 => "torchvision MobileNetV2",
            Architecture::EfficientNetLite0 => "EfficientNet-Lite0",
        }
    }

    /// Recognises the architecture of a state_dict from its stem's key; ResNet18 when neither
    /// EfficientNet's nor MobileNetV2's is there, so that an unknown file is reported against
    /// ResNet18's keys.
    pub fn detect<'a>(keys: impl Iterator<Item = &'a str>) -> Self {
        let mut detected = Architecture::ResNet18;
        for key in keys {
            match key {
                "_conv_stem.weight" => detected = Architecture::EfficientNetLite0,
                "features.0.0.weight" => detected = Architecture::MobileNetV2,
                _ => {}
            }
        }
        detected
    }

    /// The spec of the inverted-residual networks; `None` for ResNet18.
    pub fn inverted_residual_spec(self) -> Option<&'static InvertedResidualSpec> {
        match self {
            Architecture::ResNet18 => None,
            Architecture::MobileNetV2 => Some(&MOBILENET_V2),
            Architecture::EfficientNetLite0 => Some(&EFFICIENTNET_LITE0),
        }
    }

    /// Width of the pooled features the head takes.
    pub fn features(self) -> usize {
        match self {
            Architecture::ResNet18 => FEATURES,
            Architecture::MobileNetV2 => MOBILENET_V2.features,
            Architecture::EfficientNetLite0 => EFFICIENTNET_LITE0.features,
        }
    }

    /// Key prefix of the classification head in the weights file (torchvision's MobileNetV2 has
    /// `classifier = Sequential(Dropout, Linear)`).
    pub fn head_key(self) -> &'static str {
        match self {
            Architecture::ResNet18 => "fc",
            Architecture::MobileNetV2 => "classifier.1",
            Architecture::EfficientNetLite0 => "_fc",
        }
    }

    /// The evaluation transforms the weights were trained with: torchvision's ImageNet recipe for
    /// ResNet18 and MobileNetV2; `(x − 127) / 128` on the same 224/256 centre crop for EfficientNet-Lite0 (the
    /// TensorFlow original's crop fraction, with bilinear instead of bicubic resizing).
    pub fn preprocess(self) -> Preprocess {
        match self {
            Architecture::ResNet18 | Architecture::MobileNetV2 => Preprocess::imagenet(),
            Architecture::EfficientNetLite0 => {
                Preprocess { resize_shorter: 256, crop: 224, mean: [127.0 / 255.0; 3], std: [128.0 / 255.0; 3] }
            }
        }
    }

    pub fn build(self, source: &mut impl ParamSource) -> Backbone {
        match self {
            Architecture::ResNet18 => Backbone::ResNet18(ResNet18::build(source)),
            Architecture::MobileNetV2 => Backbone::MobileNetV2(MOBILENET_V2.build(source)),
            Architecture::EfficientNetLite0 => Backbone::EfficientNetLite0(EFFICIENTNET_LITE0.build(source)),
        }
    }
}

/// # Shapes
/// `[batch, 3, H, W] → [batch, features]`
// A model holds one backbone, built once: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Backbone {
    ResNet18(ResNet18),
    MobileNetV2(InvertedResidualNet),
    EfficientNetLite0(InvertedResidualNet),
}

/// The ids of a module's trainable (float) parameters, as the optimiser knows them.
pub fn param_ids(module: &impl Module) -> Vec<ParamId> {
    struct Collector(Vec<ParamId>);
    impl ModuleVisitor for Collector {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.id);
        }
    }
    let mut collector = Collector(Vec::new());
    module.visit(&mut collector);
    collector.0
}

impl Backbone {
    pub fn architecture(&self) -> Architecture {
        match self {
            Backbone::ResNet18(_) => Architecture::ResNet18,
            Backbone::MobileNetV2(_) => Architecture::MobileNetV2,
            Backbone::EfficientNetLite0(_) => Architecture::EfficientNetLite0,
        }
    }

    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        match self {
            Backbone::ResNet18(net) => net.forward(images),
            Backbone::MobileNetV2(net) | Backbone::EfficientNetLite0(net) => net.forward(images),
        }
    }

    /// The same backbone with its BatchNorms folded into the convolutions (see [`super::fold`]):
    /// for extracting features with frozen weights; it cannot be trained or exported.
    pub fn folded(&self) -> Self {
        match self {
            Backbone::ResNet18(net) => Backbone::ResNet18(net.folded()),
            Backbone::MobileNetV2(net) => Backbone::MobileNetV2(net.folded()),
            Backbone::EfficientNetLite0(net) => Backbone::EfficientNetLite0(net.folded()),
        }
    }

    /// The parameters of each of the last `stages` stages, the last stage first, as
    /// [`Backbone::freeze_early_stages`] counts them: for learning rates that fall with depth.
    pub fn stage_params(&self, stages: usize) -> Vec<Vec<ParamId>> {
        match self {
            Backbone::ResNet18(net) => {
                [&net.layer4, &net.layer3, &net.layer2, &net.layer1].into_iter().take(stages).map(param_ids).collect()
            }
            Backbone::MobileNetV2(net) | Backbone::EfficientNetLite0(net) => {
                let Some(spec) = self.architecture().inverted_residual_spec() else { return Vec::new() };
                let starts = spec.stage_starts();
                (0..stages.min(starts.len()))
                    .map(|i| {
                        let first = starts[starts.len() - 1 - i];
                        let end = if i == 0 { net.blocks.len() } else { starts[starts.len() - i] };
                        let mut group = net.blocks[first..end].iter().flat_map(param_ids).collect::<Vec<_>>();
                        // The final 1×1 convolution trains with the last stage.
                        if i == 0 {
                            group.extend(param_ids(&net.head));
                        }
                        group
                    })
                    .collect()
            }
        }
    }

    /// Freezes (no gradients, BatchNorm in evaluation mode) all but the last `trained_stages`
    /// stages: ResNet18's layer1–layer4, the seven block groups of MobileNetV2 and EfficientNet
    /// (their final 1×1 convolution trains with the last stage). The stem is always frozen.
    pub fn freeze_early_stages(self, trained_stages: usize) -> Self {
        let freeze_mobile = |net: InvertedResidualNet, spec: &InvertedResidualSpec| {
            let starts = spec.stage_starts();
            let first_trained = starts[starts.len().saturating_sub(trained_stages.max(1))];
            net.freeze_before(first_trained, trained_stages == 0)
        };
        match self {
            Backbone::ResNet18(net) => {
                let ResNet18 { conv1, bn1, maxpool, layer1, layer2, layer3, layer4, avgpool } = net;
                let first_trained = 4usize.saturating_sub(trained_stages);
                let frozen_if_early = |index: usize, stage: Vec<super::BasicBlock>| {
                    if index < first_trained { stage.freeze() } else { stage }
                };
                Backbone::ResNet18(ResNet18 {
                    conv1: conv1.freeze(),
                    bn1: bn1.freeze(),
                    maxpool,
                    layer1: frozen_if_early(0, layer1),
                    layer2: frozen_if_early(1, layer2),
                    layer3: frozen_if_early(2, layer3),
                    layer4: frozen_if_early(3, layer4),
                    avgpool,
                })
            }
            Backbone::MobileNetV2(net) => Backbone::MobileNetV2(freeze_mobile(net, &MOBILENET_V2)),
            Backbone::EfficientNetLite0(net) => Backbone::EfficientNetLite0(freeze_mobile(net, &EFFICIENTNET_LITE0)),
        }
    }
}
