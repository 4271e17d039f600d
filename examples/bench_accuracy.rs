//! Head-only transfer learning on an ImageFolder dataset (`train/<class>/…`, `val/<class>/…`),
//! natively, with the seed's settings: what the page does, without the page.
//!
//! `cargo run --release --example bench_accuracy -- DATASET WEIGHTS [FEATURES_OUT]` runs seeds
//! 0–4 (`BENCH_SEEDS=N` for 0..N, from `BENCH_FIRST_SEED`; the seed sets the head's initial weights and the batch order)
//! and prints per run
//! `native-cpu seed=… val_accuracy=… seconds_to_first_val=… images_per_s=… train_images_per_s=…`
//! (images/s from the folder to cached features: decoding, resizing and the backbone, for the
//! strategies that cache them, absent for the others; and through
//! the training steps: augmentation, forward, backward and optimiser step, decoding excluded;
//! and the last epoch's temperature with the expected calibration error before and after it), then
//! the mean and spread; then, for the head-only runs, the fitted
//! classifiers (logistic regression, linear SVM; `C` by cross-validation) on the same features:
//! `native-cpu strategy=… val_accuracy=… c=… cv_accuracy=… fit_seconds=…`. `BENCH_STRATEGY`
//! (the page's strategy as JSON, e.g. `{"kind":"progressive","every":2}`) trains the seeds' runs
//! with that strategy instead of the head only. With
//! FEATURES_OUT it writes seed 0's extracted features and labels, and its head's validation logits
//! (safetensors), for the reference classifiers and temperature in scripts/bench_accuracy_reference.py. With `BENCH_EXPORT=DIR` it also exports seed
//! 0's trained model there, f32 and f16 (`<backbone>.safetensors`, `<backbone>-f16.safetensors`)
//! and ONNX with float32 and int8 weights (`<backbone>.onnx`, `<backbone>-int8.onnx`), as the
//! page's "Download model" does, and prints the sizes and times. With `BENCH_VIEWS=1` it classifies
//! seed 0's validation photos from their files as the page's Predict panel does, for each choice of
//! test-time augmentation: `native-cpu views=… val_accuracy=… seconds=…`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use browser_finetune::classify::Classifier;
use browser_finetune::data::{Dataset, Subset, Views};
use browser_finetune::train::{Calibration, Phase, RunSettings, Strategy, TrainingRun};
use browser_finetune::weights::{
    ModelCard, OnnxOptions, Precision, calibration_sample, export_onnx, export_safetensors, load_pretrained,
};
use burn::tensor::{Device, Tensor, TensorData};
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

/// The strategy of the seeds' runs: `BENCH_STRATEGY`, else the head only.
fn seed_strategy() -> Strategy {
    std::env::var("BENCH_STRATEGY").map_or(Strategy::HeadOnly, |json| {
        serde_json::from_str(&json).unwrap_or_else(|err| panic!("BENCH_STRATEGY {json}: {err}"))
    })
}

/// ` temperature=… ece_before=… ece_after=…` of an epoch's calibration (see [`Calibration`]).
fn calibration_fields(calibration: Option<&Calibration>) -> String {
    calibration.map_or(String::new(), |c| {
        let fit = serde_json::to_value(c.fit).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
        format!(
            " temperature={:.3} fit={fit} ece_before={:.4} ece_after={:.4}",
            c.temperature, c.before.ece, c.after.ece
        )
    })
}

/// The dataset's images, decoded and resized as the page does.
fn load(dataset: &str, architecture: browser_finetune::model::Architecture) -> Dataset {
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
    data
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dataset, weights, ..] = args.as_slice() else {
        eprintln!("usage: bench_accuracy DATASET WEIGHTS [FEATURES_OUT]");
        std::process::exit(2);
    };
    let device = Device::flex();
    let pretrained = load_pretrained(&std::fs::read(weights).expect("weights file"), &device).expect("weights");
    let architecture = pretrained.architecture();

    let mut accuracies = Vec::new();
    let mut errors = Vec::new();
    let mut first_run = None;
    // Seed 0's "unknown" threshold and temperature (its last epoch's), for its export's card.
    let mut first_calibration = None;
    let seeds: u64 = std::env::var("BENCH_SEEDS").ok().and_then(|n| n.parse().ok()).unwrap_or(5);
    let first_seed: u64 = std::env::var("BENCH_FIRST_SEED").ok().and_then(|n| n.parse().ok()).unwrap_or(0);
    for seed in first_seed..first_seed + seeds {
        let start = Instant::now();
        let data = load(dataset, architecture);
        let settings = RunSettings { seed, strategy: seed_strategy(), ..RunSettings::default() };
        let mut run = TrainingRun::new(pretrained.backbone.clone(), &device, &data, &settings, None).expect("run");
        let (mut extracted, mut extraction_seconds, mut first_val, mut last_val) = (0, 0.0, None, None);
        let (mut unknown_below, mut calibration) = (None, None);
        let (mut trained, mut training_seconds) = (0, 0.0);
        while !run.is_finished() {
            let step_start = Instant::now();
            let progress = futures_lite::future::block_on(run.step(&data)).expect("step");
            if progress.phase == Phase::Extracting {
                extracted += progress.images;
                extraction_seconds = start.elapsed().as_secs_f64();
            }
            if progress.phase == Phase::Training {
                trained += progress.images;
                training_seconds += step_start.elapsed().as_secs_f64();
            }
            if let Some(report) = progress.epoch_report {
                first_val.get_or_insert(start.elapsed().as_secs_f64());
                last_val = report.val_accuracy;
                unknown_below = report.unknown_below;
                calibration = report.calibration;
            }
        }
        let accuracy = last_val.unwrap_or(0.0);
        accuracies.push(accuracy);
        if let Some(calibration) = &calibration {
            errors.push((calibration.before.ece, calibration.after.ece));
        }
        // Only a run on cached features extracts them; the others have no extraction rate.
        let extraction_rate = if extracted > 0 {
            format!(" images_per_s={:.2}", extracted as f64 / extraction_seconds)
        } else {
            String::new()
        };
        println!(
            "native-cpu seed={seed} backbone={architecture:?} strategy={} images={} val_accuracy={accuracy:.4} seconds_to_first_val={:.1}{extraction_rate} train_images_per_s={:.2}{}",
            serde_json::to_string(&settings.strategy).unwrap_or_default(),
            data.len(),
            first_val.unwrap_or(0.0),
            trained as f64 / training_seconds,
            calibration_fields(calibration.as_ref())
        );
        first_run.get_or_insert(run);
        let temperature = calibration.as_ref().map(|c| c.temperature);
        first_calibration.get_or_insert((unknown_below, temperature));
    }
    let mean = accuracies.iter().sum::<f32>() / accuracies.len() as f32;
    let (min, max) = accuracies.iter().fold((1.0f32, 0.0f32), |(lo, hi), &a| (lo.min(a), hi.max(a)));
    // The sample standard deviation, as Python's statistics.stdev (the reference's spread).
    let spread =
        (accuracies.iter().map(|a| (a - mean).powi(2)).sum::<f32>() / (accuracies.len().max(2) - 1) as f32).sqrt();
    let mean_error = |pick: fn(&(f32, f32)) -> f32| errors.iter().map(pick).sum::<f32>() / errors.len().max(1) as f32;
    println!(
        "native-cpu mean_val_accuracy={mean:.4} std={spread:.4} min={min:.4} max={max:.4} runs={} mean_ece_before={:.4} mean_ece_after={:.4}",
        accuracies.len(),
        mean_error(|e| e.0),
        mean_error(|e| e.1)
    );
    let run = first_run.expect("at least one run");
    // Seed 0's card entries, as the page's export writes them.
    let seed_training = first_calibration.map(|(unknown_below, temperature)| {
        serde_json::json!({ "unknown_below": unknown_below, "temperature": temperature })
    });

    let data = load(dataset, architecture);
    // The fitted classifiers beside the head-only runs; a run of another strategy is about that strategy.
    let fitted_strategies = if seed_strategy() == Strategy::HeadOnly {
        vec![Strategy::LogisticRegression, Strategy::LinearSvm]
    } else {
        vec![]
    };
    for strategy in fitted_strategies {
        let settings = RunSettings { strategy, ..RunSettings::default() };
        let mut fitted = TrainingRun::new(pretrained.backbone.clone(), &device, &data, &settings, None).expect("run");
        let mut fit_start = Instant::now();
        while !fitted.is_finished() {
            let progress = futures_lite::future::block_on(fitted.step(&data)).expect("step");
            if progress.phase == Phase::Extracting {
                fit_start = Instant::now();
            }
            if let Some(report) = progress.epoch_report {
                let fit = report.fit.expect("a fitted classifier's summary");
                println!(
                    "native-cpu strategy={} val_accuracy={:.4} c={} cv_accuracy={:.4} converged={} fit_seconds={:.2}{}",
                    serde_json::to_value(fit.model).expect("name").as_str().unwrap_or_default(),
                    report.val_accuracy.unwrap_or(0.0),
                    fit.c,
                    fit.cv_accuracy.unwrap_or(0.0),
                    fit.converged,
                    fit_start.elapsed().as_secs_f64(),
                    calibration_fields(report.calibration.as_ref())
                );
            }
        }
    }

    if let Ok(dir) = std::env::var("BENCH_EXPORT") {
        let card = ModelCard {
            architecture,
            classes: run.classes().to_vec(),
            preprocess: architecture.preprocess(),
            training: seed_training.clone(),
        };
        // The page's "Download model as" formats, named as the page's worker names them; int8
        // calibrated on up to 32 validation photos spread over the split, as the page does.
        let model = run.model();
        let calibration: Vec<_> = calibration_sample(&run.split().val, 32)
            .into_iter()
            .filter_map(|(index, _)| data.examples()[index].image.clone())
            .collect();
        for (format, suffix) in
            [("f32", ".safetensors"), ("f16", "-f16.safetensors"), ("onnx", ".onnx"), ("onnx-int8", "-int8.onnx")]
        {
            let start = Instant::now();
            let bytes = futures_lite::future::block_on(async {
                match format {
                    "f32" => export_safetensors(&model, &card, Precision::F32).await,
                    "f16" => export_safetensors(&model, &card, Precision::F16).await,
                    "onnx" => export_onnx(&model, &card, OnnxOptions::default(), &[]).await,
                    _ => {
                        let options = OnnxOptions { int8_weights: true, ..OnnxOptions::default() };
                        export_onnx(&model, &card, options, &calibration).await
                    }
                }
            })
            .expect("export");
            let path = Path::new(&dir).join(format!("{architecture:?}{suffix}"));
            std::fs::write(&path, &bytes).expect("write export");
            println!(
                "export backbone={architecture:?} format={format} bytes={} seconds={:.2} → {}",
                bytes.len(),
                start.elapsed().as_secs_f64(),
                path.display()
            );
        }
    }

    if std::env::var("BENCH_VIEWS").is_ok() {
        let classifier = Classifier::new(run.model(), run.classes().to_vec(), seed_training.clone());
        for views in Views::ALL {
            let start = Instant::now();
            let mut right = 0;
            for &(index, label) in &run.split().val {
                let name = &data.examples()[index].name;
                let bytes = std::fs::read(name).expect("image file");
                let predictions =
                    futures_lite::future::block_on(classifier.predict(name, &bytes, 1, views)).expect("prediction");
                right += usize::from(predictions.top[0].class == run.classes()[label]);
            }
            println!(
                "native-cpu views={} val_accuracy={:.4} seconds={:.1}",
                views.name(),
                right as f64 / run.split().val.len() as f64,
                start.elapsed().as_secs_f64()
            );
        }
    }

    // Only runs on cached features have features to write.
    let extracted = run.split().train.first().is_some_and(|&(i, _)| run.cached_features(i).is_some());
    if let Some(out) = args.get(2).filter(|_| extracted) {
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
        // The trained head's logits of the validation features, for the reference temperature.
        let width = architecture.features();
        let features: Vec<f32> =
            split.val.iter().flat_map(|&(i, _)| run.cached_features(i).expect("extracted").to_vec()).collect();
        let features = Tensor::<2>::from_data(TensorData::new(features, [split.val.len(), width]), &device);
        let logits: Vec<f32> = run.model().fc.forward(features).into_data().try_to_vec().expect("logits");
        let bytes = logits.iter().flat_map(|v| v.to_le_bytes()).collect();
        tensors.push(("val_logits".into(), bytes, vec![split.val.len(), run.classes().len()], Dtype::F32));
        let views: Vec<(String, TensorView)> = tensors
            .iter()
            .map(|(name, bytes, shape, dtype)| {
                (name.clone(), TensorView::new(*dtype, shape.clone(), bytes).expect("view"))
            })
            .collect();
        std::fs::write(out, safetensors::serialize(views, None).expect("serialize")).expect("write features");
    }
}
