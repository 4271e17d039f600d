//! The whole JavaScript surface: converts types and forwards to [`Engine`]. Nothing else in the
//! crate speaks wasm-bindgen.

use wasm_bindgen::prelude::*;

use crate::backend;
use crate::data::{Preprocess, decode_image};
use crate::engine::Engine;
use crate::train::TrainConfig;

fn js_error(err: crate::Error) -> JsError {
    JsError::new(&err.to_string())
}

#[wasm_bindgen(start)]
fn start() {
    console_error_panic_hook::set_once();
}

/// The model and its training state, owned by one worker.
#[wasm_bindgen]
pub struct WebEngine(Engine);

#[wasm_bindgen]
impl WebEngine {
    /// `backend`: `"auto"` (WebGPU when the browser offers it, else the CPU), `"webgpu"` (fails
    /// without WebGPU) or `"cpu"`.
    pub async fn create(backend: &str) -> Result<WebEngine, JsError> {
        let (device, info) = match backend {
            "webgpu" => backend::webgpu().await.map_err(js_error)?,
            "cpu" => backend::cpu("CPU requested"),
            "auto" => match backend::webgpu().await {
                Ok(chosen) => chosen,
                Err(err) => backend::cpu(format!("{err}; using the CPU")),
            },
            other => return Err(JsError::new(&format!("unknown backend '{other}': use auto, webgpu or cpu"))),
        };
        Ok(WebEngine(Engine::new(device, info)))
    }

    /// `{ kind, adapter, software_adapter, reason }`
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> Result<JsValue, JsError> {
        serde_wasm_bindgen::to_value(self.0.backend()).map_err(|err| JsError::new(&err.to_string()))
    }

    /// Loads a `.safetensors` or `.pth` ResNet18 state_dict; returns its head's class count.
    #[wasm_bindgen(js_name = loadWeights)]
    pub fn load_weights(&mut self, bytes: &[u8]) -> Result<usize, JsError> {
        self.0.load_weights(bytes).map_err(js_error)
    }

    /// Backbone features, `batch × 512`, of normalised `batch × 3 × height × width` images.
    pub async fn features(&self, images: Vec<f32>, batch: usize, height: usize, width: usize) -> Result<Vec<f32>, JsError> {
        self.0.features(images, batch, height, width).await.map_err(js_error)
    }

    /// Logits of the whole model, `batch × classes`.
    pub async fn logits(&self, images: Vec<f32>, batch: usize, height: usize, width: usize) -> Result<Vec<f32>, JsError> {
        self.0.logits(images, batch, height, width).await.map_err(js_error)
    }

    /// Starts training a fresh head with Adam at `learning_rate`.
    #[wasm_bindgen(js_name = startHeadTraining)]
    pub fn start_head_training(&mut self, num_classes: usize, learning_rate: f64) -> Result<(), JsError> {
        let config = TrainConfig { learning_rate, ..TrainConfig::default() };
        self.0.start_head_training(num_classes, &config).map_err(js_error)
    }

    /// One optimiser step on `batch × 512` features; resolves to the batch loss.
    #[wasm_bindgen(js_name = trainHeadStep)]
    pub async fn train_head_step(&mut self, features: Vec<f32>, labels: Vec<u32>) -> Result<f32, JsError> {
        let labels: Vec<usize> = labels.into_iter().map(|label| label as usize).collect();
        self.0.train_head_step(features, &labels).await.map_err(js_error)
    }
}

/// Decodes an image file and applies the ImageNet evaluation transforms: `3 × 224 × 224` values.
#[wasm_bindgen(js_name = preprocessImage)]
pub fn preprocess_image(file_name: &str, bytes: &[u8]) -> Result<Vec<f32>, JsError> {
    let image = decode_image(file_name, bytes).map_err(js_error)?;
    Ok(Preprocess::imagenet().apply(&image))
}
