//! Fine-tune an ImageNet ResNet18 (or MobileNetV2, EfficientNet-Lite0) on folders of images, in
//! the browser on WebGPU or natively.
//!
//! The core is plain Rust and tested natively: [`model`] (the backbones and the head), [`weights`]
//! (bytes in, validated model out), [`data`] (decoding and torchvision's transforms) and
//! [`train`] (training a head). `web.rs` is the only file that speaks wasm-bindgen.
//!
//! Without the `training` feature (on by default) the crate is [`classify`] alone over the same
//! core: what the embed's inference-only wasm builds hold.

pub mod backend;
pub mod classify;
pub mod data;
#[cfg(feature = "training")]
pub mod doctor;
#[cfg(feature = "training")]
pub mod engine;
pub mod error;
#[cfg(feature = "explain")]
pub mod explain;
pub mod kernels;
pub mod metrics;
pub mod model;
pub mod rng;
#[cfg(feature = "training")]
pub mod train;
pub mod weights;

#[cfg(target_arch = "wasm32")]
pub mod web;

pub use error::{Error, Result};
