use super::*;
use crate::data::Preprocess;
use crate::data::test_images::png;
use crate::model::{Architecture, FoldableNorm};
use crate::train::C_GRID;
use burn::tensor::Tensor;
use futures_lite::future::block_on;

fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data().try_into_vec::<f32>().expect("f32 tensor")
}

fn running_mean(bn: &FoldableNorm) -> Vec<f32> {
    values(bn.batch_norm().expect("an unfolded BatchNorm").running_mean.value())
}

fn running_var(bn: &FoldableNorm) -> Vec<f32> {
    values(bn.batch_norm().expect("an unfolded BatchNorm").running_var.value())
}

/// Strategy (b) with one stage, one epoch of batches of 4, nothing held out.
fn last_stage() -> RunSettings {
    RunSettings {
        strategy: Strategy::LastStages { stages: 1 },
        config: TrainConfig { epochs: 1, batch_size: 4, ..TrainConfig::default() },
        val_fraction: 0.0,
        seed: 1,
        ..RunSettings::default()
    }
}

fn two_colours(preprocess: &Preprocess) -> Dataset {
    let mut dataset = Dataset::default();
    for i in 0..4 {
        let (colour, class) = if i % 2 == 0 { ([200, 30, 30], "red") } else { ([30, 30, 200], "blue") };
        dataset.add(&format!("{class}/{i}.png"), &png(colour, i), class, None, preprocess).unwrap();
    }
    dataset
}

/// The same for the inverted-residual backbones: the last block group and the final 1×1
/// convolution train, the stem and the earlier blocks stay as they were.
#[test]
fn last_stage_training_of_mobile_backbones_leaves_their_early_blocks_untouched() {
    let device = Device::flex();
    for architecture in [Architecture::MobileNetV2, Architecture::EfficientNetLite0] {
        let pretrained = ImageClassifier::random(architecture, 1000, &device);
        let dataset = two_colours(&architecture.preprocess());
        let mut run = TrainingRun::new(pretrained.backbone.clone(), &device, &dataset, &last_stage(), None).unwrap();
        block_on(run.step(&dataset)).unwrap();
        let trained = run.model();
        let (
            Backbone::MobileNetV2(before) | Backbone::EfficientNetLite0(before),
            Backbone::MobileNetV2(after) | Backbone::EfficientNetLite0(after),
        ) = (&pretrained.backbone, &trained.backbone)
        else {
            panic!("{architecture:?} is not an inverted-residual backbone");
        };
        let last = before.blocks.len() - 1;
        assert_eq!(values(before.stem.conv.weight.val()), values(after.stem.conv.weight.val()));
        assert_eq!(running_var(&before.blocks[last - 1].project.bn), running_var(&after.blocks[last - 1].project.bn));
        assert_ne!(
            values(before.blocks[last].project.conv.weight.val()),
            values(after.blocks[last].project.conv.weight.val())
        );
        assert_ne!(values(before.head.conv.weight.val()), values(after.head.conv.weight.val()));
        assert_eq!(trained.fc.weight.dims(), [1280, 2], "{architecture:?}");
    }
}

/// Strategy (b) with one stage: one step changes layer4 (weights and BatchNorm statistics) and
/// the head, and leaves the frozen stem and stages exactly as they were.
#[test]
fn last_stage_training_leaves_frozen_layers_and_their_batchnorm_untouched() {
    let device = Device::flex();
    let pretrained = ImageClassifier::random(Architecture::ResNet18, 1000, &device);
    let dataset = two_colours(&Preprocess::imagenet());
    let mut run = TrainingRun::new(pretrained.backbone.clone(), &device, &dataset, &last_stage(), None).unwrap();
    let progress = block_on(run.step(&dataset)).unwrap();
    assert_eq!(progress.phase, Phase::Training);
    let trained = run.model();
    let (Backbone::ResNet18(before), Backbone::ResNet18(after)) = (&pretrained.backbone, &trained.backbone) else {
        panic!("the backbone changed architecture");
    };
    assert_eq!(values(before.conv1.weight.val()), values(after.conv1.weight.val()));
    assert_eq!(values(before.layer3[1].conv2.weight.val()), values(after.layer3[1].conv2.weight.val()));
    assert_eq!(running_mean(&before.layer3[1].bn2), running_mean(&after.layer3[1].bn2));
    assert_ne!(values(before.layer4[1].conv2.weight.val()), values(after.layer4[1].conv2.weight.val()));
    assert_ne!(running_mean(&before.layer4[1].bn2), running_mean(&after.layer4[1].bn2));
    assert_eq!(trained.num_classes(), 2);
}

/// The fitted classifiers: extraction, one fit per cross-validation step, the final fit, then
/// the validation images through the fitted head — one epoch, its report saying how `C` was
/// chosen, and a model whose head gives the reported accuracy.
#[test]
fn fitted_classifiers_choose_c_by_cross_validation_and_become_the_head() {
    let device = Device::flex();
    let architecture = Architecture::MobileNetV2;
    let backbone = ImageClassifier::random(architecture, 1000, &device).backbone;
    let mut dataset = Dataset::default();
    for i in 0..20 {
        let (colour, class) = if i % 2 == 0 { ([200, 30, 30], "red") } else { ([30, 30, 200], "blue") };
        dataset.add(&format!("{class}/{i}.png"), &png(colour, i), class, None, &architecture.preprocess()).unwrap();
    }
    for strategy in [Strategy::LogisticRegression, Strategy::LinearSvm] {
        let settings = RunSettings { strategy, seed: 3, ..RunSettings::default() };
        let mut run = TrainingRun::new(backbone.clone(), &device, &dataset, &settings, None).unwrap();
        let (mut phases, mut reports) = (Vec::new(), Vec::new());
        while !run.is_finished() {
            let progress = block_on(run.step(&dataset)).unwrap();
            assert_eq!(progress.epochs, 1, "{strategy:?}: a fit is one epoch");
            phases.push(progress.phase);
            reports.extend(progress.epoch_report);
        }
        let fits = phases.iter().filter(|&&phase| phase == Phase::Fitting).count();
        assert_eq!(fits, 5 * C_GRID.len() + 1, "{strategy:?}: 8 training images per class, 5 folds");
        assert_eq!(phases.len(), run.steps_total(), "{strategy:?}");
        let [report] = reports.as_slice() else { panic!("{strategy:?}: one epoch report, got {}", reports.len()) };
        let fit = report.fit.as_ref().expect("the fit's summary");
        assert_eq!(Some(fit.model), strategy.linear_model());
        assert!(fit.converged && fit.folds == 5 && C_GRID.contains(&fit.c), "{fit:?}");
        assert_eq!(report.val_accuracy, Some(1.0), "{strategy:?}");
        assert_eq!(report.train_accuracy, 1.0, "{strategy:?}");
        // The run's model is the fitted head on the frozen backbone.
        let model = run.model();
        for (i, truth) in run.split().val.clone() {
            let input = run.inputs.pixels(&dataset, &[i], None).unwrap();
            assert_eq!(argmax(&values(model.forward(input))), truth, "{strategy:?}");
        }
    }
}

/// Progressive unfreezing, one stage per epoch at half the rate of the stage after it: epoch 1
/// trains the head alone, epoch 2 also layer4, epoch 3 also layer3, and the reports say so.
/// Adam's first step moves every parameter by its learning rate (times the gradient's sign),
/// which shows each stage's rate.
#[test]
fn progressive_unfreezing_adds_a_stage_per_period_at_a_falling_rate() {
    let device = Device::flex();
    let pretrained = ImageClassifier::random(Architecture::ResNet18, 1000, &device);
    let dataset = two_colours(&Preprocess::imagenet());
    let settings = RunSettings {
        strategy: Strategy::Progressive { every: 1, lr_factor: 0.5 },
        config: TrainConfig { epochs: 3, ..last_stage().config },
        ..last_stage()
    };
    let mut run = TrainingRun::new(pretrained.backbone.clone(), &device, &dataset, &settings, None).unwrap();
    let (mut models, mut trained_stages) = (vec![run.model()], Vec::new());
    while !run.is_finished() {
        if let Some(report) = block_on(run.step(&dataset)).unwrap().epoch_report {
            trained_stages.push(report.trained_stages);
            models.push(run.model());
        }
    }
    assert_eq!(trained_stages, [Some(0), Some(1), Some(2)]);
    let largest_change = |before: &ImageClassifier, after: &ImageClassifier, layer: usize| -> f32 {
        let weights = |model: &ImageClassifier| {
            let Backbone::ResNet18(net) = &model.backbone else { panic!("not a ResNet18") };
            values([&net.layer1, &net.layer2, &net.layer3, &net.layer4][layer - 1][0].conv1.weight.val())
        };
        weights(before).iter().zip(weights(after)).fold(0.0, |m, (a, b)| m.max((a - b).abs()))
    };
    // Epoch 1: the head only.
    assert_eq!(largest_change(&models[0], &models[1], 4), 0.0);
    assert_ne!(values(models[0].fc.weight.val()), values(models[1].fc.weight.val()));
    // Epoch 2: layer4 at half the rate; layer3 still frozen.
    let step = largest_change(&models[1], &models[2], 4);
    assert!((step - 0.5e-3).abs() < 1e-5, "layer4 moved {step}");
    assert_eq!(largest_change(&models[1], &models[2], 3), 0.0);
    // Epoch 3: layer3 at a quarter; layer2 still frozen.
    let step = largest_change(&models[2], &models[3], 3);
    assert!((step - 0.25e-3).abs() < 1e-5, "layer3 moved {step}");
    assert_eq!(largest_change(&models[2], &models[3], 2), 0.0);
}
