//! ResNet18 as torchvision builds it, split into a backbone (`[B,3,H,W] → [B,512]`) and a
//! replaceable classification head `fc`.
//!
//! Parameters come from a [`ParamSource`]: fresh initialisation or a weights file. The model code
//! names every parameter with its torchvision key while it builds, so the architecture and the
//! weight names are written down in one place.

mod classifier;
mod params;
mod resnet;

pub use classifier::{IMAGENET_CLASSES, ImageClassifier, head_config};
pub use params::{FreshInit, ParamSource};
pub use resnet::{BasicBlock, Downsample, FEATURES, MIN_INPUT_SIDE, ResNet18};
