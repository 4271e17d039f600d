//! The weights entry point refuses everything that is not a ResNet18 state_dict, with a message
//! that names the cause, and never panics.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use browser_finetune::Error;
use browser_finetune::model::Architecture;
use browser_finetune::weights::load_pretrained;
use burn::tensor::Device;
use common::*;

fn load_error(bytes: &[u8]) -> Error {
    match load_pretrained(bytes, &Device::flex()) {
        Ok(_) => panic!("loaded weights that should have been refused"),
        Err(err) => err,
    }
}

#[test]
fn an_html_error_page_is_named_as_such() {
    let page = b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body>Not Found</body></html>";
    let err = load_error(page);
    assert!(matches!(err, Error::HtmlInsteadOfWeights));
    assert!(err.to_string().contains("HTML page"), "{err}");
}

#[test]
fn truncated_files_are_reported_as_corrupt_at_any_length() {
    for file in ["resnet18_pattern.pth.gz", "resnet18_pattern_10class.safetensors.gz"] {
        let bytes = gunzip_fixture(file);
        for fraction in [0.001, 0.1, 0.5, 0.9, 0.999] {
            let cut = (bytes.len() as f64 * fraction) as usize;
            let err = load_error(&bytes[..cut]);
            assert!(matches!(err, Error::CorruptWeights { .. }), "{file} cut at {cut}: {err}");
            assert!(err.to_string().contains("truncated or corrupt"), "{err}");
        }
    }
}

#[test]
fn random_bytes_are_not_weights() {
    let mut state = 12345u64;
    let noise: Vec<u8> = (0..4096)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 56) as u8
        })
        .collect();
    let err = load_error(&noise);
    assert!(matches!(err, Error::UnknownWeightsFormat { .. } | Error::CorruptWeights { .. }), "{err}");
}

#[test]
fn another_architecture_lists_missing_and_unexpected_keys() {
    // The same tensors under MobileNet-style names.
    let bytes = seeded_safetensors(|key, shape| Some((key.replace("layer", "features."), shape)));
    let err = load_error(&bytes);
    let Error::WeightsMismatch { mismatch, .. } = &err else { panic!("{err}") };
    assert!(mismatch.missing.contains(&"layer1.0.conv1.weight".to_string()), "{err}");
    assert!(mismatch.unexpected.contains(&"features.1.0.conv1.weight".to_string()), "{err}");
    let message = err.to_string();
    assert!(message.contains("ResNet18") && message.contains("missing") && message.contains("unexpected"), "{message}");
}

#[test]
fn missing_and_misshapen_keys_are_named_with_their_shapes() {
    let bytes = seeded_safetensors(|key, shape| match key {
        "layer4.1.bn2.running_var" => None,
        "layer2.0.conv1.weight" => Some((key.to_string(), vec![128, 64, 1, 1])),
        _ => Some((key.to_string(), shape)),
    });
    let message = load_error(&bytes).to_string();
    assert!(message.contains("1 missing key(s): layer4.1.bn2.running_var"), "{message}");
    assert!(message.contains("layer2.0.conv1.weight is [128, 64, 1, 1], expected [128, 64, 3, 3]"), "{message}");
}

#[test]
fn a_backbone_without_head_loads_as_a_backbone_but_half_a_head_is_refused() {
    let backbone_only = seeded_safetensors(|key, shape| (!key.starts_with("fc.")).then(|| (key.to_string(), shape)));
    let pretrained = load_pretrained(&backbone_only, &Device::flex()).unwrap();
    assert_eq!(pretrained.num_classes(), None);
    let weight_only = seeded_safetensors(|key, shape| (key != "fc.bias").then(|| (key.to_string(), shape)));
    let message = load_error(&weight_only).to_string();
    assert!(message.contains("1 missing key(s): fc.bias"), "{message}");
}

/// torchvision's own mobilenet_v2 layout (nested `conv.i.j` names, `classifier.1` head) loads
/// strictly, with its 1000-class head.
#[test]
fn torchvision_mobilenet_v2_state_dicts_load_with_their_head() {
    let bytes = seeded_model(mobilenet_v2_keys());
    let pretrained = load_pretrained(&bytes, &Device::flex()).unwrap();
    assert_eq!(pretrained.architecture(), Architecture::MobileNetV2);
    assert_eq!(pretrained.num_classes(), Some(1000));
    let without_a_block = seeded_state_dict(mobilenet_v2_keys(), |key, shape| {
        (!key.starts_with("features.17.")).then(|| (key.to_string(), shape))
    });
    let message = load_error(&without_a_block).to_string();
    assert!(message.contains("MobileNetV2") && message.contains("features.17.conv.0.0.weight"), "{message}");
}

#[test]
fn num_batches_tracked_is_the_only_key_that_may_be_left_unused() {
    let bytes = seeded_resnet18();
    assert!(load_pretrained(&bytes, &Device::flex()).is_ok());
    let with_extra = seeded_safetensors(|key, shape| {
        Some((if key == "bn1.num_batches_tracked" { "bn1.step_count".to_string() } else { key.to_string() }, shape))
    });
    assert!(load_error(&with_extra).to_string().contains("1 unexpected key(s): bn1.step_count"));
}
