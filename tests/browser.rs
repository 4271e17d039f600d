//! In a real browser (`wasm-pack test --headless --chrome`): WebGPU initialises, weights load from
//! bytes, WebGPU features agree with the CPU, a head trains on WebGPU, and the CPU fallback works.
//! Every read-back is asynchronous. Inputs are small (64×64) because SwiftShader is slow.
#![cfg(target_arch = "wasm32")]

use std::io::Read;

use browser_finetune::backend::{self, BackendInfo};
use browser_finetune::engine::Engine;
use browser_finetune::train::TrainConfig;
use browser_finetune::web::WebEngine;
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

fn log(text: &str) {
    web_sys::console::log_1(&text.into());
}

async fn webgpu_engine() -> Engine {
    let (device, info) = backend::webgpu().await.expect("WebGPU must be available in this browser");
    log(&format!("WebGPU adapter: {}", info.adapter));
    assert_eq!(info.kind, "webgpu");
    Engine::new(device, info)
}

fn cpu_engine() -> Engine {
    let (device, info) = backend::cpu("test");
    Engine::new(device, info)
}

/// Three classes whose features differ in one coordinate each, for a few training steps.
fn separable_features() -> (Vec<f32>, Vec<usize>) {
    let labels: Vec<usize> = (0..12).map(|i| i % 3).collect();
    let mut features = vec![0.0f32; 12 * 512];
    for (row, &label) in labels.iter().enumerate() {
        for col in 0..512 {
            features[row * 512 + col] = ((row * 31 + col * 17) % 11) as f32 / 11.0 - 0.5;
        }
        features[row * 512 + label] += 3.0;
    }
    (features, labels)
}

async fn losses(engine: &mut Engine, steps: usize) -> Vec<f32> {
    let config = TrainConfig { learning_rate: 1e-2, ..TrainConfig::default() };
    engine.start_head_training(3, &config).unwrap();
    let (features, labels) = separable_features();
    let mut losses = Vec::new();
    for _ in 0..steps {
        losses.push(engine.train_head_step(features.clone(), &labels).await.unwrap());
    }
    losses
}

#[wasm_bindgen_test]
async fn webgpu_backbone_features_match_the_cpu() {
    let mut gpu = webgpu_engine().await;
    let mut cpu = cpu_engine();
    assert_eq!(gpu.load_weights(&weights()).unwrap(), 10);
    assert_eq!(cpu.load_weights(&weights()).unwrap(), 10);
    let on_gpu = gpu.features(images(), 2, SIDE, SIDE).await.unwrap();
    let on_cpu = cpu.features(images(), 2, SIDE, SIDE).await.unwrap();
    assert_eq!(on_gpu.len(), 2 * 512);
    let diff = on_gpu.iter().zip(&on_cpu).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    let scale = on_cpu.iter().map(|v| v.abs()).fold(0.0f32, f32::max);
    log(&format!("WebGPU vs CPU features: max abs diff {diff:.3e} (largest feature {scale:.3})"));
    assert!(diff <= 1e-3 * scale.max(1.0), "features differ by {diff}");
}

#[wasm_bindgen_test]
async fn a_head_trains_on_webgpu() {
    let mut engine = webgpu_engine().await;
    let losses = losses(&mut engine, 8).await;
    log(&format!("WebGPU head losses: {losses:?}"));
    assert!(losses[7] < losses[0] * 0.7, "loss did not go down: {losses:?}");
}

#[wasm_bindgen_test]
async fn the_cpu_fallback_loads_extracts_and_trains() {
    let mut engine = cpu_engine();
    engine.load_weights(&weights()).unwrap();
    let logits = engine.logits(images(), 2, SIDE, SIDE).await.unwrap();
    assert_eq!(logits.len(), 2 * 10);
    assert!(logits.iter().all(|v| v.is_finite()));
    let losses = losses(&mut engine, 8).await;
    log(&format!("CPU head losses: {losses:?}"));
    assert!(losses[7] < losses[0] * 0.7, "loss did not go down: {losses:?}");
}

#[wasm_bindgen_test]
async fn the_js_surface_picks_webgpu_automatically_and_reports_bad_weights() {
    let mut engine = WebEngine::create("auto").await.map_err(|_| "create failed").unwrap();
    let info: BackendInfo = serde_wasm_bindgen::from_value(engine.backend().map_err(|_| "backend").unwrap()).unwrap();
    assert_eq!(info.kind, "webgpu", "{info:?}");
    assert!(WebEngine::create("tpu").await.is_err());
    let page = b"<!doctype html><title>404</title>";
    assert!(engine.load_weights(page).is_err());
}
