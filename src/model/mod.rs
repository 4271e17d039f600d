//! The backbones — torchvision's ResNet18 and ResNet34 (`[B,3,H,W] → [B,512]`) and ResNet50
//! (`→ [B,2048]`), torchvision's MobileNetV2, -V3 and EfficientNet-B0, and EfficientNet-Lite0 (`→ [B,1280]`;
//! V3-Small 1024), torchvision's VGG11-BN, VGG16 and AlexNet (`→ [B,4096]`), torchvision's
//! DenseNet121 (`→ [B,1024]`), torchvision's Inception v3 (`→ [B,2048]`) — and the replaceable
//! classification head.
//!
//! Parameters come from a [`ParamSource`]: fresh initialisation or a weights file. The model code
//! names every parameter with its torchvision key while it builds, so the architecture and the
//! weight names are written down in one place.

mod architecture;
mod backbone;
mod classifier;
mod densenet;
mod extractor;
mod fold;
mod inception;
mod inception_layout;
mod inverted_residual;
mod mobile_specs;
mod params;
mod plain;
mod resnet;
mod squeeze_excite;

pub use architecture::Architecture;
pub use backbone::Backbone;
pub use inverted_residual::{
    Expansion, InvertedResidual, InvertedResidualNet, InvertedResidualSpec, Layer, Stage, make_divisible,
};
pub use mobile_specs::{EFFICIENTNET_B0, EFFICIENTNET_LITE0, MOBILENET_V2, MOBILENET_V3_LARGE, MOBILENET_V3_SMALL};
pub use squeeze_excite::{Gate, Squeeze, SqueezeExcite, SqueezeExciteSpec};

pub use classifier::{IMAGENET_CLASSES, ImageClassifier, Pretrained, head_config, new_head};
pub use densenet::{DENSENET121, DenseLayer, DenseNet, DenseNetSpec, Transition, layer_key, transition_key};
pub use extractor::FeatureExtractor;
pub use fold::{ConvNorm, FoldableNorm};
pub use inception::{INCEPTION_FEATURES, INCEPTION_MIN_INPUT_SIDE, InceptionV3};
pub use inception_layout::{
    BlockConv, BlockSpec, BranchPool, BranchSpec, ConvSpec, INCEPTION_STAGE_STARTS, STEM as INCEPTION_STEM,
    inception_v3_blocks, inception_v3_convs,
};
pub use params::{FoundParam, FreshInit, ParamSource, find_params, param_ids};
pub use plain::{ALEXNET, ConvRelu, PLAIN_FEATURES, PlainConv, PlainNet, PlainSpec, VGG11_BN, VGG16};
pub use resnet::{
    BasicBlock, Bottleneck, MIN_INPUT_SIDE, RESNET18, RESNET34, RESNET50, ResNet, ResNetSpec, ResidualBlock,
};
