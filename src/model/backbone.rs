//! The backbone is a choice: torchvision's ResNet18, ResNet34, ResNet50, MobileNetV2,
//! MobileNetV3-Small or -Large, EfficientNet-B0, VGG11-BN, VGG16, AlexNet, DenseNet121 or Inception v3,
//! or EfficientNet-Lite0.
//! Everything after the pooled features (heads, strategies, training, the page) is the same for all.

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::densenet::{DENSENET121, DenseNet};
use super::inception::{INCEPTION_FEATURES, INCEPTION_MIN_INPUT_SIDE, InceptionV3};
use super::plain::{ALEXNET, PLAIN_FEATURES, PlainNet, PlainSpec, VGG11_BN, VGG16};
use super::resnet::{BasicBlock, Bottleneck, MIN_INPUT_SIDE, RESNET18, RESNET34, RESNET50, ResNet};
use super::{
    EFFICIENTNET_B0, EFFICIENTNET_LITE0, InvertedResidualNet, InvertedResidualSpec, MOBILENET_V2, MOBILENET_V3_LARGE,
    MOBILENET_V3_SMALL, ParamSource,
};
use crate::data::{Interpolation, Preprocess};

/// Serialised as its variant's name (`"ResNet18"`), the name a model export's card carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Architecture {
    ResNet18,
    ResNet34,
    ResNet50,
    MobileNetV2,
    MobileNetV3Small,
    MobileNetV3Large,
    EfficientNetLite0,
    EfficientNetB0,
    Vgg11Bn,
    Vgg16,
    AlexNet,
    DenseNet121,
    InceptionV3,
}

impl Architecture {
    /// Every architecture this version runs.
    pub const ALL: [Architecture; 13] = [
        Architecture::ResNet18,
        Architecture::ResNet34,
        Architecture::ResNet50,
        Architecture::MobileNetV2,
        Architecture::MobileNetV3Small,
        Architecture::MobileNetV3Large,
        Architecture::EfficientNetLite0,
        Architecture::EfficientNetB0,
        Architecture::Vgg11Bn,
        Architecture::Vgg16,
        Architecture::AlexNet,
        Architecture::DenseNet121,
        Architecture::InceptionV3,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Architecture::ResNet18 => "torchvision ResNet18",
            Architecture::ResNet34 => "torchvision ResNet34",
            Architecture::ResNet50 => "torchvision ResNet50",
            Architecture::MobileNetV2 => "torchvision MobileNetV2",
            Architecture::MobileNetV3Small => "torchvision MobileNetV3-Small",
            Architecture::MobileNetV3Large => "torchvision MobileNetV3-Large",
            Architecture::EfficientNetLite0 => "EfficientNet-Lite0",
            Architecture::EfficientNetB0 => "torchvision EfficientNet-B0",
            Architecture::Vgg11Bn => "torchvision VGG11-BN",
            Architecture::Vgg16 => "torchvision VGG16",
            Architecture::AlexNet => "torchvision AlexNet",
            Architecture::DenseNet121 => "torchvision DenseNet121",
            Architecture::InceptionV3 => "torchvision Inception v3",
        }
    }

    /// Recognises the architecture of a state_dict from its keys: the stems of EfficientNet-Lite0
    /// and torchvision's inverted-residual networks (MobileNetV3 by its `block` layers, Large by
    /// its 16th feature layer; EfficientNet-B0 by its stages of blocks); the plain
    /// networks by their first convolution, `features.0` (AlexNet by its classifier's first
    /// Linear at index 1, VGG11-BN by a BatchNorm at `features.1`, VGG16 otherwise); DenseNet121 by
    /// its named stem convolution, `features.conv0`; Inception v3 by its first
    /// convolution, `Conv2d_1a_3x3`; else a ResNet
    /// by its blocks (a third convolution: ResNet50; a third block in layer1: ResNet34);
    /// ResNet18 otherwise, so that an unknown file is reported against ResNet18's keys.
    pub fn detect<'a>(keys: impl Iterator<Item = &'a str>) -> Self {
        let (mut stem, mut v3, mut large, mut bottleneck, mut deep) = (None, false, false, false, false);
        let (mut plain, mut alexnet, mut vgg_bn, mut b0) = (false, false, false, false);
        let (mut densenet, mut inception) = (false, false);
        for key in keys {
            match key {
                "_conv_stem.weight" => stem = Some(Architecture::EfficientNetLite0),
                "features.0.0.weight" => stem = Some(Architecture::MobileNetV2),
                "features.1.block.0.0.weight" => v3 = true,
                "features.16.0.weight" => large = true,
                "features.1.0.block.0.0.weight" => b0 = true,
                "features.0.weight" => plain = true,
                "classifier.1.weight" => alexnet = true,
                "features.1.running_mean" => vgg_bn = true,
                "layer1.0.conv3.weight" => bottleneck = true,
                "layer1.2.conv1.weight" => deep = true,
                "features.conv0.weight" => densenet = true,
                "Conv2d_1a_3x3.conv.weight" => inception = true,
                _ => {}
            }
        }
        if stem == Some(Architecture::MobileNetV2) && v3 {
            stem = Some(if large { Architecture::MobileNetV3Large } else { Architecture::MobileNetV3Small });
        }
        if stem == Some(Architecture::MobileNetV2) && b0 {
            stem = Some(Architecture::EfficientNetB0);
        }
        if plain {
            stem = Some(match (alexnet, vgg_bn) {
                (true, _) => Architecture::AlexNet,
                (false, true) => Architecture::Vgg11Bn,
                (false, false) => Architecture::Vgg16,
            });
        }
        if densenet {
            stem = Some(Architecture::DenseNet121);
        }
        if inception {
            stem = Some(Architecture::InceptionV3);
        }
        stem.unwrap_or(match (bottleneck, deep) {
            (true, _) => Architecture::ResNet50,
            (false, true) => Architecture::ResNet34,
            (false, false) => Architecture::ResNet18,
        })
    }

    /// Whether this is one of the ResNets (their stages are `layer1`–`layer4`).
    pub fn is_resnet(self) -> bool {
        matches!(self, Architecture::ResNet18 | Architecture::ResNet34 | Architecture::ResNet50)
    }

    /// The spec of the inverted-residual networks; `None` for the ResNets.
    pub fn inverted_residual_spec(self) -> Option<&'static InvertedResidualSpec> {
        match self {
            Architecture::ResNet18 | Architecture::ResNet34 | Architecture::ResNet50 => None,
            Architecture::MobileNetV2 => Some(&MOBILENET_V2),
            Architecture::MobileNetV3Small => Some(&MOBILENET_V3_SMALL),
            Architecture::MobileNetV3Large => Some(&MOBILENET_V3_LARGE),
            Architecture::EfficientNetLite0 => Some(&EFFICIENTNET_LITE0),
            Architecture::EfficientNetB0 => Some(&EFFICIENTNET_B0),
            Architecture::Vgg11Bn
            | Architecture::Vgg16
            | Architecture::AlexNet
            | Architecture::DenseNet121
            | Architecture::InceptionV3 => None,
        }
    }

    /// The spec of the plain networks (VGG, AlexNet); `None` for the others.
    pub fn plain_spec(self) -> Option<&'static PlainSpec> {
        match self {
            Architecture::Vgg11Bn => Some(&VGG11_BN),
            Architecture::Vgg16 => Some(&VGG16),
            Architecture::AlexNet => Some(&ALEXNET),
            _ => None,
        }
    }

    /// Width of the pooled features the head takes.
    pub fn features(self) -> usize {
        match self {
            Architecture::ResNet18 | Architecture::ResNet34 => ResNet::<BasicBlock>::FEATURES,
            Architecture::ResNet50 => ResNet::<Bottleneck>::FEATURES,
            Architecture::MobileNetV2
            | Architecture::MobileNetV3Small
            | Architecture::MobileNetV3Large
            | Architecture::EfficientNetLite0
            | Architecture::EfficientNetB0 => self.inverted_residual_spec().map_or(0, InvertedResidualSpec::features),
            Architecture::Vgg11Bn | Architecture::Vgg16 | Architecture::AlexNet => PLAIN_FEATURES,
            Architecture::DenseNet121 => DENSENET121.features(),
            Architecture::InceptionV3 => INCEPTION_FEATURES,
        }
    }

    /// Key prefix of the classification head in the weights file (torchvision's MobileNetV2 has
    /// `classifier = Sequential(Dropout, Linear)`).
    pub fn head_key(self) -> &'static str {
        match self {
            Architecture::ResNet18 | Architecture::ResNet34 | Architecture::ResNet50 | Architecture::InceptionV3 => {
                "fc"
            }
            Architecture::MobileNetV2 | Architecture::EfficientNetB0 => "classifier.1",
            // classifier = Sequential(Linear, Hardswish, Dropout, Linear): the first stays with the backbone.
            Architecture::MobileNetV3Small | Architecture::MobileNetV3Large => "classifier.3",
            Architecture::EfficientNetLite0 => "_fc",
            // classifier ends with ReLU, (Dropout,) Linear: the hidden layers stay with the backbone.
            Architecture::Vgg11Bn | Architecture::Vgg16 | Architecture::AlexNet => "classifier.6",
            Architecture::DenseNet121 => "classifier",
        }
    }

    /// The evaluation transforms the weights were trained with: torchvision's ImageNet recipe for
    /// the ResNets and MobileNetV2; `(x − 127) / 128` on the same 224/256 centre crop for EfficientNet-Lite0 (the
    /// TensorFlow original's crop fraction, with bilinear instead of bicubic resizing).
    pub fn preprocess(self) -> Preprocess {
        match self {
            Architecture::ResNet18
            | Architecture::ResNet34
            | Architecture::ResNet50
            | Architecture::MobileNetV2
            | Architecture::MobileNetV3Small
            | Architecture::MobileNetV3Large
            | Architecture::Vgg11Bn
            | Architecture::Vgg16
            | Architecture::AlexNet
            | Architecture::DenseNet121 => Preprocess::imagenet(),
            Architecture::EfficientNetLite0 => {
                Preprocess { mean: [127.0 / 255.0; 3], std: [128.0 / 255.0; 3], ..Preprocess::imagenet() }
            }
            // torchvision's EfficientNet_B0_Weights transforms: bicubic resizing.
            Architecture::EfficientNetB0 => {
                Preprocess { interpolation: Interpolation::Bicubic, ..Preprocess::imagenet() }
            }
            // torchvision's Inception_V3_Weights transforms (Resize 342, CenterCrop 299), ImageNet's
            // normalisation followed by the model's `transform_input`: together `(x − 0.5) / 0.5`.
            Architecture::InceptionV3 => {
                Preprocess { resize_shorter: 342, crop: 299, mean: [0.5; 3], std: [0.5; 3], ..Preprocess::imagenet() }
            }
        }
    }

    pub fn build(self, source: &mut impl ParamSource) -> Backbone {
        match self {
            Architecture::ResNet18 => Backbone::ResNet18(ResNet::build(&RESNET18, source)),
            Architecture::ResNet34 => Backbone::ResNet34(ResNet::build(&RESNET34, source)),
            Architecture::ResNet50 => Backbone::ResNet50(ResNet::build(&RESNET50, source)),
            Architecture::MobileNetV2 => Backbone::MobileNetV2(MOBILENET_V2.build(source)),
            Architecture::MobileNetV3Small => Backbone::MobileNetV3Small(MOBILENET_V3_SMALL.build(source)),
            Architecture::MobileNetV3Large => Backbone::MobileNetV3Large(MOBILENET_V3_LARGE.build(source)),
            Architecture::EfficientNetLite0 => Backbone::EfficientNetLite0(EFFICIENTNET_LITE0.build(source)),
            Architecture::EfficientNetB0 => Backbone::EfficientNetB0(EFFICIENTNET_B0.build(source)),
            Architecture::Vgg11Bn => Backbone::Vgg11Bn(VGG11_BN.build(source)),
            Architecture::Vgg16 => Backbone::Vgg16(VGG16.build(source)),
            Architecture::AlexNet => Backbone::AlexNet(ALEXNET.build(source)),
            Architecture::DenseNet121 => Backbone::DenseNet121(DENSENET121.build(source)),
            Architecture::InceptionV3 => Backbone::InceptionV3(InceptionV3::build(source)),
        }
    }

    /// The smallest input side the network takes: where its last feature map is still 1×1.
    pub fn min_input_side(self) -> usize {
        match self {
            Architecture::InceptionV3 => INCEPTION_MIN_INPUT_SIDE,
            // Its three 3×3 stride-2 max-pools and the stride-4 stem: 63 → 15 → 7 → 3 → 1.
            Architecture::AlexNet => 63,
            _ => MIN_INPUT_SIDE,
        }
    }
}

/// # Shapes
/// `[batch, 3, H, W] → [batch, features]`
// A model holds one backbone, built once: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Backbone {
    ResNet18(ResNet<BasicBlock>),
    ResNet34(ResNet<BasicBlock>),
    ResNet50(ResNet<Bottleneck>),
    MobileNetV2(InvertedResidualNet),
    MobileNetV3Small(InvertedResidualNet),
    MobileNetV3Large(InvertedResidualNet),
    EfficientNetLite0(InvertedResidualNet),
    EfficientNetB0(InvertedResidualNet),
    Vgg11Bn(PlainNet),
    Vgg16(PlainNet),
    AlexNet(PlainNet),
    DenseNet121(DenseNet),
    InceptionV3(InceptionV3),
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
            Backbone::ResNet34(_) => Architecture::ResNet34,
            Backbone::ResNet50(_) => Architecture::ResNet50,
            Backbone::MobileNetV2(_) => Architecture::MobileNetV2,
            Backbone::MobileNetV3Small(_) => Architecture::MobileNetV3Small,
            Backbone::MobileNetV3Large(_) => Architecture::MobileNetV3Large,
            Backbone::EfficientNetLite0(_) => Architecture::EfficientNetLite0,
            Backbone::EfficientNetB0(_) => Architecture::EfficientNetB0,
            Backbone::Vgg11Bn(_) => Architecture::Vgg11Bn,
            Backbone::Vgg16(_) => Architecture::Vgg16,
            Backbone::AlexNet(_) => Architecture::AlexNet,
            Backbone::DenseNet121(_) => Architecture::DenseNet121,
            Backbone::InceptionV3(_) => Architecture::InceptionV3,
        }
    }

    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        match self {
            Backbone::ResNet18(net) | Backbone::ResNet34(net) => net.forward(images),
            Backbone::ResNet50(net) => net.forward(images),
            Backbone::MobileNetV2(net)
            | Backbone::MobileNetV3Small(net)
            | Backbone::MobileNetV3Large(net)
            | Backbone::EfficientNetLite0(net)
            | Backbone::EfficientNetB0(net) => net.forward(images),
            Backbone::Vgg11Bn(net) | Backbone::Vgg16(net) | Backbone::AlexNet(net) => net.forward(images),
            Backbone::DenseNet121(net) => net.forward(images),
            Backbone::InceptionV3(net) => net.forward(images),
        }
    }

    /// The same backbone with its BatchNorms folded into the convolutions (see [`super::fold`]):
    /// for extracting features with frozen weights; it cannot be trained or exported.
    pub fn folded(&self) -> Self {
        match self {
            Backbone::ResNet18(net) => Backbone::ResNet18(net.folded()),
            Backbone::ResNet34(net) => Backbone::ResNet34(net.folded()),
            Backbone::ResNet50(net) => Backbone::ResNet50(net.folded()),
            Backbone::MobileNetV2(net) => Backbone::MobileNetV2(net.folded()),
            Backbone::MobileNetV3Small(net) => Backbone::MobileNetV3Small(net.folded()),
            Backbone::MobileNetV3Large(net) => Backbone::MobileNetV3Large(net.folded()),
            Backbone::EfficientNetLite0(net) => Backbone::EfficientNetLite0(net.folded()),
            Backbone::EfficientNetB0(net) => Backbone::EfficientNetB0(net.folded()),
            Backbone::Vgg11Bn(net) => Backbone::Vgg11Bn(net.folded()),
            Backbone::Vgg16(net) => Backbone::Vgg16(net.folded()),
            Backbone::AlexNet(net) => Backbone::AlexNet(net.folded()),
            Backbone::DenseNet121(net) => Backbone::DenseNet121(net.folded()),
            Backbone::InceptionV3(net) => Backbone::InceptionV3(net.folded()),
        }
    }

    /// The parameters of each of the last `stages` stages, the last stage first, as
    /// [`Backbone::freeze_early_stages`] counts them: for learning rates that fall with depth.
    pub fn stage_params(&self, stages: usize) -> Vec<Vec<ParamId>> {
        match self {
            Backbone::ResNet18(net) | Backbone::ResNet34(net) => net.last_stages_params(stages),
            Backbone::ResNet50(net) => net.last_stages_params(stages),
            Backbone::MobileNetV2(net)
            | Backbone::MobileNetV3Small(net)
            | Backbone::MobileNetV3Large(net)
            | Backbone::EfficientNetLite0(net)
            | Backbone::EfficientNetB0(net) => {
                let Some(spec) = self.architecture().inverted_residual_spec() else { return Vec::new() };
                let starts = spec.stage_starts();
                (0..stages.min(starts.len()))
                    .map(|i| {
                        let first = starts[starts.len() - 1 - i];
                        let end = if i == 0 { net.blocks.len() } else { starts[starts.len() - i] };
                        let mut group = net.blocks[first..end].iter().flat_map(param_ids).collect::<Vec<_>>();
                        // The final 1×1 convolution (and MobileNetV3's linear layer) trains with the last stage.
                        if i == 0 {
                            group.extend(param_ids(&net.head));
                            group.extend(net.hidden.iter().flat_map(param_ids));
                        }
                        group
                    })
                    .collect()
            }
            Backbone::Vgg11Bn(net) | Backbone::Vgg16(net) | Backbone::AlexNet(net) => {
                let count = net.stage_starts.len();
                (0..stages.min(count))
                    .map(|i| {
                        let mut group = net.stage(count - 1 - i).iter().flat_map(param_ids).collect::<Vec<_>>();
                        // The hidden layers train with the last stage.
                        if i == 0 {
                            group.extend(net.hidden.iter().flat_map(param_ids));
                        }
                        group
                    })
                    .collect()
            }
            Backbone::DenseNet121(net) => net.last_stages_params(stages),
            Backbone::InceptionV3(net) => net.last_stages_params(stages),
        }
    }

    /// Freezes (no gradients, BatchNorm in evaluation mode) all but the last `trained_stages`
    /// stages: the ResNets' layer1–layer4, the seven block groups of MobileNetV2 and EfficientNet
    /// (their final 1×1 convolution trains with the last stage), the convolution stages of VGG and
    /// AlexNet (their hidden layers train with the last), DenseNet's dense blocks with the transition
    /// after each (its last BatchNorm trains with the last), Inception v3's four groups of blocks. The
    /// stem is always frozen.
    pub fn freeze_early_stages(self, trained_stages: usize) -> Self {
        let freeze_mobile = |net: InvertedResidualNet, spec: &InvertedResidualSpec| {
            let starts = spec.stage_starts();
            let first_trained = starts[starts.len().saturating_sub(trained_stages.max(1))];
            net.freeze_before(first_trained, trained_stages == 0)
        };
        let freeze_plain = |net: PlainNet| {
            let first_trained = net.stage_starts.len().saturating_sub(trained_stages.max(1));
            net.freeze_before(first_trained, trained_stages == 0)
        };
        match self {
            Backbone::ResNet18(net) => Backbone::ResNet18(net.freeze_early_stages(trained_stages)),
            Backbone::ResNet34(net) => Backbone::ResNet34(net.freeze_early_stages(trained_stages)),
            Backbone::ResNet50(net) => Backbone::ResNet50(net.freeze_early_stages(trained_stages)),
            Backbone::MobileNetV2(net) => Backbone::MobileNetV2(freeze_mobile(net, &MOBILENET_V2)),
            Backbone::MobileNetV3Small(net) => Backbone::MobileNetV3Small(freeze_mobile(net, &MOBILENET_V3_SMALL)),
            Backbone::MobileNetV3Large(net) => Backbone::MobileNetV3Large(freeze_mobile(net, &MOBILENET_V3_LARGE)),
            Backbone::EfficientNetLite0(net) => Backbone::EfficientNetLite0(freeze_mobile(net, &EFFICIENTNET_LITE0)),
            Backbone::EfficientNetB0(net) => Backbone::EfficientNetB0(freeze_mobile(net, &EFFICIENTNET_B0)),
            Backbone::Vgg11Bn(net) => Backbone::Vgg11Bn(freeze_plain(net)),
            Backbone::Vgg16(net) => Backbone::Vgg16(freeze_plain(net)),
            Backbone::AlexNet(net) => Backbone::AlexNet(freeze_plain(net)),
            Backbone::DenseNet121(net) => Backbone::DenseNet121(net.freeze_early_stages(trained_stages)),
            Backbone::InceptionV3(net) => Backbone::InceptionV3(net.freeze_early_stages(trained_stages)),
        }
    }
}
