//! Our side of the ONNX check (`scripts/check_onnx.py`): for every architecture, a model with
//! random weights — every float scaled by a random factor and shifted a little, BatchNorm
//! statistics included, so that each term of the graph counts — opened as the page opens a saved
//! model, exported as ONNX as the page exports it, and the logits our engine computes for the photos.
//!
//! Random weights make logits of any size (up to 1e9 in the deep nets without a trained
//! BatchNorm); `ONNX_PRETRAINED=FILE,…` adds real weights files (their backbone, a new seeded
//! head), whose logits are of the usual size.
//!
//! `cargo run --example onnx_logits -- OUT_DIR IMAGE...` writes `OUT_DIR/<name>.onnx` and
//! `OUT_DIR/<name>.safetensors` (`inputs` `[N, 3, crop, crop]`, `logits` `[N, classes]`, float32),
//! `<name>` the architecture (`ResNet18`), `-pretrained` after it for a weights file; and
//! `OUT_DIR/<name>-int8.onnx`, the same with int8 weights and int8 activations calibrated on the photos.
//! `ONNX_ARCHITECTURES=ResNet18,AlexNet` exports only those with random weights.

use browser_finetune::backend;
use browser_finetune::engine::Engine;
use browser_finetune::model::{Architecture, ImageClassifier};
use browser_finetune::weights::{ModelCard, OnnxOptions, Precision, export_safetensors, load_pretrained};
use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Device, Distribution, Tensor};
use futures_lite::future::block_on;

#[path = "common/logits.rs"]
mod logits;

/// `x · U(0.5, 1.5) + U(−0.1, 0.1)` for every float of a module: a BatchNorm's unit variance stays
/// positive, its zero mean and shift and its unit scale stop being neutral.
struct Perturb(Device);

impl ModuleMapper for Perturb {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let device = self.0.clone();
        param.map(|tensor| {
            let shape = tensor.shape();
            let scale = Tensor::random(shape.clone(), Distribution::Uniform(0.5, 1.5), &device);
            let shift = Tensor::random(shape, Distribution::Uniform(-0.1, 0.1), &device);
            tensor * scale + shift
        })
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out_dir, images @ ..] = args.as_slice() else {
        return Err("usage: onnx_logits OUT_DIR IMAGE...".into());
    };
    let only = std::env::var("ONNX_ARCHITECTURES").ok();
    let wanted = |architecture: &Architecture| {
        only.as_deref().is_none_or(|names| names.split(',').any(|name| name == format!("{architecture:?}")))
    };
    let (device, info) = backend::cpu("native");
    let mut models = Vec::new();
    for architecture in Architecture::ALL.into_iter().filter(wanted) {
        device.seed(13);
        let model = ImageClassifier::random(architecture, 3, &device).map(&mut Perturb(device.clone()));
        models.push((format!("{architecture:?}"), model));
    }
    let pretrained = std::env::var("ONNX_PRETRAINED").unwrap_or_default();
    for path in pretrained.split(',').filter(|path| !path.is_empty()) {
        device.seed(13);
        let backbone = load_pretrained(&std::fs::read(path)?, &device)?.backbone;
        models.push((
            format!("{:?}-pretrained", backbone.architecture()),
            ImageClassifier::with_new_head(backbone, 3, &device),
        ));
    }
    let photos =
        images.iter().map(|path| Ok((path.clone(), std::fs::read(path)?))).collect::<std::io::Result<Vec<_>>>()?;
    for (name, model) in models {
        let architecture = model.architecture();
        let preprocess = architecture.preprocess();
        let classes = ["ant", "bee", "wasp"].map(String::from).to_vec();
        let card = ModelCard { architecture, classes, preprocess: preprocess.clone(), training: None };
        let saved = block_on(export_safetensors(&model, &card, Precision::F32))?;
        let mut engine = Engine::new(device.clone(), info.clone());
        engine.load_weights(&saved)?;
        logits::write_inputs_and_logits(&engine, &preprocess, images, &format!("{out_dir}/{name}.safetensors"))?;
        let date = "2026-12-03T00:00:00.000Z";
        let onnx = block_on(engine.export_onnx(OnnxOptions::default(), &[], date))?;
        std::fs::write(format!("{out_dir}/{name}.onnx"), &onnx)?;
        // Calibrated on the photos it is checked on, as the page calibrates on the run's validation photos.
        let int8 =
            block_on(engine.export_onnx(OnnxOptions { int8_weights: true, ..OnnxOptions::default() }, &photos, date))?;
        std::fs::write(format!("{out_dir}/{name}-int8.onnx"), &int8)?;
        let megabytes = |bytes: &[u8]| bytes.len() as f64 / 1e6;
        println!("{name}: ONNX {:.1} MB, int8 {:.1} MB, {} images", megabytes(&onnx), megabytes(&int8), images.len());
    }
    Ok(())
}
