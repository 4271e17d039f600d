//! In a real browser (`wasm-pack test --headless --chrome`): WebGPU initialises, weights load from
//! bytes, WebGPU features agree with the CPU for both backbones, a head trains on WebGPU, and the
//! CPU fallback works. Every read-back is asynchronous. Inputs are small (64×64) because
//! SwiftShader is slow. Needs weights/efficientnet-lite0-57934424.pth (`./build.sh test` fetches it).
#![cfg(target_arch = "wasm32")]

use std::io::Read;

use browser_finetune::backend::{self, BackendInfo};
use browser_finetune::engine::Engine;
use browser_finetune::train::{HeadTrainer, TrainConfig};
use browser_finetune::web::WebEngine;
use browser_finetune::weights::load_pretrained;
use burn::tensor::{Device, Tensor, TensorData};
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

/// Two deterministic "images" of normalised values.
fn images() -> Vec<f32> {
    (0..2 * 3 * SIDE * SIDE).map(|i| ((i * 7919 % 1000) as f32 / 500.0 - 1.0) * 2.0).collect()
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

async fn features(weights: &[u8], device: &Device) -> Vec<f32> {
    let model = load_pretrained(weights, device).unwrap();
    let input = Tensor::<4>::from_data(TensorData::new(images(), [2, 3, SIDE, SIDE]), device);
    let data = model.backbone.forward(input).into_data_async().await.unwrap();
    data.try_into_vec::<f32>().unwrap()
}

/// Three classes whose features differ in one coordinate each.
fn separable_features(device: &Device) -> (Tensor<2>, Vec<usize>) {
    let labels: Vec<usize> = (0..12).map(|i| i % 3).collect();
    let mut values = vec![0.0f32; 12 * 512];
    for (row, &label) in labels.iter().enumerate() {
        for col in 0..512 {
            values[row * 512 + col] = ((row * 31 + col * 17) % 11) as f32 / 11.0 - 0.5;
        }
        values[row * 512 + label] += 3.0;
    }
    (Tensor::from_data(TensorData::new(values, [12, 512]), device), labels)
}

/// Losses of a few Adam steps of a fresh head, each read back asynchronously.
async fn head_losses(device: &Device, steps: usize) -> Vec<f32> {
    let config = TrainConfig { learning_rate: 1e-2, ..TrainConfig::default() };
    let mut trainer = HeadTrainer::new(512, 3, &config, device);
    let (features, labels) = separable_features(device);
    let mut losses = Vec::new();
    for _ in 0..steps {
        let (loss, _logits) = trainer.step(features.clone(), &labels);
        losses.push(loss.into_scalar_async::<f32>().await.unwrap());
    }
    losses
}

/// Backbone features of the same weights and images on WebGPU and on the CPU.
async fn compare_features(name: &str, weights: &[u8], width: usize) {
    let (gpu, _) = webgpu().await;
    let on_gpu = features(weights, &gpu).await;
    let on_cpu = features(weights, &backend::cpu("test").0).await;
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
async fn a_head_trains_with_adam_on_webgpu() {
    let (gpu, _) = webgpu().await;
    let losses = head_losses(&gpu, 8).await;
    log(&format!("WebGPU head losses: {losses:?}"));
    assert!(losses[7] < losses[0] * 0.7, "loss did not go down: {losses:?}");
}

#[wasm_bindgen_test]
async fn the_cpu_fallback_loads_infers_and_trains() {
    let (device, info) = backend::cpu("test");
    let mut engine = Engine::new(device.clone(), info);
    assert_eq!(engine.load_weights(&weights()).unwrap().classes, Some(10));
    let logits = engine.logits(images(), 2, SIDE, SIDE).await.unwrap();
    assert_eq!(logits.len(), 2 * 10);
    assert!(logits.iter().all(|v| v.is_finite()));
    let losses = head_losses(&device, 8).await;
    log(&format!("CPU head losses: {losses:?}"));
    assert!(losses[7] < losses[0] * 0.7, "loss did not go down: {losses:?}");
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
