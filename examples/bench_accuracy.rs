//! Head-only transfer learning on an ImageFolder dataset (`train/<class>/…`, `val/<class>/…`),
//! natively, with the seed's settings: what the page does, without the page.
//!
//! `cargo run --release --example bench_accuracy -- DATASET WEIGHTS [FEATURES_OUT]` prints
//! `native-cpu val_accuracy=… seconds_to_first_val=… extract_images_per_s=…` and, with
//! FEATURES_OUT, writes the extracted features and labels (safetensors) for the reference
//! classifier in scripts/bench_accuracy_reference.py.

use std::path::{Path, PathBuf};
use std::time::Instant;

use browser_finetune::data::{Dataset, Subset};
use browser_finetune::train::{Phase, Strategy, TrainConfig, TrainingRun};
use browser_finetune::weights::load_classifier;
use burn::tensor::Device;
use safetensors::tensor::{Dtype, TensorView};

fn images_in(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut found = Vec::new();
    for class in std::fs::read_dir(dir).unwrap_or_else(|err| panic!("{}: {err}", dir.display())).flatten() {
        if !class.path().is_dir() {
            continue;
        }
        let label = class.file_name().to_string_lossy().into_owned();
        for file in std::fs::read_dir(class.path()).into_iter().flatten().flatten() {
            found.push((label.clone(), file.path()));
        }
    }
    found.sort();
    found
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dataset, weights, ..] = args.as_slice() else {
        eprintln!("usage: bench_accuracy DATASET WEIGHTS [FEATURES_OUT]");
        std::process::exit(2);
    };
    let device = Device::flex();
    let model = load_classifier(&std::fs::read(weights).expect("weights file"), &device).expect("weights");
    let architecture = model.architecture();

    let start = Instant::now();
    let mut data = Dataset::default();
    for (subset, dir) in [(Subset::Train, "train"), (Subset::Val, "val")] {
        for (label, path) in images_in(&Path::new(dataset).join(dir)) {
            let name = path.display().to_string();
            let bytes = std::fs::read(&path).expect("image file");
            if let Err(err) = data.add(&name, &bytes, &label, Some(subset), &architecture.preprocess()) {
                eprintln!("skipped: {err}");
            }
        }
    }
    let mut run = TrainingRun::new(model, &data, Strategy::HeadOnly, TrainConfig::default(), 0.2, 0).expect("run");
    let (mut extracted, mut extraction_seconds, mut first_val, mut last_val) = (0, 0.0, None, None);
    while !run.is_finished() {
        let progress = futures_lite::future::block_on(run.step(&data)).expect("step");
        if progress.phase == Phase::Extracting {
            extracted += progress.images;
            extraction_seconds = start.elapsed().as_secs_f64();
        }
        if let Some(report) = progress.epoch_report {
            first_val.get_or_insert(start.elapsed().as_secs_f64());
            last_val = report.val_accuracy;
        }
    }
    println!(
        "native-cpu backbone={architecture:?} images={} val_accuracy={:.4} seconds_to_first_val={:.1} extract_images_per_s={:.2}",
        data.len(),
        last_val.unwrap_or(0.0),
        first_val.unwrap_or(0.0),
        extracted as f64 / extraction_seconds
    );

    if let Some(out) = args.get(2) {
        let split = run.split();
        let mut tensors: Vec<(String, Vec<u8>, Vec<usize>, Dtype)> = Vec::new();
        for (name, part) in [("train", &split.train), ("val", &split.val)] {
            let features: Vec<u8> = part
                .iter()
                .flat_map(|&(i, _)| run.cached_features(i).expect("extracted").iter().flat_map(|v| v.to_le_bytes()))
                .collect();
            let labels: Vec<u8> = part.iter().flat_map(|&(_, l)| (l as i64).to_le_bytes()).collect();
            let width = architecture.features();
            tensors.push((format!("{name}_features"), features, vec![part.len(), width], Dtype::F32));
            tensors.push((format!("{name}_labels"), labels, vec![part.len()], Dtype::I64));
        }
        let views: Vec<(String, TensorView)> = tensors
            .iter()
            .map(|(name, bytes, shape, dtype)| {
                (name.clone(), TensorView::new(*dtype, shape.clone(), bytes).expect("view"))
            })
            .collect();
        std::fs::write(out, safetensors::serialize(views, None).expect("serialize")).expect("write features");
    }
}
