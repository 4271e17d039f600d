//! ResNet18 forward throughput on Burn's native CPU backend (`flex`), at 224×224.
//!
//! `cargo run --release --example bench_forward [batch ...]` prints one line per batch size:
//! `native-cpu batch=B images_per_s=X`.

use std::time::Instant;

use browser_finetune::model::{Architecture, ImageClassifier};
use burn::tensor::{Device, Tensor};

fn main() {
    let batches: Vec<usize> = std::env::args().skip(1).filter_map(|arg| arg.parse().ok()).collect();
    let batches = if batches.is_empty() { vec![1, 8] } else { batches };
    let device = Device::flex();
    let model = ImageClassifier::random(Architecture::ResNet18, 1000, &device);
    for batch in batches {
        let input = || Tensor::<4>::ones([batch, 3, 224, 224], &device);
        let _warm_up = model.forward(input()).into_data();
        let runs = if batch == 1 { 5 } else { 2 };
        let start = Instant::now();
        for _ in 0..runs {
            let _logits = model.forward(input()).into_data();
        }
        let seconds = start.elapsed().as_secs_f64();
        println!("native-cpu batch={batch} images_per_s={:.2}", (runs * batch) as f64 / seconds);
    }
}
