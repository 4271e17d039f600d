//! Which backbone a weights file holds, and what each expects: recognised from the state_dict's
//! keys, with its name, feature width, head key, transforms and smallest input; it builds the
//! [`Backbone`].

use serde::{Deserialize, Serialize};

use super::backbone::Backbone;
use super::densenet::DENSENET121;
use super::inception::{INCEPTION_FEATURES, INCEPTION_MIN_INPUT_SIDE, InceptionV3};
use super::plain::{ALEXNET, PLAIN_FEATURES, PlainSpec, VGG11_BN, VGG16};
use super::resnet::{BasicBlock, Bottleneck, MIN_INPUT_SIDE, RESNET18, RESNET34, RESNET50, ResNet};
use super::{
    EFFICIENTNET_B0, EFFICIENTNET_LITE0, InvertedResidualSpec, MOBILENET_V2, MOBILENET_V3_LARGE, MOBILENET_V3_SMALL,
    ParamSource,
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
