//! The whole JavaScript surface: converts types and forwards to [`Engine`] (the page's worker)
//! and [`Classifier`] (the embed's; without the `training` feature, the only one). Nothing else
//! in the crate speaks wasm-bindgen. The TypeScript section below types what crosses as plain
//! objects.

use burn::tensor::Device;
use wasm_bindgen::prelude::*;

use crate::backend::{self, BackendInfo};
use crate::classify::Classifier;
use crate::data::Views;
#[cfg(feature = "training")]
use crate::{
    engine::Engine,
    model::Architecture,
    weights::{OnnxOptions, Precision},
};

#[cfg(feature = "training")]
#[wasm_bindgen]
extern "C" {
    /// `www/shares.js`'s handle on the shared memory through which the workers that split a
    /// training batch add up, synchronously, mid-pass.
    #[wasm_bindgen(typescript_type = "SharesHandle")]
    pub type SharesHandle;
    #[wasm_bindgen(method, js_name = addUp, catch)]
    fn add_up(this: &SharesHandle, values: &js_sys::Float64Array) -> Result<(), JsValue>;
    #[wasm_bindgen(method, js_name = addUpGradients, catch)]
    fn add_up_gradients(this: &SharesHandle, values: &js_sys::Float32Array) -> Result<(), JsValue>;
    #[wasm_bindgen(method, js_name = abort)]
    fn abort(this: &SharesHandle);
    #[wasm_bindgen(method, js_name = failed)]
    fn failed(this: &SharesHandle) -> bool;
}

/// [`BatchShares`] through the page's shared memory; a JavaScript exception fails the group.
#[cfg(feature = "training")]
struct JsShares(SharesHandle);

#[cfg(feature = "training")]
impl crate::train::BatchShares for JsShares {
    fn add_up(&self, values: &mut [f64]) {
        let array = js_sys::Float64Array::from(&*values);
        match self.0.add_up(&array) {
            Ok(()) => array.copy_to(values),
            Err(_) => self.0.abort(),
        }
    }

    fn add_up_gradients(&self, values: &mut [f32]) {
        let array = js_sys::Float32Array::from(&*values);
        match self.0.add_up_gradients(&array) {
            Ok(()) => array.copy_to(values),
            Err(_) => self.0.abort(),
        }
    }

    fn failed(&self) -> bool {
        self.0.failed()
    }
}

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
export type Architecture =
  | "ResNet18" | "ResNet34" | "ResNet50" | "MobileNetV2" | "MobileNetV3Small" | "MobileNetV3Large" | "EfficientNetLite0"
  | "EfficientNetB0" | "Vgg11Bn" | "Vgg16" | "AlexNet" | "DenseNet121" | "InceptionV3";
export interface BackendInfo { kind: "webgpu" | "cpu"; adapter: string; software_adapter: boolean; reason: string }
export type Strategy =
  | { kind: "head_only" } | { kind: "last_stages"; stages: number } | { kind: "full" }
  | { kind: "logistic_regression" } | { kind: "linear_svm" }
  /** The head alone for `every` epochs, then one more stage every `every` epochs (up to 4), each
   * at `lr_factor` times the rate of the stage after it. */
  | { kind: "progressive"; every?: number; lr_factor?: number };
export type Optimizer = { kind: "adam" } | { kind: "sgd"; momentum: number };
/**
 * Missing fields take the seed recipe's defaults: head only, 10 epochs, batch 32, Adam lr 1e-3.
 * `resume_after`: the epochs an interrupted run completed; this one trains the rest of `epochs`.
 */
export interface RunSettings {
  strategy?: Strategy; epochs?: number; batch_size?: number; learning_rate?: number;
  optimizer?: Optimizer; shuffle?: boolean; val_fraction?: number; seed?: number; resume_after?: number;
}
/** A run's settings with what it achieved, as an export's card records it. */
export interface TrainingSummary extends RunSettings {
  epochs_completed?: number; val_accuracy?: number | null; continued?: boolean; date?: string;
  /** Below this top-class probability an image is called unlike every class (see EpochReport). */
  unknown_below?: number | null;
  /** Probabilities are a softmax of logits / temperature (see Calibration); null: the raw ones. */
  temperature?: number | null;
  [key: string]: unknown;
}
export interface LoadedWeights {
  architecture: Architecture;
  /** Outputs of the stored head; null for a backbone without head. */
  classes: number | null;
  /** Class names in output order, for a model exported by this tool. */
  class_names: string[] | null;
  training: TrainingSummary | null;
}
export interface Plan {
  classes: string[]; train_images: number; val_images: number; steps_total: number; continued: boolean;
  /** The backbone stays frozen and each image's features are extracted once, first. */
  cached_features: boolean;
}
/** How a fitted classifier's L2 strength C was chosen by cross-validation on the training split. */
export interface FitSummary {
  model: "logistic_regression" | "linear_svm"; c: number; cv_accuracy: number | null; folds: number;
  iterations: number; converged: boolean;
}
export interface Misclassified { name: string; truth: number; predicted: number; confidence: number }
export interface EpochReport {
  epoch: number; train_loss: number; train_accuracy: number; val_accuracy: number | null;
  per_class_accuracy: (number | null)[]; confusion: { counts: number[][] }; misclassified: Misclassified[];
  fit: FitSummary | null;
  /** Backbone stages trained in this epoch besides the head, from the last; null: all of it. */
  trained_stages: number | null;
  /** The top-class probability under which an image is unlike every class (95 % of the validation images score above). */
  unknown_below: number | null;
  calibration: Calibration | null;
}
/** A reliability diagram's bin: predictions whose top probability is in ((i)/15, (i+1)/15]. */
export interface ReliabilityBin { count: number; confidence: number; accuracy: number }
/** Expected calibration error over 15 equal-width bins, and the bins. */
export interface Reliability { ece: number; bins: ReliabilityBin[] }
/**
 * Temperature scaling fitted on the epoch's validation logits: by likelihood, or when every image was
 * right ("all_right") to the mean confidence (n + 1) / (n + 2) that n right answers vouch for.
 */
export interface Calibration { temperature: number; fit: "likelihood" | "all_right"; before: Reliability; after: Reliability }
export interface Progress {
  phase: "extracting" | "fitting" | "training" | "evaluating" | "finished"; epoch: number; epochs: number;
  steps_done: number; steps_total: number; images: number; loss: number | null; epoch_report: EpochReport | null;
}
export interface Prediction { class: string; probability: number }
/** Grad-CAM over the centre crop: `height` rows of `width` values in [0, 1], for output `class`. */
export interface HeatMap { class: number; width: number; height: number; values: number[] }
/** Where the model looked for `class`; the map covers the centre crop, `crop_share` of the image's shorter side. */
export interface Explanation { class: string; map: HeatMap; crop_share: number }
/** The views a prediction averages: the centre crop, with its mirror image, or the corner and centre crops of both (torchvision's TenCrop). */
export type Views = "centre" | "flip" | "ten_crop";
/** Most likely first; `unknown`: the top probability is under the model's `unknown_below` (null without one). */
export interface Predictions { top: Prediction[]; unknown: boolean | null }
/** A batch of a run's images (their indices) whose features another worker's engine may compute from their files. */
export interface ExtractionJob { first: number; examples: number[] }
/** A batch of a run that trains later stages whose frozen stages another worker's engine may compute from the files. */
export interface FrozenJob {
  epoch: number; evaluating: boolean; first: number; examples: number[]; stages: number;
  augmentation: { seed: number; epoch: number } | null;
}
/** www/shares.js's `joinShares` handle. */
export interface SharesHandle { addUp(values: Float64Array): void; addUpGradients(values: Float32Array): void; abort(): void; failed(): boolean }
/** A helper's share of a step split across workers: its images' normalised pixels (`shape`
 * `[images, 3, crop, crop]`) and labels, at `start` in a batch of `batch`; `evaluate`: a
 * validation batch, whose logits are added up (no optimiser step). */
export interface ShareJob {
  epoch: number; evaluate: boolean; batch: number; start: number; labels: number[]; shape: number[]; pixels: Float32Array;
}
/** A job's frozen output, `images × shape` flattened, one image per decodable file; the others with why they failed. */
export interface FileActivations { activations: Float32Array; shape: number[]; failed: { position: number; reason: string }[] }
/** Features of image files, one row per decodable file; the others with why they failed. */
export interface FileFeatures { features: Float32Array; failed: { position: number; reason: string }[] }
/** An image decoded and resized for training: RGB pixels, row by row. */
export interface DecodedImage { width: number; height: number; pixels: Uint8Array }
export interface Resizing { shorter_side: number; interpolation: "bilinear" | "bicubic" }
/** Two images (dataset indices) whose features point the same way; `across_split`: one trains, one validates. */
export interface Duplicate { first: number; second: number; similarity: number; identical: boolean; across_split: boolean }
/** An image whose label `given` the out-of-fold predictions doubt: they are confident it is `suggested`. */
export interface LabelIssue { index: number; given: number; suggested: number; given_probability: number }
/** An image far from its class's centre; `score`: robust z-score of the distance within the class. */
export interface Outlier { index: number; class: number; distance: number; score: number }
export interface Confusion { classes: [number, number]; mistakes: number; share: number }
/** What the data check found; lists at most 200 long (the `_found` counts say how many in all). */
export interface Diagnosis {
  images: number; duplicates: Duplicate[]; duplicates_found: number;
  /** Validation images with a near-duplicate among the training images. */
  leaked: number[];
  label_issues: LabelIssue[]; label_issues_found: number; outliers: Outlier[]; outliers_found: number;
  confusions: Confusion[]; out_of_fold: { c: number; accuracy: number; folds: number } | null;
  /** Why the labels were not judged (too few images in a class, or too much work for the tab). */
  labels_not_judged: string | null;
}
export interface CheckProgress { steps_done: number; steps_total: number; diagnosis: Diagnosis | null }
/** The last evaluation's accuracy with and without the validation images that have a copy in training. */
export interface LeakEffect { leaked: number; validation_images: number; accuracy: number; accuracy_without_leaked: number | null }
"#;

/// The time now, ISO 8601, for an export's training summary.
#[cfg(feature = "training")]
fn now() -> String {
    String::from(js_sys::Date::new_0().to_iso_string())
}

fn js_error(err: crate::Error) -> JsError {
    JsError::new(&err.to_string())
}

#[wasm_bindgen(start)]
fn start() {
    backend::run_constructors();
    console_error_panic_hook::set_once();
}

/// `backend`: `"auto"` (WebGPU on a hardware adapter, else the CPU; see `backend::auto`),
/// `"webgpu"` (fails without WebGPU) or `"cpu"`.
async fn device(backend: &str) -> Result<(Device, BackendInfo), JsError> {
    Ok(match backend {
        "webgpu" => backend::webgpu().await.map_err(js_error)?,
        "cpu" => backend::cpu("CPU requested"),
        "auto" => backend::auto().await,
        other => return Err(JsError::new(&format!("unknown backend '{other}': use auto, webgpu or cpu"))),
    })
}

/// A model exported by this tool, opened to classify images: the embed's worker owns one.
#[wasm_bindgen]
pub struct WebClassifier {
    classifier: Classifier,
    backend: BackendInfo,
}

#[wasm_bindgen]
impl WebClassifier {
    /// Opens the bytes of an exported `.safetensors` model on `backend` (as `WebEngine.create`'s).
    pub async fn open(
        bytes: &[u8],
        #[wasm_bindgen(unchecked_param_type = "\"auto\" | \"webgpu\" | \"cpu\"")] backend: &str,
    ) -> Result<WebClassifier, JsError> {
        let (device, backend) = device(backend).await?;
        Ok(WebClassifier { classifier: Classifier::open(bytes, &device).map_err(js_error)?, backend })
    }

    #[wasm_bindgen(getter, unchecked_return_type = "BackendInfo")]
    pub fn backend(&self) -> Result<JsValue, JsError> {
        to_js(&self.backend)
    }

    #[wasm_bindgen(getter, unchecked_return_type = "Architecture")]
    pub fn architecture(&self) -> Result<JsValue, JsError> {
        to_js(&self.classifier.architecture())
    }

    /// The class names, in the model's output order.
    #[wasm_bindgen(getter)]
    pub fn classes(&self) -> Vec<String> {
        self.classifier.classes().to_vec()
    }

    /// How the model was trained, as its card says.
    #[wasm_bindgen(getter, unchecked_return_type = "TrainingSummary | null")]
    pub fn training(&self) -> Result<JsValue, JsError> {
        to_js(&self.classifier.training())
    }

    /// The `top_k` most likely classes of an image file, most likely first, and whether it looks
    /// unlike every class; averaged over `views` of it (test-time augmentation).
    #[wasm_bindgen(unchecked_return_type = "Predictions")]
    pub async fn predict(
        &self,
        name: &str,
        bytes: &[u8],
        top_k: usize,
        #[wasm_bindgen(unchecked_param_type = "Views")] views: &str,
    ) -> Result<JsValue, JsError> {
        let views = Views::from_name(views).map_err(js_error)?;
        to_js(&self.classifier.predict(name, bytes, top_k, views).await.map_err(js_error)?)
    }

    /// The same for RGBA pixels (`ImageData.data` of a canvas or a video frame).
    #[wasm_bindgen(js_name = predictPixels, unchecked_return_type = "Predictions")]
    pub async fn predict_pixels(
        &self,
        rgba: &[u8],
        width: u32,
        height: u32,
        top_k: usize,
        #[wasm_bindgen(unchecked_param_type = "Views")] views: &str,
    ) -> Result<JsValue, JsError> {
        let views = Views::from_name(views).map_err(js_error)?;
        to_js(&self.classifier.predict_pixels(rgba, width, height, top_k, views).await.map_err(js_error)?)
    }

    /// Where the model looked in an image file for the class named `class` (null: the predicted
    /// one): Grad-CAM over the centre crop.
    #[cfg(feature = "explain")]
    #[wasm_bindgen(unchecked_return_type = "Explanation")]
    pub async fn explain(&self, name: &str, bytes: &[u8], class: Option<String>) -> Result<JsValue, JsError> {
        to_js(&self.classifier.explain(name, bytes, class.as_deref()).await.map_err(js_error)?)
    }

    /// The same for RGBA pixels, as `predictPixels` takes them.
    #[cfg(feature = "explain")]
    #[wasm_bindgen(js_name = explainPixels, unchecked_return_type = "Explanation")]
    pub async fn explain_pixels(
        &self,
        rgba: &[u8],
        width: u32,
        height: u32,
        class: Option<String>,
    ) -> Result<JsValue, JsError> {
        to_js(&self.classifier.explain_pixels(rgba, width, height, class.as_deref()).await.map_err(js_error)?)
    }
}

/// The model and its training state, owned by one worker.
#[cfg(feature = "training")]
#[wasm_bindgen]
pub struct WebEngine(Engine);

#[cfg(feature = "training")]
#[wasm_bindgen]
impl WebEngine {
    /// `backend`: as [`WebClassifier::open`]'s.
    pub async fn create(
        #[wasm_bindgen(unchecked_param_type = "\"auto\" | \"webgpu\" | \"cpu\"")] backend: &str,
    ) -> Result<WebEngine, JsError> {
        let (device, info) = device(backend).await?;
        Ok(WebEngine(Engine::new(device, info)))
    }

    #[wasm_bindgen(getter, unchecked_return_type = "BackendInfo")]
    pub fn backend(&self) -> Result<JsValue, JsError> {
        to_js(self.0.backend())
    }

    /// Loads a `.safetensors` or `.pth` ResNet18/34/50, MobileNetV2/V3 or EfficientNet-Lite0 state_dict, or
    /// a model exported by [`WebEngine::export_model`] (which then predicts with its class names).
    #[wasm_bindgen(js_name = loadWeights, unchecked_return_type = "LoadedWeights")]
    pub fn load_weights(&mut self, bytes: &[u8]) -> Result<JsValue, JsError> {
        to_js(&self.0.load_weights(bytes).map_err(js_error)?)
    }

    /// Untrained weights of `architecture` (default ResNet18), for testing and benchmarks only
    /// (an explicit choice, never a fallback).
    #[wasm_bindgen(js_name = useRandomWeights)]
    pub fn use_random_weights(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "Architecture | undefined")] architecture: JsValue,
    ) -> Result<(), JsError> {
        let architecture: Option<Architecture> = from_js(architecture)?;
        self.0.use_random_weights(architecture.unwrap_or(Architecture::ResNet18));
        Ok(())
    }

    /// Registers an image file of `class_name` after checking its header, and returns its index;
    /// `subset` is `"train"`, `"val"` or undefined. The file is decoded when a step needs it
    /// (`imagesNeeded`). Throws a message naming the file when it cannot be used.
    #[wasm_bindgen(js_name = addImageFile)]
    pub fn add_image_file(
        &mut self,
        name: &str,
        bytes: &[u8],
        class_name: &str,
        #[wasm_bindgen(unchecked_param_type = "\"train\" | \"val\" | undefined")] subset: JsValue,
    ) -> Result<usize, JsError> {
        let subset = from_js(subset)?;
        self.0.add_image_file(name, bytes, class_name, subset).map_err(js_error)
    }

    /// The indices of images whose pixels the next `trainStep` reads: give each to `supplyImage`
    /// (decoded by `decodeResized`) or to `imageFailed` first.
    #[wasm_bindgen(js_name = imagesNeeded)]
    pub fn images_needed(&self) -> Vec<usize> {
        self.0.images_needed()
    }

    /// The decoded pixels of image `index`: RGB, row by row, as `decodeResized` returns them.
    #[wasm_bindgen(js_name = supplyImage)]
    pub fn supply_image(&mut self, index: usize, width: u32, height: u32, pixels: Vec<u8>) -> Result<(), JsError> {
        self.0.supply_image(index, width, height, pixels).map_err(js_error)
    }

    /// Image `index`'s file failed to decode: runs go on without it.
    #[wasm_bindgen(js_name = imageFailed)]
    pub fn image_failed(&mut self, index: usize) -> Result<(), JsError> {
        self.0.image_failed(index).map_err(js_error)
    }

    /// How images are kept (`decodeResized`'s third argument).
    #[wasm_bindgen(getter, unchecked_return_type = "Resizing")]
    pub fn resizing(&self) -> Result<JsValue, JsError> {
        to_js(&self.0.resizing())
    }

    #[wasm_bindgen(js_name = clearImages)]
    pub fn clear_images(&mut self) {
        self.0.clear_images();
    }

    /// Starts a run; missing settings take the seed recipe's defaults.
    #[wasm_bindgen(js_name = startTraining, unchecked_return_type = "Plan")]
    pub fn start_training(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "RunSettings")] settings: JsValue,
    ) -> Result<JsValue, JsError> {
        let settings = from_js(settings)?;
        to_js(&self.0.start_training(&settings).map_err(js_error)?)
    }

    /// One unit of work of the run.
    #[wasm_bindgen(js_name = trainStep, unchecked_return_type = "Progress")]
    pub async fn train_step(&mut self) -> Result<JsValue, JsError> {
        to_js(&self.0.train_step().await.map_err(js_error)?)
    }

    /// Plans a data check of the run's images on the features it extracted (a run on cached
    /// features, past extraction); returns its steps, each done by `checkStep`.
    #[wasm_bindgen(js_name = startCheck)]
    pub fn start_check(&mut self) -> Result<usize, JsError> {
        self.0.start_check().map_err(js_error)
    }

    /// The data check's next step; the last one carries the diagnosis.
    #[wasm_bindgen(js_name = checkStep, unchecked_return_type = "CheckProgress")]
    pub async fn check_step(&mut self) -> Result<JsValue, JsError> {
        to_js(&self.0.check_step().await.map_err(js_error)?)
    }

    /// What validation images with a copy in training added to the last evaluation's accuracy.
    #[wasm_bindgen(js_name = leakEffect, unchecked_return_type = "LeakEffect | undefined")]
    pub fn leak_effect(&self) -> Result<JsValue, JsError> {
        self.0.leak_effect().map_or(Ok(JsValue::UNDEFINED), |effect| to_js(&effect))
    }

    /// Removes images (indices) from the runs started from now on, or brings them back.
    #[wasm_bindgen(js_name = setExcluded)]
    pub fn set_excluded(&mut self, indices: Vec<usize>, excluded: bool) -> Result<(), JsError> {
        self.0.set_excluded(&indices, excluded).map_err(js_error)
    }

    /// Hands out the next batch of images to extract features from (see `features`), or
    /// `undefined` when all have been handed out; their features go back through
    /// `completeExtraction`. This is how several workers share a head-only run's extraction.
    #[wasm_bindgen(js_name = claimExtraction, unchecked_return_type = "ExtractionJob | undefined")]
    pub fn claim_extraction(&mut self) -> Result<JsValue, JsError> {
        match self.0.claim_extraction().map_err(js_error)? {
            Some(job) => to_js(&job),
            None => Ok(JsValue::UNDEFINED),
        }
    }

    /// Takes the features of the job that started at `first`.
    #[wasm_bindgen(js_name = completeExtraction, unchecked_return_type = "Progress")]
    pub fn complete_extraction(&mut self, first: usize, features: &[f32]) -> Result<JsValue, JsError> {
        to_js(&self.0.complete_extraction(first, features).map_err(js_error)?)
    }

    /// Hands out the next batch of the run's stage in progress whose frozen stages another
    /// worker's engine may compute (`frozenActivations`), ahead of the steps; `undefined` when the
    /// run freezes no stage now or the stage's batches are all handed out. Their output goes back
    /// through `completeFrozenJob`, and that batch's step then needs no pixels.
    #[wasm_bindgen(js_name = claimFrozenJob, unchecked_return_type = "FrozenJob | undefined")]
    pub fn claim_frozen_job(&mut self) -> Result<JsValue, JsError> {
        match self.0.claim_frozen_job().map_err(js_error)? {
            Some(job) => to_js(&job),
            None => Ok(JsValue::UNDEFINED),
        }
    }

    /// Takes a claimed job's frozen output (`frozenActivations`' `activations` and `shape`);
    /// `false` when the job's stage had already ended and it was ignored.
    #[wasm_bindgen(js_name = completeFrozenJob)]
    pub fn complete_frozen_job(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "FrozenJob")] job: JsValue,
        activations: Vec<f32>,
        shape: Vec<usize>,
    ) -> Result<bool, JsError> {
        let job = from_js(job)?;
        let shape: [usize; 3] = shape
            .try_into()
            .map_err(|_| JsError::new("the frozen output's shape must be [channels, height, width]"))?;
        self.0.complete_frozen_job(&job, activations, shape).map_err(js_error)
    }

    /// The output of a job's frozen stages from its image files (`names` and `files`, their bytes,
    /// in the job's order), computed with this engine's loaded backbone, which must be the run's.
    #[wasm_bindgen(js_name = frozenActivations, unchecked_return_type = "FileActivations")]
    pub async fn frozen_activations(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "FrozenJob")] job: JsValue,
        names: Vec<String>,
        files: Vec<js_sys::Uint8Array>,
    ) -> Result<JsValue, JsError> {
        let job = from_js(job)?;
        let files: Vec<(String, Vec<u8>)> =
            names.into_iter().zip(files.iter().map(js_sys::Uint8Array::to_vec)).collect();
        let result = self.0.frozen_activations(&job, &files).await.map_err(js_error)?;
        let fields = serde_json::json!({ "shape": result.shape, "failed": result.failed });
        with_typed_array(fields, "activations", js_sys::Float32Array::from(result.activations.as_slice()).into())
    }

    /// Pooled backbone features of normalised `batch × 3 × height × width` images, `batch ×
    /// width`, from the loaded backbone (its BatchNorms folded into the convolutions).
    pub async fn features(
        &mut self,
        images: Vec<f32>,
        batch: usize,
        height: usize,
        width: usize,
    ) -> Result<Vec<f32>, JsError> {
        self.0.features(images, batch, height, width).await.map_err(js_error)
    }

    /// The features of image files as a run extracts them (decoded, resized, centre-cropped,
    /// normalised), computed together; `names` and `files` (their bytes) pair up.
    #[wasm_bindgen(js_name = fileFeatures, unchecked_return_type = "FileFeatures")]
    pub async fn file_features(
        &mut self,
        names: Vec<String>,
        files: Vec<js_sys::Uint8Array>,
    ) -> Result<JsValue, JsError> {
        let files: Vec<(String, Vec<u8>)> =
            names.into_iter().zip(files.iter().map(js_sys::Uint8Array::to_vec)).collect();
        let result = self.0.file_features(&files).await.map_err(js_error)?;
        let fields = serde_json::json!({ "failed": result.failed });
        with_typed_array(fields, "features", js_sys::Float32Array::from(result.features.as_slice()).into())
    }

    /// Ends the run early, keeping the model as trained so far.
    #[wasm_bindgen(js_name = stopTraining)]
    pub fn stop_training(&mut self) {
        self.0.stop_training();
    }

    /// Splits the run's training and validation batches from now on across `engines` workers:
    /// this one and helpers holding a replica of the run's model as it is now (`startReplica`),
    /// adding up through `shares`. Each step's other shares come from `claimShareJobs`.
    #[wasm_bindgen(js_name = shareBatches)]
    pub fn share_batches(&mut self, engines: usize, shares: SharesHandle) -> Result<(), JsError> {
        self.0.share_batches(engines, std::rc::Rc::new(JsShares(shares))).map_err(js_error)
    }

    /// The helpers' shares of the next step, when it is a step split across workers; hand each
    /// to its helper (`computeReplicaShare`) before the step, which waits for them.
    #[wasm_bindgen(js_name = claimShareJobs, unchecked_return_type = "ShareJob[]")]
    pub fn claim_share_jobs(&mut self) -> Result<js_sys::Array, JsError> {
        let jobs = js_sys::Array::new();
        for job in self.0.claim_share_jobs().map_err(js_error)? {
            let fields = serde_json::json!({
                "epoch": job.epoch, "evaluate": job.evaluate, "batch": job.batch, "start": job.start, "labels": job.labels, "shape": job.shape,
            });
            jobs.push(&with_typed_array(fields, "pixels", js_sys::Float32Array::from(job.pixels.as_slice()).into())?);
        }
        Ok(jobs)
    }

    /// On a helper: a replica of another worker's run, from its model as the run starts
    /// (`exportModel("f32")`) and its settings, to compute shares of its batches.
    #[wasm_bindgen(js_name = startReplica)]
    pub fn start_replica(
        &mut self,
        model: &[u8],
        #[wasm_bindgen(unchecked_param_type = "RunSettings")] settings: JsValue,
    ) -> Result<(), JsError> {
        self.0.start_replica(model, &from_js(settings)?).map_err(js_error)
    }

    /// On a helper: computes `job`, the replica's share of a step (trains on it, or evaluates
    /// it), at the same time as the run's worker and the other helpers compute theirs, adding up
    /// through `shares`.
    #[wasm_bindgen(js_name = computeReplicaShare)]
    pub async fn compute_replica_share(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "ShareJob")] job: JsValue,
        shares: SharesHandle,
    ) -> Result<(), JsError> {
        #[derive(serde::Deserialize)]
        struct Fields {
            epoch: usize,
            evaluate: bool,
            batch: usize,
            start: usize,
            labels: Vec<usize>,
            shape: [usize; 4],
        }
        let pixels = js_sys::Reflect::get(&job, &"pixels".into())
            .ok()
            .and_then(|pixels| pixels.dyn_into::<js_sys::Float32Array>().ok())
            .ok_or_else(|| JsError::new("a share job's pixels must be a Float32Array"))?
            .to_vec();
        let Fields { epoch, evaluate, batch, start, labels, shape } = from_js(job)?;
        let job = crate::train::ShareJob { epoch, evaluate, batch, start, labels, pixels, shape };
        self.0.compute_replica_share(job, std::rc::Rc::new(JsShares(shares))).await.map_err(js_error)
    }

    #[wasm_bindgen(js_name = stopReplica)]
    pub fn stop_replica(&mut self) {
        self.0.stop_replica();
    }

    /// The run in progress as trained so far, else the last trained or opened model, as the bytes
    /// of a `.safetensors` file with its model card; `precision` is `"f32"` or `"f16"`.
    #[wasm_bindgen(js_name = exportModel)]
    pub async fn export_model(
        &self,
        #[wasm_bindgen(unchecked_param_type = "\"f32\" | \"f16\"")] precision: &str,
    ) -> Result<Vec<u8>, JsError> {
        let precision = match precision {
            "f32" => Precision::F32,
            "f16" => Precision::F16,
            other => return Err(JsError::new(&format!("unknown precision '{other}': use f32 or f16"))),
        };
        self.0.export(precision, &now()).await.map_err(js_error)
    }

    /// The same model as `exportModel`'s, as the bytes of an `.onnx` file (opset 17, batch left
    /// open, the card in `metadata_props`); with `probabilities`, it ends in a softmax; with
    /// `int8Weights`, its convolution and linear weights are int8 (a quarter of the size), and the
    /// activations they read too, calibrated on the image files `names`/`files` (those
    /// `calibrationImages` names; none: weights only).
    #[wasm_bindgen(js_name = exportOnnx)]
    pub async fn export_onnx(
        &self,
        probabilities: bool,
        #[wasm_bindgen(js_name = int8Weights)] int8_weights: bool,
        names: Vec<String>,
        files: Vec<js_sys::Uint8Array>,
    ) -> Result<Vec<u8>, JsError> {
        let calibration: Vec<(String, Vec<u8>)> =
            names.into_iter().zip(files.iter().map(js_sys::Uint8Array::to_vec)).collect();
        self.0.export_onnx(OnnxOptions { probabilities, int8_weights }, &calibration, &now()).await.map_err(js_error)
    }

    /// Up to `count` indices (as `addImageFile` returned them) of the latest run's validation
    /// images, for `exportOnnx` to calibrate on.
    #[wasm_bindgen(js_name = calibrationImages)]
    pub fn calibration_images(&self, count: usize) -> Vec<usize> {
        self.0.calibration_images(count)
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

    /// The `top_k` most likely classes of an image file, most likely first, and whether it looks
    /// unlike every class; averaged over `views` of it (test-time augmentation).
    #[wasm_bindgen(unchecked_return_type = "Predictions")]
    pub async fn predict(
        &self,
        name: &str,
        bytes: &[u8],
        top_k: usize,
        #[wasm_bindgen(unchecked_param_type = "Views")] views: &str,
    ) -> Result<JsValue, JsError> {
        let views = Views::from_name(views).map_err(js_error)?;
        to_js(&self.0.predict(name, bytes, top_k, views).await.map_err(js_error)?)
    }

    /// The same for RGBA pixels (`ImageData.data` of a canvas or a video frame).
    #[wasm_bindgen(js_name = predictPixels, unchecked_return_type = "Predictions")]
    pub async fn predict_pixels(
        &self,
        rgba: &[u8],
        width: u32,
        height: u32,
        top_k: usize,
        #[wasm_bindgen(unchecked_param_type = "Views")] views: &str,
    ) -> Result<JsValue, JsError> {
        let views = Views::from_name(views).map_err(js_error)?;
        to_js(&self.0.predict_pixels(rgba, width, height, top_k, views).await.map_err(js_error)?)
    }

    /// Where the model looked in an image file for the class named `class` (null: the predicted
    /// one): Grad-CAM over the centre crop.
    #[wasm_bindgen(unchecked_return_type = "Explanation")]
    pub async fn explain(&self, name: &str, bytes: &[u8], class: Option<String>) -> Result<JsValue, JsError> {
        to_js(&self.0.explain(name, bytes, class.as_deref()).await.map_err(js_error)?)
    }
}

/// Decodes an image file and resizes it as training keeps it (`engine.resizing`), for decoding in
/// several workers at once; throws a message naming the file when it cannot be used.
#[cfg(feature = "training")]
#[wasm_bindgen(js_name = decodeResized, unchecked_return_type = "DecodedImage")]
pub fn decode_resized(
    name: &str,
    bytes: &[u8],
    #[wasm_bindgen(unchecked_param_type = "Resizing")] resizing: JsValue,
) -> Result<JsValue, JsError> {
    let resizing = from_js(resizing)?;
    let image = crate::data::decode_resized(name, bytes, resizing).map_err(js_error)?;
    let fields = serde_json::json!({ "width": image.width(), "height": image.height() });
    with_typed_array(fields, "pixels", js_sys::Uint8Array::from(image.as_raw().as_slice()).into())
}

/// A plain object of `fields` plus a typed array as `key` (serde would make it an Array).
#[cfg(feature = "training")]
fn with_typed_array(fields: serde_json::Value, key: &str, array: JsValue) -> Result<JsValue, JsError> {
    let object = to_js(&fields)?;
    js_sys::Reflect::set(&object, &key.into(), &array).map_err(|_| JsError::new("cannot set a typed array"))?;
    Ok(object)
}

#[cfg(feature = "training")]
fn from_js<T: serde::de::DeserializeOwned>(value: JsValue) -> Result<T, JsError> {
    serde_wasm_bindgen::from_value(value).map_err(|err| JsError::new(&err.to_string()))
}

fn to_js(value: &impl serde::Serialize) -> Result<JsValue, JsError> {
    value.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(|err| JsError::new(&err.to_string()))
}
