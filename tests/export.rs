//! An export holds exactly torchvision's state_dict: every key with its shape (less
//! `num_batches_tracked`, which PyTorch fills in), and the very values that were loaded.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use browser_finetune::model::Architecture;
use browser_finetune::weights::{ModelCard, Precision, export_safetensors, load_pretrained};
use burn::tensor::Device;
use common::*;
use futures_lite::future::block_on;

/// Loads a seeded torchvision state_dict, exports it and compares both files key by key.
fn export_matches_state_dict(keys: Vec<KeySpec>, architecture: Architecture) {
    // PyTorch fills num_batches_tracked in when it is absent; the export leaves it out.
    let original =
        seeded_state_dict(keys, |key, shape| (!key.ends_with("num_batches_tracked")).then(|| (key.to_string(), shape)));
    let pretrained = load_pretrained(&original, &Device::flex()).unwrap();
    let model = pretrained.classifier().unwrap();
    let classes: Vec<String> = (0..model.num_classes()).map(|i| format!("class {i}")).collect();
    let card = ModelCard { architecture, classes, preprocess: architecture.preprocess(), training: None };
    let exported = block_on(export_safetensors(&model, &card, Precision::F32)).unwrap();

    let expected = safetensors_f32(&original);
    let found = safetensors_f32(&exported);
    let mut expected_keys: Vec<&String> = expected.keys().collect();
    let mut found_keys: Vec<&String> = found.keys().collect();
    expected_keys.sort();
    found_keys.sort();
    assert_eq!(found_keys, expected_keys);
    for (key, (shape, values)) in &expected {
        assert_eq!(&found[key].0, shape, "{key}");
        assert!(found[key].1 == *values, "{key}: values differ");
    }
    let reopened = load_pretrained(&exported, &Device::flex()).unwrap();
    assert_eq!(reopened.card, Some(card));
}

#[test]
fn a_resnet18_export_is_torchvisions_state_dict() {
    export_matches_state_dict(manifest().keys, Architecture::ResNet18);
}

#[test]
fn a_mobilenet_v2_export_is_torchvisions_state_dict() {
    export_matches_state_dict(mobilenet_v2_keys(), Architecture::MobileNetV2);
}

/// The families added since: ResNet50's bottlenecks, MobileNetV3's squeeze-excitation and linear
/// layer after pooling, EfficientNet-B0's stages of blocks (with its bicubic card), VGG's
/// BatchNorms, AlexNet's hidden layers at other classifier indices and DenseNet121's named blocks.
#[test]
fn the_other_families_export_torchvisions_state_dicts() {
    for (model, architecture) in [
        ("resnet50", Architecture::ResNet50),
        ("mobilenet_v3_large", Architecture::MobileNetV3Large),
        ("efficientnet_b0", Architecture::EfficientNetB0),
        ("vgg11_bn", Architecture::Vgg11Bn),
        ("alexnet", Architecture::AlexNet),
        ("densenet121", Architecture::DenseNet121),
    ] {
        export_matches_state_dict(torchvision_keys(model), architecture);
    }
}

/// Inception v3's export is the state_dict of torchvision's `inception_v3(aux_logits=False)`: the
/// auxiliary classifier in the file it was loaded from is not part of the model.
#[test]
fn an_inception_v3_export_leaves_the_auxiliary_classifier_out() {
    let keys =
        torchvision_keys("inception_v3").into_iter().filter(|spec| !spec.key.starts_with("AuxLogits.")).collect();
    export_matches_state_dict(keys, Architecture::InceptionV3);
}
