//! Backbone feature-extraction throughput on Burn's native CPU backend (`flex`, all cores), at
//! 224×224, with the BatchNorms folded as the page extracts.
//!
//! `cargo run --release --example bench_forward [batch ...]` prints one line per backbone and
//! batch size: `burn-cpu model=M batch=B images_per_s=X`.

use std::time::Instant;

use browser_finetune::model::{Architecture, ImageClassifier};
use burn::tensor::{Device, Tensor};

fn main() {
    let batches: Vec<usize> = std::env::args().skip(1).filter_map(|arg| arg.parse().ok()).collect();
    let batches = if batches.is_empty() { vec![1, 8] } else { batches };
    let device = Device::flex();
    for (architecture, name) in [
        (Architecture::ResNet18, "resnet18"),
        (Architecture::MobileNetV2, "mobilenet_v2"),
        (Architecture::EfficientNetLite0, "efficientnet_lite0"),
    ] {
        let extractor = ImageClassifier::random(architecture, 1000, &device).backbone.folded();
        for &batch in &batches {
            let input = || Tensor::<4>::ones([batch, 3, 224, 224], &device);
            let _warm_up = extractor.forward(input()).into_data();
            let runs = if batch == 1 { 5 } else { 2 };
            let start = Instant::now();
            for _ in 0..runs {
                let _features = extractor.forward(input()).into_data();
            }
            let seconds = start.elapsed().as_secs_f64();
            println!("burn-cpu model={name} batch={batch} images_per_s={:.2}", (runs * batch) as f64 / seconds);
        }
    }
}
