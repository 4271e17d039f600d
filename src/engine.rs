//! The engine the page's worker drives: pretrained weights, the user's images, a training run
//! advanced step by step, and predictions.
//!
//! Every read-back from the device is asynchronous, because synchronous reads trap on the
//! browser's WebGPU; natively the same futures complete at once.

use burn::tensor::{Device, Tensor, TensorData};
use serde::Serialize;

use crate::backend::{BackendInfo, read_back};
use crate::data::{Dataset, Preprocess, Subset, decode_image};
use crate::error::{Error, Result};
use crate::metrics::softmax;
use crate::model::{Architecture, IMAGENET_CLASSES, ImageClassifier, MIN_INPUT_SIDE, Pretrained};
use crate::train::{Progress, RunSettings, TrainingRun};
use crate::weights;

/// What a new run will do, for the page to show before the first step.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub classes: Vec<String>,
    pub train_images: usize,
    pub val_images: usize,
    pub steps_total: usize,
}

/// What a weights file turned out to hold.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LoadedWeights {
    pub architecture: Architecture,
    /// Classes of the head stored in the file; `None` when the file holds only the backbone.
    pub classes: Option<usize>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Prediction {
    pub class: String,
    pub probability: f32,
}

pub struct Engine {
    device: Device,
    backend: BackendInfo,
    pretrained: Option<Pretrained>,
    dataset: Dataset,
    run: Option<TrainingRun>,
    /// The latest trained model and its class names: kept when a run ends or is stopped.
    trained: Option<(ImageClassifier, Vec<String>)>,
}

impl Engine {
    pub fn new(device: Device, backend: BackendInfo) -> Self {
        Self { device, backend, pretrained: None, dataset: Dataset::default(), run: None, trained: None }
    }

    pub fn backend(&self) -> &BackendInfo {
        &self.backend
    }

    /// Loads pretrained weights (see [`weights::load_pretrained`]).
    pub fn load_weights(&mut self, bytes: &[u8]) -> Result<LoadedWeights> {
        let pretrained = weights::load_pretrained(bytes, &self.device)?;
        let loaded = LoadedWeights { architecture: pretrained.architecture(), classes: pretrained.num_classes() };
        self.pretrained = Some(pretrained);
        self.trained = None;
        Ok(loaded)
    }

    /// Untrained weights, for testing and benchmarks only: features from them are meaningless.
    pub fn use_random_weights(&mut self) {
        self.pretrained = Some(ImageClassifier::random(Architecture::ResNet18, IMAGENET_CLASSES, &self.device).into());
        self.trained = None;
    }

    fn pretrained(&self) -> Result<&Pretrained> {
        self.pretrained
            .as_ref()
            .ok_or_else(|| Error::InvalidInput("no weights are loaded yet: load weights first".into()))
    }

    /// The transforms of the loaded backbone (ResNet18's until weights are loaded).
    fn preprocess(&self) -> Preprocess {
        self.pretrained.as_ref().map_or(Architecture::ResNet18, Pretrained::architecture).preprocess()
    }

    /// Decodes and keeps one image of `class`; on error the image is skipped and the rest stay.
    pub fn add_image(&mut self, name: &str, bytes: &[u8], class: &str, subset: Option<Subset>) -> Result<()> {
        self.dataset.add(name, bytes, class, subset, &self.preprocess())
    }

    pub fn image_count(&self) -> usize {
        self.dataset.len()
    }

    pub fn clear_images(&mut self) {
        self.run = None;
        self.dataset.clear();
    }

    /// Plans a run on the images added so far; [`Engine::train_step`] then advances it.
    pub fn start_training(&mut self, settings: &RunSettings) -> Result<Plan> {
        let backbone = self.pretrained()?.backbone.clone();
        let run = TrainingRun::new(
            backbone,
            &self.device,
            &self.dataset,
            settings.strategy,
            settings.config.clone(),
            settings.val_fraction,
            settings.seed,
        )?;
        let plan = Plan {
            classes: run.classes().to_vec(),
            train_images: run.split().train.len(),
            val_images: run.split().val.len(),
            steps_total: run.steps_total(),
        };
        self.run = Some(run);
        Ok(plan)
    }

    /// One unit of work of the current run. When the run finishes, its model becomes the one
    /// [`Engine::predict`] uses.
    pub async fn train_step(&mut self) -> Result<Progress> {
        let run = self.run.as_mut().ok_or_else(|| Error::InvalidInput("no training run: start one first".into()))?;
        let progress = run.step(&self.dataset).await?;
        if run.is_finished() {
            self.stop_training();
        }
        Ok(progress)
    }

    /// Ends the run early, keeping the model as trained so far.
    pub fn stop_training(&mut self) {
        if let Some(run) = self.run.take() {
            self.trained = Some((run.model(), run.classes().to_vec()));
        }
    }

    /// Logits `[batch, classes]`, flattened, of normalised `[batch, 3, height, width]` images, from
    /// the trained model if there is one, else the pretrained one.
    pub async fn logits(&self, images: Vec<f32>, batch: usize, height: usize, width: usize) -> Result<Vec<f32>> {
        if batch == 0 || images.len() != batch * 3 * height * width {
            return Err(Error::InvalidInput(format!(
                "expected {batch}×3×{height}×{width} = {} values, got {}",
                batch * 3 * height * width,
                images.len()
            )));
        }
        if height < MIN_INPUT_SIDE || width < MIN_INPUT_SIDE {
            return Err(Error::InvalidInput(format!("images must be at least 32×32 pixels, got {height}×{width}")));
        }
        let model = match &self.trained {
            Some((model, _)) => model.clone(),
            None => self.pretrained()?.classifier()?,
        };
        let input = Tensor::<4>::from_data(TensorData::new(images, [batch, 3, height, width]), &self.device);
        read_back(model.forward(input)).await
    }

    /// The `top_k` most likely classes of an image file, with probabilities.
    pub async fn predict(&self, name: &str, bytes: &[u8], top_k: usize) -> Result<Vec<Prediction>> {
        let preprocess = self.preprocess();
        let input = preprocess.apply(&decode_image(name, bytes)?);
        let side = preprocess.crop as usize;
        let probabilities = softmax(&self.logits(input, 1, side, side).await?);
        let mut ranked: Vec<(usize, f32)> = probabilities.into_iter().enumerate().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        let class_name = |index: usize| match &self.trained {
            Some((_, classes)) => classes[index].clone(),
            None => format!("ImageNet class {index}"),
        };
        Ok(ranked
            .into_iter()
            .take(top_k.max(1))
            .map(|(i, probability)| Prediction { class: class_name(i), probability })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend;
    use crate::data::test_images::png;
    use crate::train::Strategy;
    use futures_lite::future::block_on;

    fn engine() -> Engine {
        let (device, info) = backend::cpu("test");
        Engine::new(device, info)
    }

    #[test]
    fn training_before_weights_is_a_clear_error() {
        let err = engine().start_training(&RunSettings::default()).unwrap_err();
        assert!(err.to_string().contains("load weights first"), "{err}");
    }

    #[test]
    fn wrong_input_sizes_are_refused() {
        let mut engine = engine();
        engine.use_random_weights();
        let err = block_on(engine.logits(vec![0.0; 10], 1, 32, 32)).unwrap_err();
        assert!(err.to_string().contains("3072"), "{err}");
        let err = block_on(engine.logits(vec![0.0; 3 * 16 * 16], 1, 16, 16)).unwrap_err();
        assert!(err.to_string().contains("at least 32"), "{err}");
    }

    #[test]
    fn a_bad_file_is_skipped_and_the_rest_stays() {
        let mut engine = engine();
        engine.add_image("red/1.png", &png([200, 0, 0], 1), "red", None).unwrap();
        let err = engine.add_image("red/notes.txt", b"not an image", "red", None).unwrap_err();
        assert!(err.to_string().contains("red/notes.txt"));
        assert_eq!(engine.image_count(), 1);
    }

    /// A whole head-only run on two colours, then prediction with the class names.
    #[test]
    fn head_only_run_learns_two_colours_and_predicts_by_name() {
        let mut engine = engine();
        engine.use_random_weights();
        for i in 0..6 {
            engine.add_image(&format!("red/{i}.png"), &png([220, 20, 20], i), "red", None).unwrap();
            engine.add_image(&format!("blue/{i}.png"), &png([20, 20, 220], i), "blue", None).unwrap();
        }
        let settings = RunSettings {
            config: crate::train::TrainConfig { epochs: 3, batch_size: 4, learning_rate: 1e-2, ..Default::default() },
            ..RunSettings::default()
        };
        let plan = engine.start_training(&settings).unwrap();
        assert_eq!(plan.classes, ["blue", "red"]);
        assert_eq!((plan.train_images, plan.val_images), (10, 2));
        // 12 images / 4 = 3 extraction steps, then per epoch 3 training steps and 1 evaluation.
        assert_eq!(plan.steps_total, 3 + 3 * (3 + 1));
        let mut reports = Vec::new();
        for _ in 0..plan.steps_total {
            let progress = block_on(engine.train_step()).unwrap();
            reports.extend(progress.epoch_report);
        }
        assert_eq!(reports.len(), 3);
        let last = reports.last().unwrap();
        assert_eq!(last.val_accuracy, Some(1.0), "{last:?}");
        assert_eq!(last.confusion.total(), 2);
        let top = block_on(engine.predict("x.png", &png([220, 20, 20], 9), 2)).unwrap();
        assert_eq!(top[0].class, "red");
        assert!(top[0].probability > top[1].probability);
    }

    /// A backbone-only file (the offline MobileNetV2's): no predictions until a head is
    /// trained, then predictions by class name.
    #[test]
    fn a_backbone_without_head_predicts_once_a_head_is_trained() {
        let mut engine = engine();
        let backbone = ImageClassifier::random(Architecture::MobileNetV2, 2, &engine.device).backbone;
        engine.pretrained = Some(Pretrained { backbone, head: None });
        let err = block_on(engine.predict("x.png", &png([220, 20, 20], 9), 2)).unwrap_err();
        assert!(matches!(err, Error::NoPretrainedHead { .. }), "{err}");
        for i in 0..4 {
            engine.add_image(&format!("red/{i}.png"), &png([220, 20, 20], i), "red", None).unwrap();
            engine.add_image(&format!("blue/{i}.png"), &png([20, 20, 220], i), "blue", None).unwrap();
        }
        let settings = RunSettings {
            config: crate::train::TrainConfig { epochs: 1, batch_size: 4, ..Default::default() },
            ..RunSettings::default()
        };
        let plan = engine.start_training(&settings).unwrap();
        for _ in 0..plan.steps_total {
            block_on(engine.train_step()).unwrap();
        }
        let top = block_on(engine.predict("x.png", &png([220, 20, 20], 9), 2)).unwrap();
        assert_eq!(top.len(), 2);
        assert!(top.iter().all(|p| p.class == "red" || p.class == "blue"), "{top:?}");
    }

    #[test]
    fn fine_tuning_strategies_run_and_report_each_epoch() {
        for strategy in [Strategy::LastStages { stages: 1 }, Strategy::Full] {
            let mut engine = engine();
            engine.use_random_weights();
            for i in 0..3 {
                engine.add_image(&format!("a/{i}.png"), &png([200, 200, 0], i), "a", None).unwrap();
                engine.add_image(&format!("b/{i}.png"), &png([0, 200, 200], i), "b", None).unwrap();
            }
            let settings = RunSettings {
                strategy,
                config: crate::train::TrainConfig { epochs: 2, batch_size: 4, ..Default::default() },
                ..RunSettings::default()
            };
            let plan = engine.start_training(&settings).unwrap();
            let mut epochs = 0;
            for _ in 0..plan.steps_total {
                let progress = block_on(engine.train_step()).unwrap();
                if let Some(loss) = progress.loss {
                    assert!(loss.is_finite());
                }
                epochs += usize::from(progress.epoch_report.is_some());
            }
            assert_eq!(epochs, 2, "{strategy:?}");
            assert!(engine.run.is_none() && engine.trained.is_some());
        }
    }
}
