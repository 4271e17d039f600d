//! The data check (`src/doctor/`) on planted faults, natively.
//!
//! `python3 scripts/make_faulty_set.py CLEAN FAULTY` then
//! `cargo run --release --example bench_doctor -- FAULTY CLEAN WEIGHTS`
//!
//! Extracts the faulty set's features as a head-only run does, checks them as the page does, and
//! prints how the flagged lists compare with what `FAULTY/faults.json` says was planted: the
//! precision and recall of the likely-wrong labels against the flipped ones, the copies found
//! (exact and resized), the outsiders flagged as outliers, the similarity of the least alike
//! planted copy and of the most alike two different photos (what the threshold separates), and
//! the check's time. Then it trains the head with the seed recipe (`BENCH_SEEDS`, default 5) on
//! the faulty set, on the faulty set less every image flagged (for a duplicate, its training
//! copy), and on the clean set, and prints the validation accuracy of each (the same validation
//! images) and what the leaked copies added to the faulty set's. Features are extracted once and
//! looked up by file content, so the runs differ by their images alone.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;
use std::time::Instant;

use browser_finetune::data::{Dataset, Subset};
use browser_finetune::doctor::{DataCheck, Diagnosis, FeatureTable, leak_effect};
use browser_finetune::model::Backbone;
use browser_finetune::train::{EpochReport, RunSettings, TrainingRun};
use browser_finetune::weights::load_pretrained;
use burn::tensor::Device;
use futures_lite::future::block_on;
use serde_json::Value;

/// An image file of an ImageFolder dataset: its name relative to the root ("train/ants/x.jpg").
struct ImageFile {
    name: String,
    class: String,
    subset: Subset,
    bytes: Vec<u8>,
}

impl ImageFile {
    fn content(&self) -> u64 {
        let mut hasher = DefaultHasher::new();
        self.bytes.hash(&mut hasher);
        hasher.finish()
    }
}

fn image_files(root: &Path) -> Vec<ImageFile> {
    let mut found = Vec::new();
    for (subset, dir) in [(Subset::Train, "train"), (Subset::Val, "val")] {
        let mut classes: Vec<_> = std::fs::read_dir(root.join(dir)).expect("subset folder").flatten().collect();
        classes.sort_by_key(|entry| entry.file_name());
        for class in classes.iter().filter(|entry| entry.path().is_dir()) {
            let class_name = class.file_name().to_string_lossy().into_owned();
            let mut files: Vec<_> = std::fs::read_dir(class.path()).expect("class folder").flatten().collect();
            files.sort_by_key(|entry| entry.file_name());
            for file in files {
                let name = format!("{dir}/{class_name}/{}", file.file_name().to_string_lossy());
                let bytes = std::fs::read(file.path()).expect("image file");
                found.push(ImageFile { name, class: class_name.clone(), subset, bytes });
            }
        }
    }
    found
}

/// Every image's features, by file content, from a head-only run's extraction.
fn extract(backbone: &Backbone, device: &Device, files: &[ImageFile]) -> (Dataset, TrainingRun) {
    let preprocess = backbone.architecture().preprocess();
    let mut data = Dataset::default();
    for file in files {
        data.add(&file.name, &file.bytes, &file.class, Some(file.subset), &preprocess).expect("a decodable image");
    }
    let mut run = TrainingRun::new(backbone.clone(), device, &data, &RunSettings::default(), None).expect("run");
    while (0..data.len()).any(|i| run.cached_features(i).is_none()) {
        block_on(run.step(&data)).expect("extraction step");
    }
    (data, run)
}

/// The last epoch's report of the seed recipe's head-only run on `files` less `removed`, with
/// features looked up by content.
fn train(
    backbone: &Backbone,
    device: &Device,
    files: &[ImageFile],
    removed: &HashSet<&str>,
    features: &HashMap<u64, Vec<f32>>,
    seed: u64,
) -> EpochReport {
    let mut data = Dataset::default();
    for file in files {
        let index = data.register(&file.name, &file.class, Some(file.subset)).expect("register");
        data.set_excluded(index, removed.contains(file.name.as_str())).expect("index");
    }
    let settings = RunSettings { seed, ..RunSettings::default() };
    let mut run = TrainingRun::new(backbone.clone(), device, &data, &settings, None).expect("run");
    while let Some(job) = run.claim_extraction() {
        let values: Vec<f32> = job.examples.iter().flat_map(|&i| features[&files[i].content()].clone()).collect();
        run.complete_extraction(&data, job.first, &values).expect("features");
    }
    let mut last = None;
    while !run.is_finished() {
        if let Some(report) = block_on(run.step(&data)).expect("step").epoch_report {
            last = Some(report);
        }
    }
    last.expect("an epoch")
}

fn names(faults: &Value, kind: &str, field: &str) -> Vec<String> {
    faults[kind].as_array().into_iter().flatten().filter_map(|f| f[field].as_str().map(str::to_owned)).collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [faulty, clean, weights] = args.as_slice() else {
        eprintln!("usage: bench_doctor FAULTY CLEAN WEIGHTS");
        std::process::exit(2);
    };
    let faults: Value =
        serde_json::from_slice(&std::fs::read(Path::new(faulty).join("faults.json")).expect("faults.json"))
            .expect("faults.json is JSON");
    let device = Device::flex();
    let backbone = load_pretrained(&std::fs::read(weights).expect("weights file"), &device).expect("weights").backbone;
    let architecture = backbone.architecture();
    let (faulty_files, clean_files) = (image_files(Path::new(faulty)), image_files(Path::new(clean)));

    let start = Instant::now();
    let (data, run) = extract(&backbone, &device, &faulty_files);
    let extraction_seconds = start.elapsed().as_secs_f64();
    let features: HashMap<u64, Vec<f32>> = faulty_files
        .iter()
        .enumerate()
        .filter_map(|(i, file)| Some((file.content(), run.cached_features(i)?.to_vec())))
        .collect();
    let table = FeatureTable::new(run.split(), architecture.features(), |i| run.cached_features(i));
    let unit = table.unit_rows();
    let start = Instant::now();
    let mut check = DataCheck::new(table.clone(), &device).expect("check");
    let steps = check.steps_total();
    let diagnosis: Diagnosis =
        (0..steps).find_map(|_| block_on(check.step()).expect("check step").diagnosis).expect("a diagnosis");
    let check_seconds = start.elapsed().as_secs_f64();
    let name = |index: usize| data.examples()[index].name.as_str();
    println!(
        "native-cpu backbone={architecture:?} images={} extraction_seconds={extraction_seconds:.1} check_seconds={check_seconds:.2} check_steps={steps} out_of_fold_c={} out_of_fold_accuracy={:.4}",
        diagnosis.images,
        diagnosis.out_of_fold.as_ref().map_or(0.0, |f| f.c),
        diagnosis.out_of_fold.as_ref().map_or(0.0, |f| f.accuracy),
    );

    // Duplicates: each planted copy found with its original; the similarities around the threshold.
    let similarity = |a: usize, b: usize| -> f32 {
        let width = table.width;
        unit[a * width..(a + 1) * width].iter().zip(&unit[b * width..(b + 1) * width]).map(|(x, y)| x * y).sum()
    };
    let position: HashMap<&str, usize> = table.indices.iter().enumerate().map(|(p, &i)| (name(i), p)).collect();
    let found: HashSet<(&str, &str)> = diagnosis
        .duplicates
        .iter()
        .flat_map(|d| [(name(d.first), name(d.second)), (name(d.second), name(d.first))])
        .collect();
    let mut planted_pairs = HashSet::new();
    for kind in ["exact", "resized"] {
        let (originals, copies) = (names(&faults, kind, "original"), names(&faults, kind, "copy"));
        let hits = originals.iter().zip(&copies).filter(|(o, c)| found.contains(&(o.as_str(), c.as_str()))).count();
        let least = originals
            .iter()
            .zip(&copies)
            .map(|(o, c)| similarity(position[o.as_str()], position[c.as_str()]))
            .fold(f32::INFINITY, f32::min);
        planted_pairs.extend(originals.iter().cloned().zip(copies.iter().cloned()));
        println!("native-cpu duplicates={kind} planted={} found={hits} least_similarity={least:.4}", copies.len());
    }
    let planted = |a: &str, b: &str| {
        planted_pairs.contains(&(a.to_owned(), b.to_owned())) || planted_pairs.contains(&(b.to_owned(), a.to_owned()))
    };
    let mut most_alike_different = (f32::NEG_INFINITY, 0, 0);
    for a in 0..table.indices.len() {
        for b in a + 1..table.indices.len() {
            let s = similarity(a, b);
            if s > most_alike_different.0 && !planted(name(table.indices[a]), name(table.indices[b])) {
                most_alike_different = (s, a, b);
            }
        }
    }
    let (s, a, b) = most_alike_different;
    let other_pairs: Vec<String> = diagnosis
        .duplicates
        .iter()
        .filter(|d| !planted(name(d.first), name(d.second)))
        .map(|d| format!("{}~{}:{:.3}", name(d.first), name(d.second), d.similarity))
        .collect();
    println!(
        "native-cpu duplicates_found={} leaked_validation_images={} most_alike_unplanted={s:.4} ({} ~ {}) unplanted_pairs_flagged={} {}",
        diagnosis.duplicates_found,
        diagnosis.leaked.len(),
        name(table.indices[a]),
        name(table.indices[b]),
        other_pairs.len(),
        other_pairs.join(" ")
    );

    // Labels: precision and recall against the flipped images.
    let flipped: HashSet<String> = names(&faults, "flipped", "name").into_iter().collect();
    let outsiders: HashSet<String> = names(&faults, "outsiders", "name").into_iter().collect();
    let flagged: Vec<&str> = diagnosis.label_issues.iter().map(|issue| name(issue.index)).collect();
    let true_flags = flagged.iter().filter(|n| flipped.contains(**n)).count();
    println!(
        "native-cpu labels flipped={} flagged={} flagged_flipped={true_flags} flagged_outsiders={} precision={:.3} recall={:.3}",
        flipped.len(),
        flagged.len(),
        flagged.iter().filter(|n| outsiders.contains(**n)).count(),
        true_flags as f64 / flagged.len().max(1) as f64,
        true_flags as f64 / flipped.len().max(1) as f64
    );
    // BENCH_VERBOSE: every flagged outlier and label, and each planted copy's similarity.
    if std::env::var("BENCH_VERBOSE").is_ok() {
        for o in &diagnosis.outliers {
            eprintln!("outlier {} score={:.2} distance={:.3}", name(o.index), o.score, o.distance);
        }
        for i in &diagnosis.label_issues {
            eprintln!("label {} given={} p={:.3}", name(i.index), i.given, i.given_probability);
        }
        for kind in ["exact", "resized"] {
            for (o, c) in names(&faults, kind, "original").iter().zip(names(&faults, kind, "copy")) {
                eprintln!("{kind} {o} {c} {:.4}", similarity(position[o.as_str()], position[c.as_str()]));
            }
        }
    }
    let outlier_names: Vec<&str> = diagnosis.outliers.iter().map(|o| name(o.index)).collect();
    let outsiders_flagged = outlier_names.iter().filter(|n| outsiders.contains(**n)).count();
    let outsiders_anywhere =
        outsiders.iter().filter(|n| outlier_names.contains(&n.as_str()) || flagged.contains(&n.as_str())).count();
    println!(
        "native-cpu outliers outsiders={} flagged_as_outliers={outsiders_flagged} flagged_anywhere={outsiders_anywhere} other_outliers={} confusions={}",
        outsiders.len(),
        outlier_names.len() - outsiders_flagged,
        serde_json::to_string(&diagnosis.confusions).unwrap_or_default()
    );

    // Every flagged image removed: a duplicate's training copy (the later one when both train).
    let mut removed: HashSet<&str> = flagged.iter().chain(&outlier_names).copied().collect();
    let validation: HashSet<usize> =
        table.indices.iter().zip(&table.validation).filter(|(_, v)| **v).map(|(i, _)| *i).collect();
    for duplicate in &diagnosis.duplicates {
        let copy = if validation.contains(&duplicate.second) { duplicate.first } else { duplicate.second };
        if !validation.contains(&copy) {
            removed.insert(name(copy));
        }
    }
    // The validation images stay, flagged or not, so that the accuracies compare.
    let flagged_validation = removed.iter().filter(|n| n.starts_with("val/")).count();
    removed.retain(|n| n.starts_with("train/"));
    println!(
        "native-cpu removed={} of {} training images (flagged validation images kept: {flagged_validation})",
        removed.len(),
        faulty_files.iter().filter(|f| f.subset == Subset::Train).count()
    );

    // BENCH_SCALE=N: the check's time on N rows made from these features (each a copy with 30 %
    // noise), for the sizes the page is asked to handle.
    if let Some(rows) = std::env::var("BENCH_SCALE").ok().and_then(|n| n.parse::<usize>().ok()) {
        let mut rng = browser_finetune::rng::Rng::new(0);
        let source = table.indices.len();
        let mut scaled = FeatureTable {
            indices: (0..rows).collect(),
            labels: (0..rows).map(|r| table.labels[r % source]).collect(),
            validation: (0..rows).map(|r| r % 5 == 0).collect(),
            classes: table.classes,
            width: table.width,
            values: Vec::with_capacity(rows * table.width),
        };
        for r in 0..rows {
            let row = &table.values[(r % source) * table.width..(r % source + 1) * table.width];
            scaled.values.extend(row.iter().map(|x| x * rng.uniform(0.7, 1.3) as f32));
        }
        let start = Instant::now();
        let mut check = DataCheck::new(scaled, &device).expect("check");
        let steps = check.steps_total();
        // The similarity blocks come first, then the cross-validation fits, then the diagnosis.
        let fits = browser_finetune::train::FOLDS * browser_finetune::train::C_GRID.len();
        let mut similarity_seconds = 0.0;
        for step in 0..steps {
            let step_start = Instant::now();
            block_on(check.step()).expect("check step");
            if step + fits + 1 < steps {
                similarity_seconds += step_start.elapsed().as_secs_f64();
            }
        }
        println!(
            "native-cpu scale images={rows} check_seconds={:.1} similarity_seconds={similarity_seconds:.1} steps={steps}",
            start.elapsed().as_secs_f64()
        );
    }

    let seeds: u64 = std::env::var("BENCH_SEEDS").ok().and_then(|n| n.parse().ok()).unwrap_or(5);
    let none = HashSet::new();
    for (setting, files, removed) in [
        ("faulty", &faulty_files, &none),
        ("faulty_less_flagged", &faulty_files, &removed),
        ("clean", &clean_files, &none),
    ] {
        let mut accuracies = Vec::new();
        for seed in 0..seeds {
            let report = train(&backbone, &device, files, removed, &features, seed);
            let accuracy = report.val_accuracy.unwrap_or(0.0);
            accuracies.push(accuracy);
            let leak = if setting == "faulty" {
                let leaked: Vec<usize> = diagnosis.leaked.clone();
                leak_effect(&leaked, &report.val_outcomes).map_or(String::new(), |effect| {
                    format!(
                        " leaked={} accuracy_without_leaked={:.4}",
                        effect.leaked,
                        effect.accuracy_without_leaked.unwrap_or(0.0)
                    )
                })
            } else {
                String::new()
            };
            println!("native-cpu setting={setting} seed={seed} val_accuracy={accuracy:.4}{leak}");
        }
        let mean = accuracies.iter().sum::<f32>() / accuracies.len().max(1) as f32;
        let spread =
            (accuracies.iter().map(|a| (a - mean).powi(2)).sum::<f32>() / (accuracies.len().max(2) - 1) as f32).sqrt();
        println!("native-cpu setting={setting} mean_val_accuracy={mean:.4} std={spread:.4} runs={}", accuracies.len());
    }
}
