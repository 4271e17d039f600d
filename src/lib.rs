//! Fine-tune an ImageNet ResNet18 (or MobileNetV2, EfficientNet-Lite0) on folders of images, in
//! the browser on WebGPU or natively.
//!
//! The core is plain Rust and tested natively: [`model`] (the backbones and the head), [`weights`]
//! (bytes in, validated model out), [`data`] (decoding and torchvision's transforms) and
//! [`train`] (training a head). `web.rs` is the only file that speaks wasm-bindgen.

pub mod backend;
pub mod data;
pub mod engine;
pub mod error;
pub mod kernels;
pub mod metrics;
pub mod model;
pub mod rng;
pub mod train;
pub mod weights;

#[cfg(target_arch = "wasm32")]
pub mod web;

pub use error::{Error, Result};
