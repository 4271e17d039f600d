//! The backbones — torchvision's ResNet18 (`[B,3,H,W] → [B,512]`) and EfficientNet-Lite0
//! (`→ [B,1280]`) — and the replaceable classification head.
//!
//! Parameters come from a [`ParamSource`]: fresh initialisation or a weights file. The model code
//! names every parameter with its torchvision key while it builds, so the architecture and the
//! weight names are written down in one place.

mod backbone;
mod classifier;
mod efficientnet;
mod params;
mod resnet;

pub use backbone::{Architecture, Backbone};
pub use efficientnet::{ConvNorm, EFFICIENTNET_FEATURES, EfficientNetLite0, MbConvBlock};

pub use classifier::{IMAGENET_CLASSES, ImageClassifier, head_config};
pub use params::{FreshInit, ParamSource};
pub use resnet::{BasicBlock, Downsample, FEATURES, MIN_INPUT_SIDE, ResNet18};
