//! The whole JavaScript surface: converts types and forwards to [`Engine`]. Nothing else in the
//! crate speaks wasm-bindgen.

use wasm_bindgen::prelude::*;

use crate::backend;
use crate::engine::Engine;

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
    /// `backend`: `"auto"` (WebGPU on a hardware adapter, else the CPU; see `backend::auto`),
    /// `"webgpu"` (fails without WebGPU) or `"cpu"`.
    pub async fn create(backend: &str) -> Result<WebEngine, JsError> {
        let (device, info) = match backend {
            "webgpu" => backend::webgpu().await.map_err(js_error)?,
            "cpu" => backend::cpu("CPU requested"),
            "auto" => backend::auto().await,
            other => return Err(JsError::new(&format!("unknown backend '{other}': use auto, webgpu or cpu"))),
        };
        Ok(WebEngine(Engine::new(device, info)))
    }

    /// `{ kind, adapter, software_adapter, reason }`
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> Result<JsValue, JsError> {
        to_js(self.0.backend())
    }

    /// Loads a `.safetensors` or `.pth` ResNet18, MobileNetV2 or EfficientNet-Lite0 state_dict;
    /// returns `{ architecture, classes }` (`classes` is null for a backbone without head).
    #[wasm_bindgen(js_name = loadWeights)]
    pub fn load_weights(&mut self, bytes: &[u8]) -> Result<JsValue, JsError> {
        to_js(&self.0.load_weights(bytes).map_err(js_error)?)
    }

    /// Untrained weights, for testing and benchmarks only (an explicit choice, never a fallback).
    #[wasm_bindgen(js_name = useRandomWeights)]
    pub fn use_random_weights(&mut self) {
        self.0.use_random_weights();
    }

    /// Decodes and keeps one image of `class_name`; `subset` is `"train"`, `"val"` or undefined.
    /// Throws a message naming the file when it cannot be used; the images added before stay.
    #[wasm_bindgen(js_name = addImage)]
    pub fn add_image(&mut self, name: &str, bytes: &[u8], class_name: &str, subset: JsValue) -> Result<(), JsError> {
        let subset = serde_wasm_bindgen::from_value(subset).map_err(|err| JsError::new(&err.to_string()))?;
        self.0.add_image(name, bytes, class_name, subset).map_err(js_error)
    }

    #[wasm_bindgen(js_name = clearImages)]
    pub fn clear_images(&mut self) {
        self.0.clear_images();
    }

    /// Starts a run; `settings` as `RunSettings` (strategy, epochs, batch_size, learning_rate,
    /// optimizer, shuffle, val_fraction, seed), missing fields take the seed recipe's defaults.
    /// Returns `{ classes, train_images, val_images, steps_total }`.
    #[wasm_bindgen(js_name = startTraining)]
    pub fn start_training(&mut self, settings: JsValue) -> Result<JsValue, JsError> {
        let settings = serde_wasm_bindgen::from_value(settings).map_err(|err| JsError::new(&err.to_string()))?;
        to_js(&self.0.start_training(&settings).map_err(js_error)?)
    }

    /// One unit of work; resolves to `{ phase, epoch, epochs, steps_done, steps_total, images,
    /// loss, epoch_report }`.
    #[wasm_bindgen(js_name = trainStep)]
    pub async fn train_step(&mut self) -> Result<JsValue, JsError> {
        to_js(&self.0.train_step().await.map_err(js_error)?)
    }

    /// Ends the run early, keeping the model as trained so far.
    #[wasm_bindgen(js_name = stopTraining)]
    pub fn stop_training(&mut self) {
        self.0.stop_training();
    }

    /// Logits of normalised `batch × 3 × height × width` images, `batch × classes`.
    pub async fn logits(
        &self,
        images: Vec<f32>,
        batch: usize,
        height: usize,
        width: usize,
    ) -> Result<Vec<f32>, JsError> {
        self.0.logits(images, batch, height, width).await.map_err(js_error)
    }

    /// `[{ class, probability }]`, most likely first.
    pub async fn predict(&self, name: &str, bytes: &[u8], top_k: usize) -> Result<JsValue, JsError> {
        to_js(&self.0.predict(name, bytes, top_k).await.map_err(js_error)?)
    }
}

fn to_js(value: &impl serde::Serialize) -> Result<JsValue, JsError> {
    value.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(|err| JsError::new(&err.to_string()))
}
