use super::*;
use crate::backend;
use crate::data::Views;
use crate::data::test_images::png;
use crate::train::Strategy;
use crate::train::{BatchShares, ShareJob};
use futures_lite::future::block_on;

fn engine() -> Engine {
    let (device, info) = backend::cpu("test");
    Engine::new(device, info)
}

/// `per_class` small red and blue PNGs, as classes "red" and "blue".
/// `per_class` red and blue PNG files: (class, name, bytes), alternating.
fn red_and_blue(per_class: u32) -> Vec<(&'static str, String, Vec<u8>)> {
    (0..per_class)
        .flat_map(|i| {
            [
                ("red", format!("red/{i}.png"), png([220, 20, 20], i)),
                ("blue", format!("blue/{i}.png"), png([20, 20, 220], i)),
            ]
        })
        .collect()
}

fn add_red_and_blue(engine: &mut Engine, per_class: u32) {
    for (class, name, bytes) in red_and_blue(per_class) {
        engine.add_image(&name, &bytes, class, None).unwrap();
    }
}

/// Makes the loaded weights a model trained on "blue" and "red", so that runs on those classes
/// continue its head: runs compared with each other then start from the same head, whatever
/// tests running alongside draw from the device's shared generator.
fn give_a_red_and_blue_head(engine: &mut Engine) {
    let device = engine.device.clone();
    let pretrained = engine.pretrained.as_mut().expect("weights loaded");
    let architecture = pretrained.architecture();
    pretrained.head = Some(crate::model::new_head(architecture.features(), 2, &device));
    pretrained.card = Some(ModelCard {
        architecture,
        classes: vec!["blue".into(), "red".into()],
        preprocess: architecture.preprocess(),
        training: None,
    });
}

/// Three engines with the same random MobileNetV2 and a red-and-blue head: a run alone, a run
/// that shares its work, and the helper that does that work.
fn engines_sharing_random_weights() -> [Engine; 3] {
    let (mut solo, mut shared, mut helper) = (engine(), engine(), engine());
    solo.use_random_weights(Architecture::MobileNetV2);
    // Random weights are drawn from the device's generator when first used: draw them now,
    // before the engines share them.
    block_on(solo.features(vec![0.0; 3 * 32 * 32], 1, 32, 32)).unwrap();
    give_a_red_and_blue_head(&mut solo);
    shared.pretrained = solo.pretrained.clone();
    helper.pretrained = solo.pretrained.clone();
    [solo, shared, helper]
}

/// Registers files by name, as the page does, and returns them by index.
fn register(engine: &mut Engine, files: Vec<(&'static str, String, Vec<u8>)>) -> Vec<(String, Vec<u8>)> {
    files
        .into_iter()
        .map(|(class, name, bytes)| {
            let index = engine.add_image_file(&name, &bytes, class, None).unwrap();
            assert_eq!(index, engine.image_count() - 1);
            (name, bytes)
        })
        .collect()
}

/// Runs to the end as the page's worker does: before each step, the files of the images it
/// needs are decoded and supplied, or reported unusable. Returns the losses and the reasons.
fn run_supplying_files(engine: &mut Engine, files: &[(String, Vec<u8>)]) -> (Vec<f32>, Vec<String>) {
    let (mut losses, mut failures) = (Vec::new(), Vec::new());
    let resizing = engine.resizing();
    while engine.run.is_some() {
        for index in engine.images_needed() {
            let (name, bytes) = &files[index];
            match crate::data::decode_resized(name, bytes, resizing) {
                Ok(image) => {
                    let (width, height) = image.dimensions();
                    engine.supply_image(index, width, height, image.into_raw()).unwrap();
                }
                Err(err) => {
                    failures.push(err.to_string());
                    engine.image_failed(index).unwrap();
                }
            }
        }
        losses.extend(block_on(engine.train_step()).unwrap().loss);
    }
    (losses, failures)
}

/// Decodes and supplies the images the next step needs.
fn supply_needed(engine: &mut Engine, files: &[(String, Vec<u8>)]) {
    let resizing = engine.resizing();
    for index in engine.images_needed() {
        let (name, bytes) = &files[index];
        let image = crate::data::decode_resized(name, bytes, resizing).unwrap();
        let (width, height) = image.dimensions();
        engine.supply_image(index, width, height, image.into_raw()).unwrap();
    }
}

fn values_of(tensor: burn::tensor::Tensor<1>) -> Vec<f32> {
    tensor.into_data().try_to_vec::<f32>().unwrap()
}

/// The seed recipe with `epochs`, batches of 4 and `learning_rate`.
fn settings(epochs: usize, learning_rate: f64) -> RunSettings {
    let config = crate::train::TrainConfig { epochs, batch_size: 4, learning_rate, ..Default::default() };
    RunSettings { config, ..RunSettings::default() }
}

#[test]
fn training_before_weights_is_a_clear_error() {
    let err = engine().start_training(&RunSettings::default()).unwrap_err();
    assert!(err.to_string().contains("load weights first"), "{err}");
}

#[test]
fn wrong_input_sizes_are_refused() {
    let mut engine = engine();
    engine.use_random_weights(Architecture::ResNet18);
    let err = block_on(engine.logits(vec![0.0; 10], 1, 32, 32)).unwrap_err();
    assert!(err.to_string().contains("3072"), "{err}");
    let err = block_on(engine.logits(vec![0.0; 3 * 16 * 16], 1, 16, 16)).unwrap_err();
    assert!(err.to_string().contains("at least 32"), "{err}");
    engine.use_random_weights(Architecture::InceptionV3);
    let err = block_on(engine.logits(vec![0.0; 3 * 74 * 74], 1, 74, 74)).unwrap_err();
    assert!(err.to_string().contains("Inception v3 takes images of at least 75×75"), "{err}");
}

#[test]
fn a_bad_file_is_skipped_and_the_rest_stays() {
    let mut engine = engine();
    engine.add_image("red/1.png", &png([200, 0, 0], 1), "red", None).unwrap();
    let err = engine.add_image("red/notes.txt", b"not an image", "red", None).unwrap_err();
    assert!(err.to_string().contains("red/notes.txt"));
    assert_eq!(engine.image_count(), 1);
}

/// A whole head-only run on two colours, then prediction with the class names.
#[test]
fn head_only_run_learns_two_colours_and_predicts_by_name() {
    let mut engine = engine();
    engine.use_random_weights(Architecture::ResNet18);
    add_red_and_blue(&mut engine, 6);
    let settings = settings(3, 1e-2);
    let plan = engine.start_training(&settings).unwrap();
    assert_eq!(plan.classes, ["blue", "red"]);
    assert_eq!((plan.train_images, plan.val_images), (10, 2));
    // 12 images / 4 = 3 extraction steps, then per epoch 3 training steps and 1 evaluation.
    assert_eq!(plan.steps_total, 3 + 3 * (3 + 1));
    let mut reports = Vec::new();
    for _ in 0..plan.steps_total {
        let progress = block_on(engine.train_step()).unwrap();
        reports.extend(progress.epoch_report);
    }
    assert_eq!(reports.len(), 3);
    let last = reports.last().unwrap();
    assert_eq!(last.val_accuracy, Some(1.0), "{last:?}");
    assert_eq!(last.confusion.total(), 2);
    let predictions = block_on(engine.predict("x.png", &png([220, 20, 20], 9), 2, Views::Centre)).unwrap();
    let top = &predictions.top;
    assert_eq!(top[0].class, "red");
    assert!(top[0].probability > top[1].probability);
    // A red image like those it trained on is not "unlike every class".
    assert_eq!(predictions.unknown, Some(false), "{predictions:?}");
}

/// A backbone-only file (the offline MobileNetV2's): no predictions until a head is
/// trained, then predictions by class name.
#[test]
fn a_backbone_without_head_predicts_once_a_head_is_trained() {
    let mut engine = engine();
    let backbone = ImageClassifier::random(Architecture::MobileNetV2, 2, &engine.device).backbone;
    engine.pretrained = Some(Pretrained { backbone, head: None, card: None });
    let err = block_on(engine.predict("x.png", &png([220, 20, 20], 9), 2, Views::Centre)).unwrap_err();
    assert!(matches!(err, Error::NoPretrainedHead { .. }), "{err}");
    add_red_and_blue(&mut engine, 4);
    let settings = settings(1, 1e-3);
    let plan = engine.start_training(&settings).unwrap();
    for _ in 0..plan.steps_total {
        block_on(engine.train_step()).unwrap();
    }
    let top = block_on(engine.predict("x.png", &png([220, 20, 20], 9), 2, Views::Centre)).unwrap().top;
    assert_eq!(top.len(), 2);
    assert!(top.iter().all(|p| p.class == "red" || p.class == "blue"), "{top:?}");
}

/// The page's helper workers: batches claimed here, their features computed by another
/// engine with the same weights and handed back out of order; the run then trains exactly as
/// one that extracted everything itself.
#[test]
fn extraction_shared_with_another_engine_trains_identically() {
    let [mut solo, mut shared, mut helper] = engines_sharing_random_weights();
    let settings = settings(2, 1e-2);
    let train_to_the_end = |engine: &mut Engine| {
        let mut losses = Vec::new();
        while engine.run.is_some() {
            losses.extend(block_on(engine.train_step()).unwrap().loss);
        }
        losses
    };
    // One run after the other, both continuing the same head.
    add_red_and_blue(&mut solo, 5);
    solo.start_training(&settings).unwrap();
    let solo_losses = train_to_the_end(&mut solo);
    // The page's way: files registered by name, their features computed by another engine
    // from the files themselves.
    let files = register(&mut shared, red_and_blue(5));
    let job_files = |job: &ExtractionJob| job.examples.iter().map(|&i| files[i].clone()).collect::<Vec<_>>();
    let helper_features = |helper: &mut Engine, job: &ExtractionJob| {
        let result = block_on(helper.file_features(&job_files(job))).unwrap();
        assert!(result.failed.is_empty());
        result.features
    };
    shared.start_training(&settings).unwrap();
    let (first, second) = (shared.claim_extraction().unwrap().unwrap(), shared.claim_extraction().unwrap().unwrap());
    for job in [second, first] {
        let progress = shared.complete_extraction(job.first, &helper_features(&mut helper, &job)).unwrap();
        assert_eq!(progress.images, job.examples.len());
    }
    let err = shared.complete_extraction(0, &[0.0; 4]).unwrap_err();
    assert!(err.to_string().contains("no extraction job starts at image 0"), "{err}");
    while let Some(job) = shared.claim_extraction().unwrap() {
        let err = shared.complete_extraction(job.first, &[1.0; 3]).unwrap_err();
        assert!(err.to_string().contains("got 3 values"), "{err}");
        shared.complete_extraction(job.first, &helper_features(&mut helper, &job)).unwrap();
    }
    assert_eq!(solo_losses.len(), 2 * 2);
    assert_eq!(train_to_the_end(&mut shared), solo_losses);
}

/// The page's helper workers in a run that trains later stages: batches claimed ahead of the
/// steps, their frozen stages computed by another engine from the files (one of which is broken)
/// and handed back out of order; the run trains and evaluates as one that computed them itself.
#[test]
fn frozen_stages_computed_by_another_engine_train_identically() {
    let [mut solo, mut shared, mut helper] = engines_sharing_random_weights();
    let mut files = red_and_blue(4);
    // A file whose header is sound and whose pixels are cut off: registered, then fails to decode.
    let truncated = png([220, 20, 20], 9)[..60].to_vec();
    files.insert(3, ("red", "red/truncated.png".into(), truncated));
    // Epoch 1 trains the head alone (every stage frozen), epoch 2 the last stage too.
    let settings = RunSettings {
        strategy: Strategy::Progressive { every: 1, lr_factor: 1.0 },
        val_fraction: 0.25,
        ..settings(2, 1e-2)
    };
    let solo_files = register(&mut solo, files.clone());
    solo.start_training(&settings).unwrap();
    let (solo_losses, failures) = run_supplying_files(&mut solo, &solo_files);
    assert_eq!(failures.len(), 1, "{failures:?}");

    let files = register(&mut shared, files);
    shared.start_training(&settings).unwrap();
    let (mut losses, mut helped, mut accuracies) = (Vec::new(), 0, Vec::new());
    while shared.run.is_some() {
        let mut jobs = Vec::new();
        while let Some(job) = shared.claim_frozen_job().unwrap() {
            jobs.push(job);
        }
        for job in jobs.iter().rev() {
            let job_files: Vec<_> = job.examples.iter().map(|&i| files[i].clone()).collect();
            let result = block_on(helper.frozen_activations(job, &job_files)).unwrap();
            for failed in &result.failed {
                shared.image_failed(job.examples[failed.position]).unwrap();
            }
            let wrong = shared.complete_frozen_job(job, vec![0.0; 5], result.shape).unwrap_err();
            assert!(wrong.to_string().contains("but 5 values came"), "{wrong}");
            assert!(shared.complete_frozen_job(job, result.activations, result.shape).unwrap());
            helped += 1;
        }
        // Every step of this run freezes stages, and the helper computed them all.
        assert_eq!(shared.images_needed(), Vec::<usize>::new());
        let progress = block_on(shared.train_step()).unwrap();
        losses.extend(progress.loss);
        accuracies.extend(progress.epoch_report.map(|report| report.val_accuracy));
    }
    assert!(helped >= 4, "{helped}");
    assert_eq!(losses.len(), solo_losses.len());
    for (shared, solo) in losses.iter().zip(&solo_losses) {
        assert!((shared - solo).abs() <= 1e-5 * solo.abs().max(1.0), "{losses:?} against {solo_losses:?}");
    }
    assert_eq!(accuracies.len(), 2);
}

/// Data-parallel training: a run whose every batch is split with a helper's replica of its model
/// (on another thread, adding up through shared slots), as the page's engine worker and a helper
/// would, takes the steps of the same run alone: after its first step its weights are the lone
/// run's within float rounding (3e-8), and its first epoch's losses are the lone run's. Only
/// loosely after that: a network this size amplifies rounding from step to step wherever an
/// activation sits at ReLU6's kinks — the lone run itself, fed its first batch in another order
/// (the same step, rounded otherwise), ends its second step 1e-5 away in its weights, as far as
/// the shared run; the second epoch's losses then differ by 0.2–1.1 % (over the random weights
/// each run draws, with Burn's convolutions as with ours).
#[test]
fn a_run_splitting_its_batches_with_a_replica_trains_as_alone() {
    use crate::model::find_params;
    use crate::train::{OptimizerKind, ThreadShares};

    let [mut solo, mut shared, mut one_step] = engines_sharing_random_weights();
    // Photos with texture: on plain colours BatchNorm's batch variances are near zero deep in the
    // network, which amplifies rounding without bound.
    let files: Vec<_> = (0..8u32)
        .map(|i| {
            let class = if i % 2 == 0 { "red" } else { "blue" };
            let mut state = i.wrapping_mul(2_654_435_761).wrapping_add(1);
            let image = image::RgbImage::from_fn(64, 56, |x, y| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let noise = (state >> 24) as u8;
                let tint = if i % 2 == 0 { [200, 40, 40] } else { [40, 40, 200] };
                image::Rgb(tint.map(|c: u8| c / 2 + noise / 2 + ((x + y) % 8) as u8 * 4))
            });
            let mut bytes = Vec::new();
            image::DynamicImage::ImageRgb8(image)
                .write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)
                .unwrap();
            (class, format!("{class}/{i}.png"), bytes)
        })
        .collect();
    let mut settings = RunSettings { strategy: Strategy::Full, val_fraction: 0.25, ..settings(2, 1e-3) };
    // SGD: its steps follow the gradients' values, where Adam's first steps let rounding decide
    // the sign of tiny ones.
    settings.config.optimizer = OptimizerKind::Sgd { momentum: 0.9 };
    let solo_files = register(&mut solo, files.clone());
    solo.start_training(&settings).unwrap();
    let (mut solo_losses, mut solo_reports) = (Vec::new(), Vec::new());
    while solo.run.is_some() {
        supply_needed(&mut solo, &solo_files);
        let progress = block_on(solo.train_step()).unwrap();
        solo_losses.extend(progress.loss);
        solo_reports.extend(progress.epoch_report);
    }
    let weights = |engine: &Engine| -> Vec<f32> {
        let model = engine.run.as_ref().expect("a run").run.model();
        find_params(&model, true).into_iter().filter_map(|p| p.values).flat_map(values_of).collect()
    };
    let one_step_files = register(&mut one_step, files.clone());
    one_step.start_training(&settings).unwrap();
    supply_needed(&mut one_step, &one_step_files);
    block_on(one_step.train_step()).unwrap();

    let files = register(&mut shared, files);
    shared.start_training(&settings).unwrap();
    let model = block_on(shared.export(Precision::F32, "2026-12-04")).unwrap();
    let [here, there] = <[ThreadShares; 2]>::try_from(ThreadShares::group(2)).ok().unwrap();
    shared.share_batches(2, Rc::new(here)).unwrap();
    let (jobs, received) = std::sync::mpsc::channel::<Option<ShareJob>>();
    let (losses, reports, helped) = std::thread::scope(|scope| {
        let replica = scope.spawn(move || {
            // A helper's engine: all it needs of the run is its model and settings.
            let mut helper = engine();
            helper.start_replica(&model, &settings).unwrap();
            let shares: Rc<dyn BatchShares> = Rc::new(there);
            let mut helped = 0;
            while let Ok(Some(job)) = received.recv() {
                block_on(helper.compute_replica_share(job, shares.clone())).unwrap();
                helped += 1;
            }
            helped
        });
        let (mut losses, mut reports) = (Vec::new(), Vec::new());
        while shared.run.is_some() {
            supply_needed(&mut shared, &files);
            for job in shared.claim_share_jobs().unwrap() {
                jobs.send(Some(job)).unwrap();
            }
            let progress = block_on(shared.train_step()).unwrap();
            if losses.is_empty() {
                let (after_one, alone) = (weights(&shared), weights(&one_step));
                let most = after_one.iter().zip(&alone).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
                assert!(most < 1e-6, "the first step's weights differ from the lone run's by {most}");
            }
            losses.extend(progress.loss);
            reports.extend(progress.epoch_report);
        }
        jobs.send(None).unwrap();
        (losses, reports, replica.join().unwrap())
    });
    // Two epochs of two training batches (4 and 2 images) and one validation batch (2), each
    // split in two.
    assert_eq!(helped, 6);
    assert_eq!(losses.len(), solo_losses.len());
    assert!((losses[0] - solo_losses[0]).abs() <= 1e-5, "{losses:?} against {solo_losses:?}");
    assert!((losses[1] - solo_losses[1]).abs() <= 1e-4 * solo_losses[1], "{losses:?} against {solo_losses:?}");
    for (shared, solo) in losses.iter().zip(&solo_losses) {
        assert!((shared - solo).abs() <= 5e-2 * solo.abs(), "{losses:?} against {solo_losses:?}");
    }
    assert_eq!(reports.len(), 2);
    // The first epoch's validation batch, split in two, predicts what the lone run's predicts: the
    // top-class probability of each image (a share lost would leave its rows' logits at zero).
    let confidences = |report: &crate::train::EpochReport| -> Vec<f32> {
        let calibration = report.calibration.as_ref().expect("validation images");
        calibration.before.bins.iter().map(|bin| bin.confidence).collect()
    };
    let (split, alone) = (confidences(&reports[0]), confidences(&solo_reports[0]));
    for (split, alone) in split.iter().zip(&alone) {
        assert!((split - alone).abs() <= 1e-4, "{split} against {alone}");
    }
}

#[test]
fn fine_tuning_strategies_run_and_report_each_epoch() {
    for strategy in [Strategy::LastStages { stages: 1 }, Strategy::Full] {
        let mut engine = engine();
        engine.use_random_weights(Architecture::ResNet18);
        for i in 0..3 {
            engine.add_image(&format!("a/{i}.png"), &png([200, 200, 0], i), "a", None).unwrap();
            engine.add_image(&format!("b/{i}.png"), &png([0, 200, 200], i), "b", None).unwrap();
        }
        let settings = RunSettings {
            strategy,
            config: crate::train::TrainConfig { epochs: 2, batch_size: 4, ..Default::default() },
            ..RunSettings::default()
        };
        let plan = engine.start_training(&settings).unwrap();
        let mut epochs = 0;
        for _ in 0..plan.steps_total {
            let progress = block_on(engine.train_step()).unwrap();
            if let Some(loss) = progress.loss {
                assert!(loss.is_finite());
            }
            epochs += usize::from(progress.epoch_report.is_some());
        }
        assert_eq!(epochs, 2, "{strategy:?}");
        assert!(engine.run.is_none() && engine.trained.is_some());
    }
}

/// Trains a head on two colours with `architecture`'s random backbone, for the export tests.
fn trained_engine(architecture: Architecture) -> Engine {
    let mut engine = engine();
    engine.pretrained = Some(ImageClassifier::random(architecture, IMAGENET_CLASSES, &engine.device).into());
    add_red_and_blue(&mut engine, 4);
    let settings = settings(2, 1e-2);
    let plan = engine.start_training(&settings).unwrap();
    assert!(!plan.continued);
    for _ in 0..plan.steps_total {
        block_on(engine.train_step()).unwrap();
    }
    engine
}

/// The trained model explains a prediction: a map over the last stage for the predicted class
/// or a named one; an unknown class name and a broken file are errors that say so.
#[test]
fn a_prediction_is_explained_by_a_heat_map() {
    let engine = trained_engine(Architecture::MobileNetV2);
    let image = png([220, 20, 20], 9);
    let predicted = block_on(engine.predict("x.png", &image, 1, Views::Centre)).unwrap().top[0].class.clone();
    let explained = block_on(engine.explain("x.png", &image, None)).unwrap();
    assert_eq!(explained.class, predicted);
    assert_eq!((explained.map.width, explained.map.height), (7, 7));
    assert_eq!(block_on(engine.explain("x.png", &image, Some("blue"))).unwrap().class, "blue");
    let err = block_on(engine.explain("x.png", &image, Some("green"))).unwrap_err().to_string();
    assert!(err.contains("no class 'green'"), "{err}");
    let err = block_on(engine.explain("x.png", b"not an image", None)).unwrap_err().to_string();
    assert!(err.contains("x.png"), "{err}");
}

/// Export → load gives the same logits, class names, preprocessing and training summary (with
/// its "unknown" threshold and temperature).
#[test]
fn an_export_loads_back_with_identical_logits_and_class_names() {
    for architecture in [Architecture::ResNet18, Architecture::MobileNetV2, Architecture::EfficientNetLite0] {
        let engine = trained_engine(architecture);
        let bytes = block_on(engine.export(Precision::F32, "2026-11-28T12:00:00.000Z")).unwrap();
        let mut reopened = self::engine();
        let loaded = reopened.load_weights(&bytes).unwrap();
        assert_eq!(loaded.architecture, architecture);
        assert_eq!(loaded.class_names.as_deref(), Some(&["blue".to_string(), "red".to_string()][..]));
        let training = loaded.training.unwrap();
        assert_eq!(
            (training["epochs_completed"].as_u64(), training["date"].as_str()),
            (Some(2), Some("2026-11-28T12:00:00.000Z"))
        );
        // The "unknown" threshold, a top-class probability of two classes, for the embed.
        let unknown_below = training["unknown_below"].as_f64();
        assert!(unknown_below.is_some_and(|p| (0.5..=1.0).contains(&p)), "{unknown_below:?}");
        // Fitted on the validation images, in the range searched.
        let temperature = &training["temperature"];
        assert!(temperature.as_f64().is_some_and(|t| (0.05..=20.0).contains(&t)), "{temperature}");
        assert_eq!(reopened.preprocess(), architecture.preprocess());
        let input: Vec<f32> = (0..2 * 3 * 40 * 40).map(|i| ((i % 97) as f32 / 48.0) - 1.0).collect();
        let before = block_on(engine.logits(input.clone(), 2, 40, 40)).unwrap();
        let after = block_on(reopened.logits(input, 2, 40, 40)).unwrap();
        assert_eq!(before, after, "{architecture:?}");
        let image = png([220, 20, 20], 9);
        let predicted = block_on(reopened.predict("x.png", &image, 2, Views::Centre)).unwrap();
        assert!(predicted.unknown.is_some(), "the reopened model predicts with its threshold");
        assert_eq!(predicted, block_on(engine.predict("x.png", &image, 2, Views::Centre)).unwrap());
    }
}

/// Half precision halves the file and rounds each weight to float16, nothing more.
#[test]
fn a_float16_export_is_half_the_size_and_close() {
    let engine = trained_engine(Architecture::MobileNetV2);
    let full = block_on(engine.export(Precision::F32, "d")).unwrap();
    let half = block_on(engine.export(Precision::F16, "d")).unwrap();
    let ratio = half.len() as f64 / full.len() as f64;
    assert!((0.49..0.51).contains(&ratio), "{ratio}");
    let mut reopened = self::engine();
    reopened.load_weights(&half).unwrap();
    let input: Vec<f32> = (0..3 * 40 * 40).map(|i| ((i % 89) as f32 / 44.0) - 1.0).collect();
    let exact = block_on(engine.logits(input.clone(), 1, 40, 40)).unwrap();
    let rounded = block_on(reopened.logits(input, 1, 40, 40)).unwrap();
    let diff = exact.iter().zip(&rounded).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(diff < 0.05 * exact.iter().map(|v| v.abs()).fold(1.0, f32::max), "{diff} {exact:?}");
}

/// An opened export continues training when the classes are the same, and gets a new head
/// when they are not.
#[test]
fn an_opened_export_continues_training_on_the_same_classes_only() {
    let bytes = block_on(trained_engine(Architecture::ResNet18).export(Precision::F32, "d")).unwrap();
    let mut engine = engine();
    engine.load_weights(&bytes).unwrap();
    add_red_and_blue(&mut engine, 4);
    let settings = settings(1, 1e-3);
    assert!(engine.start_training(&settings).unwrap().continued);
    engine.add_image("green/0.png", &png([20, 220, 20], 0), "green", None).unwrap();
    assert!(!engine.start_training(&settings).unwrap().continued);
}

#[test]
fn nothing_to_export_before_training_and_pixels_must_fill_the_image() {
    let mut engine = engine();
    engine.use_random_weights(Architecture::ResNet18);
    let err = block_on(engine.export(Precision::F32, "d")).unwrap_err();
    assert!(err.to_string().contains("no trained model to export"), "{err}");
    let err = block_on(engine.predict_pixels(&[0; 10], 2, 2, 1, Views::Centre)).unwrap_err();
    assert!(err.to_string().contains("16 bytes"), "{err}");
    let predictions = block_on(engine.predict_pixels(&[90; 48 * 40 * 4], 48, 40, 3, Views::Centre)).unwrap();
    assert_eq!(predictions.top.len(), 3);
    // ImageNet's own head has no "unknown" threshold.
    assert_eq!(predictions.unknown, None);
}

/// A file whose header is fine but whose pixels are cut off passes registration and fails when
/// a step decodes it: it is named, leaves the run, and the others train to the end, with
/// extraction on a second engine as on the page's helpers and with this engine's own steps.
#[test]
fn a_file_that_fails_to_decode_mid_run_leaves_it_and_the_rest_trains() {
    let mut files = red_and_blue(4);
    let whole = png([220, 20, 20], 9);
    files.push(("red", "red/cut.png".into(), whole[..whole.len() - 20].to_vec()));
    let settings = RunSettings { val_fraction: 0.0, ..settings(2, 1e-2) };

    let mut owner = engine();
    owner.use_random_weights(Architecture::MobileNetV2);
    let files = register(&mut owner, files);
    let plan = owner.start_training(&settings).unwrap();
    assert_eq!(plan.train_images, 9, "the cut file is only found out when decoded");
    let (losses, failures) = run_supplying_files(&mut owner, &files);
    assert_eq!(losses.len(), 2 * 2);
    assert!(losses.iter().all(|loss| loss.is_finite()));
    assert_eq!(failures.len(), 1);
    assert!(failures[0].contains("red/cut.png"), "{}", failures[0]);
    // The next run leaves it out from the start, and predictions work.
    assert_eq!(owner.start_training(&settings).unwrap().train_images, 8);
    assert!(owner.images_needed().iter().all(|&i| files[i].0 != "red/cut.png"));
    owner.stop_training();
    assert_eq!(block_on(owner.predict("red/0.png", &files[0].1, 1, Views::Centre)).unwrap().top.len(), 1);

    // A helper engine computing features from the files names the same file.
    let mut helper = engine();
    helper.use_random_weights(Architecture::MobileNetV2);
    let result = block_on(helper.file_features(&files)).unwrap();
    assert_eq!(result.failed.len(), 1);
    assert_eq!(result.failed[0].position, 8);
    assert!(result.failed[0].reason.contains("red/cut.png"));
    assert_eq!(result.features.len(), 8 * Architecture::MobileNetV2.features());
}

/// Fine-tuning from files supplied step by step gives exactly the losses of the same run on
/// images kept in memory; a step whose images were not supplied is refused and changes nothing.
#[test]
fn fine_tuning_on_supplied_files_matches_images_kept_in_memory() {
    let settings = RunSettings {
        strategy: Strategy::LastStages { stages: 1 },
        config: crate::train::TrainConfig { epochs: 2, batch_size: 4, ..Default::default() },
        ..RunSettings::default()
    };
    let (mut kept, mut supplied) = (engine(), engine());
    kept.use_random_weights(Architecture::ResNet18);
    block_on(kept.features(vec![0.0; 3 * 32 * 32], 1, 32, 32)).unwrap();
    give_a_red_and_blue_head(&mut kept);
    supplied.pretrained = kept.pretrained.clone();

    add_red_and_blue(&mut kept, 3);
    kept.start_training(&settings).unwrap();
    let (kept_losses, _) = run_supplying_files(&mut kept, &[]);

    let files = register(&mut supplied, red_and_blue(3));
    supplied.start_training(&settings).unwrap();
    let needed = supplied.images_needed();
    assert_eq!(needed.len(), 4, "the first batch");
    let err = block_on(supplied.train_step()).unwrap_err();
    assert!(err.to_string().contains("were not supplied"), "{err}");
    assert_eq!(supplied.images_needed(), needed, "the refused step changed nothing");
    let (supplied_losses, failures) = run_supplying_files(&mut supplied, &files);
    assert!(failures.is_empty());
    assert!(kept.trained.as_ref().is_some_and(|t| t.training().is_some_and(|t| t["continued"] == true)));
    assert_eq!(supplied_losses, kept_losses);
    assert!(supplied.dataset.examples().iter().all(|example| example.image.is_none()), "pixels released");
}

/// A run resumed after epoch 1 of 3 (the page does so when the GPU is lost) trains epochs 2
/// and 3, numbered so, and a resume with nothing left is refused.
#[test]
fn a_resumed_run_numbers_its_epochs_on_from_the_interrupted_one() {
    let mut engine = engine();
    engine.use_random_weights(Architecture::MobileNetV2);
    add_red_and_blue(&mut engine, 3);
    let plan = engine.start_training(&RunSettings { resume_after: 1, ..settings(3, 1e-2) }).unwrap();
    let (mut steps, mut epochs) = (0, Vec::new());
    while engine.run.is_some() {
        let progress = block_on(engine.train_step()).unwrap();
        assert_eq!(progress.epochs, 3);
        epochs.extend(progress.epoch_report.map(|report| report.epoch));
        steps += 1;
    }
    assert_eq!(epochs, [2, 3]);
    assert_eq!(steps, plan.steps_total);
    let summary = engine.trained.as_ref().and_then(|trained| trained.training().cloned()).unwrap();
    assert_eq!(summary["epochs_completed"], 3);
    let err = engine.start_training(&RunSettings { resume_after: 3, ..settings(3, 1e-2) }).unwrap_err();
    assert!(err.to_string().contains("nothing is left to train"), "{err}");
}

/// The data check on a run's cached features: an exact copy and a blue image filed as red are
/// flagged; removed, they leave the next run. (With random weights every plain-coloured image
/// looks alike: this is the engine's plumbing; the doctor's own tests and `bench_doctor` judge
/// what it finds.)
#[test]
fn the_data_check_flags_a_copy_and_a_wrong_label_and_removal_takes_effect() {
    let mut engine = engine();
    engine.use_random_weights(Architecture::ResNet18);
    add_red_and_blue(&mut engine, 6);
    engine.add_image("red/copy.png", &png([220, 20, 20], 0), "red", None).unwrap();
    engine.add_image("red/actually-blue.png", &png([20, 20, 220], 7), "red", None).unwrap();
    let (copy, mislabelled) = (12, 13);
    assert!(engine.start_check().unwrap_err().to_string().contains("no training run"));
    let plan = engine.start_training(&settings(1, 1e-2)).unwrap();
    let err = engine.start_check().unwrap_err().to_string();
    assert!(err.contains("once the features are extracted"), "{err}");
    let mut steps = 0;
    while !engine.run.as_ref().unwrap().run.features_ready() {
        block_on(engine.train_step()).unwrap();
        steps += 1;
    }
    let check_steps = engine.start_check().unwrap();
    let diagnosis = (0..check_steps)
        .find_map(|_| block_on(engine.check_step()).unwrap().diagnosis)
        .expect("a diagnosis by the last step");
    assert!(block_on(engine.check_step()).is_err(), "the check is over");
    assert_eq!(diagnosis.images, 14);
    assert!(
        diagnosis.duplicates.iter().any(|d| d.identical && [d.first.min(d.second), d.first.max(d.second)] == [0, copy]),
        "{:?}",
        diagnosis.duplicates
    );
    assert!(diagnosis.label_issues.iter().any(|issue| issue.index == mislabelled), "{:?}", diagnosis.label_issues);
    let err = engine.set_excluded(&[copy], true).unwrap_err().to_string();
    assert!(err.contains("a run is training on these images"), "{err}");
    for _ in steps..plan.steps_total {
        block_on(engine.train_step()).unwrap();
    }
    let leak = engine.leak_effect().expect("a check and an evaluation");
    assert_eq!(leak.validation_images, plan.val_images);
    engine.set_excluded(&[copy, mislabelled], true).unwrap();
    let next = engine.start_training(&settings(1, 1e-2)).unwrap();
    assert_eq!(next.train_images + next.val_images, plan.train_images + plan.val_images - 2);
    assert!(engine.set_excluded(&[99], false).is_err());
}
