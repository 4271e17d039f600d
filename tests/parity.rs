//! Parity with PyTorch: torchvision's transforms and resnet18 forward, on the fixtures written by
//! scripts/make_fixtures.py (torch 2.15, torchvision 0.29).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use browser_finetune::data::{Interpolation, Preprocess, decode_image, resize_to};
use browser_finetune::model::{Architecture, ImageClassifier};
use browser_finetune::weights::load_pretrained;
use burn::tensor::{Device, Tensor, TensorData};
use common::*;
use image::RgbImage;

/// Tensors by name: shape and values.
type Tensors = std::collections::HashMap<String, (Vec<usize>, Vec<f32>)>;

/// The image names in manifest order, and PyTorch's transformed tensor of each.
fn reference_inputs() -> (Vec<String>, Tensors) {
    (manifest().images, safetensors_f32(&read_fixture("transforms.safetensors")))
}

#[test]
fn transforms_match_torchvision_within_one_level() {
    let (images, reference) = reference_inputs();
    let preprocess = Preprocess::imagenet();
    let mut worst = (0.0f32, String::new());
    for name in &images {
        let decoded = decode_image(name, &read_fixture(&format!("images/{name}"))).unwrap();
        let ours = preprocess.apply(&decoded);
        let (shape, theirs) = &reference[name];
        assert_eq!(shape, &[3, 224, 224], "{name}");
        // Compare in pixel units ([0, 1]): undo the division by std.
        let plane = 224 * 224;
        let diff: f32 = ours
            .iter()
            .zip(theirs)
            .enumerate()
            .map(|(i, (a, b))| (a - b).abs() * preprocess.std[i / plane])
            .sum::<f32>()
            / ours.len() as f32;
        println!("transform mean abs diff {name}: {:.6} ({:.3}/255)", diff, diff * 255.0);
        assert!(diff <= 1.0 / 255.0, "{name}: mean abs diff {diff} > 1/255");
        if diff > worst.0 {
            worst = (diff, name.clone());
        }
    }
    println!("worst transform mean abs diff: {:.6} ({})", worst.0, worst.1);
}

/// Checks a model's logits on the fixture photos against torchvision's, `expected`: as trained and
/// exported, and with the BatchNorms folded as feature extraction runs it. The difference may be
/// `tolerance` times the largest logit (at least 1): float32 sums over deeper networks round more.
fn assert_logits_match(model: &ImageClassifier, expected: &(Vec<usize>, Vec<f32>), label: &str, tolerance: f32) {
    let device = Device::flex();
    let (images, reference) = reference_inputs();
    let mut batch = Vec::new();
    for name in &images {
        batch.extend_from_slice(&reference[name].1);
    }
    let input = Tensor::<4>::from_data(TensorData::new(batch, [images.len(), 3, 224, 224]), &device);
    assert_eq!(expected.0, [images.len(), 1000]);
    let largest = expected.1.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let scale = largest.max(1.0);
    let folded = model.fc.forward(model.backbone.folded().forward(input.clone()));
    for (variant, logits) in [("as loaded", model.forward(input)), ("BatchNorm folded", folded)] {
        let diff = max_abs_diff(&logits.into_data().try_into_vec::<f32>().unwrap(), &expected.1);
        println!(
            "seeded {label} ({variant}) logits max abs diff over {} images: {diff:.3e} (largest logit {largest:.2}, relative {:.2e})",
            images.len(),
            diff / largest
        );
        assert!(diff <= tolerance * scale, "{label} {variant}: logits differ by {diff}");
    }
}

#[test]
fn seeded_resnet18_logits_match_torchvision() {
    let model = load_pretrained(&seeded_resnet18(), &Device::flex()).unwrap().classifier().unwrap();
    assert_logits_match(
        &model,
        &safetensors_f32(&read_fixture("seeded_logits.safetensors"))["logits"],
        "resnet18",
        1e-4,
    );
}

/// A torchvision model of `scripts/make_family_fixtures.py`, loaded from its keys (strictly: every
/// key, every shape) with seeded weights, is recognised as `architecture` and gives torchvision's
/// logits within `tolerance` (see [`assert_logits_match`]).
fn assert_family_model_matches(model: &str, architecture: Architecture, tolerance: f32) {
    let expected = safetensors_f32(&read_fixture("seeded_family_logits.safetensors"));
    let bytes = seeded_model(torchvision_keys(model));
    let pretrained = load_pretrained(&bytes, &Device::flex()).unwrap();
    assert_eq!(pretrained.architecture(), architecture);
    assert_logits_match(&pretrained.classifier().unwrap(), &expected[model], model, tolerance);
}

/// ResNet34 and ResNet50 (logits up to 175 and 136).
#[test]
fn seeded_resnet34_and_resnet50_logits_match_torchvision() {
    assert_family_model_matches("resnet34", Architecture::ResNet34, 2e-6);
    assert_family_model_matches("resnet50", Architecture::ResNet50, 2e-6);
}

/// MobileNetV3-Small and -Large (squeeze-excitation, Hardswish, the linear layer after pooling).
#[test]
fn seeded_mobilenet_v3_logits_match_torchvision() {
    assert_family_model_matches("mobilenet_v3_small", Architecture::MobileNetV3Small, 1e-4);
    assert_family_model_matches("mobilenet_v3_large", Architecture::MobileNetV3Large, 1e-4);
}

/// EfficientNet-B0: SiLU, squeeze-excitation to a quarter of each block's input with a sigmoid gate.
#[test]
fn seeded_efficientnet_b0_logits_match_torchvision() {
    assert_family_model_matches("efficientnet_b0", Architecture::EfficientNetB0, 1e-4);
}

/// DenseNet121: dense blocks concatenating every layer's output, BatchNorm before each
/// convolution, transitions with average pooling.
#[test]
fn seeded_densenet121_logits_match_torchvision() {
    assert_family_model_matches("densenet121", Architecture::DenseNet121, 1e-4);
}

/// Inception v3: parallel branches concatenated, factorised 1×7/7×1 and forked 1×3/3×1
/// convolutions, average pooling that counts the padding, BatchNorm eps 0.001; the file's
/// auxiliary classifier left out.
#[test]
fn seeded_inception_v3_logits_match_torchvision() {
    assert_family_model_matches("inception_v3", Architecture::InceptionV3, 1e-4);
}

/// EfficientNet-B0's transforms resize bicubically: Pillow's filter, fixed-point weights and
/// rounding, down (with its antialiasing) and up, to the last bit.
#[test]
fn bicubic_resize_matches_pillow_exactly() {
    let reference = safetensors_f32(&read_fixture("bicubic_resize.safetensors"));
    let image = |name: &str| {
        let (shape, values) = &reference[name];
        let bytes = values.iter().map(|&v| v as u8).collect();
        RgbImage::from_raw(shape[1] as u32, shape[0] as u32, bytes).unwrap()
    };
    let source = image("source");
    for name in ["down", "up"] {
        let expected = image(name);
        let ours = resize_to(&source, expected.width(), expected.height(), Interpolation::Bicubic);
        assert_eq!(ours, expected, "{name}");
    }
    let preprocess = Architecture::EfficientNetB0.preprocess();
    assert_eq!(preprocess.interpolation, Interpolation::Bicubic);
}

/// VGG11-BN, VGG16 and AlexNet: plain stacks, the classifier's two hidden layers kept with the
/// backbone (VGG16 is 138 million parameters: half a gigabyte of seeded weights).
#[test]
fn seeded_vgg_and_alexnet_logits_match_torchvision() {
    assert_family_model_matches("vgg11_bn", Architecture::Vgg11Bn, 1e-4);
    assert_family_model_matches("vgg16", Architecture::Vgg16, 1e-4);
    assert_family_model_matches("alexnet", Architecture::AlexNet, 1e-4);
}

/// Real files written by `torch.save` and by `safetensors.torch.save_file`, through the same entry
/// point, give torchvision's logits.
#[test]
fn real_pth_and_safetensors_files_load_and_match_torchvision() {
    let device = Device::flex();
    let (images, reference) = reference_inputs();
    let first = &reference[&images[0]].1;
    let expected = safetensors_f32(&read_fixture("pattern_logits.safetensors"));
    for (file, key, classes) in
        [("resnet18_pattern.pth.gz", "pth", 1000), ("resnet18_pattern_10class.safetensors.gz", "safetensors", 10)]
    {
        let model = load_pretrained(&gunzip_fixture(file), &device).unwrap().classifier().unwrap();
        assert_eq!(model.num_classes(), classes, "{file}");
        let input = Tensor::<4>::from_data(TensorData::new(first.clone(), [1, 3, 224, 224]), &device);
        let logits = model.forward(input).into_data().try_into_vec::<f32>().unwrap();
        let diff = max_abs_diff(&logits, &expected[key].1);
        println!("{file}: logits max abs diff {diff:.3e}");
        assert!(diff <= 1e-4, "{file}: logits differ by {diff}");
    }
}

/// Training agrees with PyTorch step by step: the head's loss at every step and its final
/// weights, for the seed's Adam and for SGD with momentum.
#[test]
fn head_training_follows_torch_optim_step_by_step() {
    let fixture = read_fixture("head_training.safetensors");
    for optimizer in ["adam", "sgd"] {
        let replay = futures_lite::future::block_on(replay_head_training(&fixture, optimizer, &Device::flex()));
        let loss_diff = max_abs_diff(&replay.losses, &replay.expected_losses);
        let weight_diff = max_abs_diff(&replay.parameters, &replay.expected_parameters);
        println!(
            "{optimizer}: {} steps, loss max abs diff {loss_diff:.2e}, final weights {weight_diff:.2e}",
            replay.losses.len()
        );
        assert!(loss_diff <= 1e-5 && weight_diff <= 1e-5, "{optimizer}: {loss_diff} / {weight_diff}");
    }
}
