//! Backbone feature-extraction throughput at 224×224, through the extractor the page uses
//! (BatchNorms folded; CPU sub-batches), on Burn's native CPU backend (`flex`, all cores) or,
//! built with `--features gpu` and run with `--gpu`, on Burn's WebGPU kernels through the
//! machine's native graphics API (Vulkan, Metal or DX12), the same kernels the page runs on
//! WebGPU. Each figure is the fastest of several runs.
//!
//! `cargo run --release [--features gpu] --example bench_forward -- [--gpu] [model ...] [batch ...]`
//! prints one line per backbone (all three unless some are named: resnet18, mobilenet_v2,
//! efficientnet_lite0) and batch size: `burn-cpu model=M batch=B images_per_s=X` (`burn-gpu`
//! with `--gpu`, after an `adapter …` line).

use std::time::Instant;

#[path = "common/gpu.rs"]
mod gpu;

use browser_finetune::model::{Architecture, FeatureExtractor, ImageClassifier};
use burn::tensor::{Device, Tensor};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let gpu = args.iter().any(|arg| arg == "--gpu");
    let batches: Vec<usize> = args.iter().filter_map(|arg| arg.parse().ok()).collect();
    let batches = if batches.is_empty() { vec![1, 8] } else { batches };
    let models: Vec<&String> =
        args.iter().filter(|arg| arg.parse::<usize>().is_err() && !arg.starts_with("--")).collect();
    let (device, runtime) = if gpu { (gpu::gpu_device(), "burn-gpu") } else { (Device::flex(), "burn-cpu") };
    for (architecture, name) in [
        (Architecture::ResNet18, "resnet18"),
        (Architecture::MobileNetV2, "mobilenet_v2"),
        (Architecture::EfficientNetLite0, "efficientnet_lite0"),
    ] {
        if !models.is_empty() && !models.iter().any(|model| *model == name) {
            continue;
        }
        let extractor = FeatureExtractor::new(&ImageClassifier::random(architecture, 1000, &device).backbone);
        for &batch in &batches {
            let input = || Tensor::<4>::ones([batch, 3, 224, 224], &device);
            // The first run compiles the GPU's kernels (and tunes them): not measured.
            let _warm_up = extractor.forward(input()).into_data();
            // The fastest of several runs (at least 3, for at least 2 s): on a shared machine the
            // others measure the neighbours as much as this code. Reading the features back
            // waits for the GPU to finish.
            let (mut fastest, mut runs, started) = (f64::INFINITY, 0, Instant::now());
            while runs < 3 || started.elapsed().as_secs_f64() < 2.0 {
                let start = Instant::now();
                let _features = extractor.forward(input()).into_data();
                fastest = fastest.min(start.elapsed().as_secs_f64());
                runs += 1;
            }
            println!("{runtime} model={name} batch={batch} images_per_s={:.2}", batch as f64 / fastest);
        }
    }
}
