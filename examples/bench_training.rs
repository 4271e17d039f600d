//! Fine-tuning throughput on real photos, natively: the training steps of the strategies that
//! train the backbone, as the page's run takes them (augmentation, forward, backward, Adam step),
//! batch 32. Throughput does not depend on the weights' values, so the backbones start from
//! seeded random weights (no weights files needed).
//!
//! `cargo run --release [--features gpu] --example bench_training -- [--gpu] DATASET [model ...]`
//! takes the photos under `DATASET/train` (an ImageFolder), and prints for each backbone
//! (resnet18, mobilenet_v2, efficientnet_lite0, unless some are named) and strategy
//! (`BENCH_STRATEGIES`, default `last_stages:1 full`) one line
//! `native-cpu model=M strategy=S batch=32 train_images_per_s=X with_decoding_images_per_s=Y`
//! (`burn-gpu` with `--gpu`: Burn's WebGPU kernels through the machine's graphics API, the
//! kernels the page trains with on WebGPU; each step reads its loss back, so it is timed whole):
//! X through the training steps alone (decoded images in memory, as the run keeps them), Y with
//! each image's decoding and resizing added. `BENCH_STEPS` (default 3) steps are timed after one
//! untimed warm-up step.

use std::path::Path;
use std::time::Instant;

use browser_finetune::data::{Dataset, Subset};
use browser_finetune::model::{Architecture, ImageClassifier};
use browser_finetune::train::{Phase, RunSettings, Strategy, TrainingRun};
use burn::tensor::Device;

#[path = "common/gpu.rs"]
mod gpu;

const BATCH: usize = 32;

/// Up to `count` photos of `DATASET/train`, taken in turn from each class folder, as (class, path).
fn photos(dataset: &Path, count: usize) -> Vec<(String, std::path::PathBuf)> {
    let train = dataset.join("train");
    let mut classes: Vec<(String, Vec<std::path::PathBuf>)> = std::fs::read_dir(&train)
        .unwrap_or_else(|err| panic!("{}: {err}", train.display()))
        .flatten()
        .filter(|entry| entry.path().is_dir())
        .map(|entry| {
            let mut files: Vec<_> =
                std::fs::read_dir(entry.path()).into_iter().flatten().flatten().map(|f| f.path()).collect();
            files.sort();
            (entry.file_name().to_string_lossy().into_owned(), files)
        })
        .collect();
    classes.sort();
    let mut taken = Vec::new();
    for position in 0.. {
        let before = taken.len();
        for (class, files) in &classes {
            if let Some(file) = files.get(position).filter(|_| taken.len() < count) {
                taken.push((class.clone(), file.clone()));
            }
        }
        if taken.len() == before {
            break;
        }
    }
    taken
}

/// The strategies timed: `BENCH_STRATEGIES` as the page names them (`last_stages:N`, `full`).
fn strategies() -> Vec<(String, Strategy)> {
    let names = std::env::var("BENCH_STRATEGIES").unwrap_or_else(|_| "last_stages:1 full".into());
    names
        .split_whitespace()
        .map(|name| {
            let strategy = match name.split_once(':') {
                Some(("last_stages", stages)) => Strategy::LastStages { stages: stages.parse().expect("stages") },
                None if name == "full" => Strategy::Full,
                _ => panic!("BENCH_STRATEGIES: {name} is not last_stages:N or full"),
            };
            (name.to_string(), strategy)
        })
        .collect()
}

fn main() {
    let (flags, args): (Vec<String>, Vec<String>) = std::env::args().skip(1).partition(|arg| arg.starts_with("--"));
    let Some((dataset, models)) = args.split_first() else {
        eprintln!("usage: bench_training [--gpu] DATASET [model ...]");
        std::process::exit(2);
    };
    let (device, runtime) = if flags.iter().any(|flag| flag == "--gpu") {
        (gpu::gpu_device(), "burn-gpu")
    } else {
        (Device::flex(), "native-cpu")
    };
    let steps: usize = std::env::var("BENCH_STEPS").ok().and_then(|n| n.parse().ok()).unwrap_or(3);
    let files = photos(Path::new(dataset), (steps + 1) * BATCH);
    assert!(
        files.len() >= (steps + 1) * BATCH,
        "{dataset}/train has {} photos, {} needed",
        files.len(),
        (steps + 1) * BATCH
    );
    for (architecture, name) in [
        (Architecture::ResNet18, "resnet18"),
        (Architecture::MobileNetV2, "mobilenet_v2"),
        (Architecture::EfficientNetLite0, "efficientnet_lite0"),
    ] {
        if !models.is_empty() && !models.iter().any(|model| model == name) {
            continue;
        }
        let mut data = Dataset::default();
        let decoding = Instant::now();
        for (class, path) in &files {
            let bytes = std::fs::read(path).expect("photo");
            data.add(&path.display().to_string(), &bytes, class, Some(Subset::Train), &architecture.preprocess())
                .expect("a decodable photo");
        }
        let decoding_seconds_per_image = decoding.elapsed().as_secs_f64() / files.len() as f64;
        // The run needs a validation set; these two photos are never reached (the timing stops first).
        for (class, path) in files.iter().take(2) {
            let bytes = std::fs::read(path).expect("photo");
            data.add(&format!("val/{}", path.display()), &bytes, class, Some(Subset::Val), &architecture.preprocess())
                .expect("a decodable photo");
        }
        device.seed(0);
        let backbone = ImageClassifier::random(architecture, 1000, &device).backbone;
        for (strategy_name, strategy) in strategies() {
            let settings = RunSettings { strategy, ..RunSettings::default() };
            let mut run = TrainingRun::new(backbone.clone(), &device, &data, &settings, None).expect("run");
            let (mut timed, mut seconds, mut trained) = (0, 0.0, 0);
            while timed < steps {
                let start = Instant::now();
                let progress = futures_lite::future::block_on(run.step(&data)).expect("step");
                if progress.phase != Phase::Training {
                    continue;
                }
                trained += 1;
                if trained > 1 {
                    timed += 1;
                    seconds += start.elapsed().as_secs_f64();
                }
            }
            let images_per_s = (steps * BATCH) as f64 / seconds;
            println!(
                "{runtime} model={name} strategy={strategy_name} batch={BATCH} train_images_per_s={images_per_s:.2} with_decoding_images_per_s={:.2}",
                1.0 / (1.0 / images_per_s + decoding_seconds_per_image)
            );
        }
    }
}
