//! The engine the page's worker drives: weights in, features out, a head trained step by step.
//!
//! Every read-back from the device is asynchronous, because synchronous reads trap on the
//! browser's WebGPU; natively the same futures complete at once.

use burn::tensor::{Device, Tensor, TensorData};

use crate::backend::BackendInfo;
use crate::error::{Error, Result};
use crate::model::{FEATURES, ImageClassifier};
use crate::train::{HeadTrainer, TrainConfig};
use crate::weights;

pub struct Engine {
    device: Device,
    backend: BackendInfo,
    model: Option<ImageClassifier>,
    head_trainer: Option<HeadTrainer>,
}

fn backend_error(err: impl std::fmt::Display) -> Error {
    Error::Backend(err.to_string())
}

impl Engine {
    pub fn new(device: Device, backend: BackendInfo) -> Self {
        Self { device, backend, model: None, head_trainer: None }
    }

    pub fn backend(&self) -> &BackendInfo {
        &self.backend
    }

    /// Loads pretrained weights (see [`weights::load_classifier`]); returns the file's class count.
    pub fn load_weights(&mut self, bytes: &[u8]) -> Result<usize> {
        let model = weights::load_classifier(bytes, &self.device)?;
        let classes = model.num_classes();
        self.model = Some(model);
        Ok(classes)
    }

    fn model(&self) -> Result<&ImageClassifier> {
        self.model.as_ref().ok_or_else(|| Error::InvalidInput("no weights are loaded yet: load weights first".into()))
    }

    fn images(&self, values: Vec<f32>, batch: usize, height: usize, width: usize) -> Result<Tensor<4>> {
        if values.len() != batch * 3 * height * width || batch == 0 {
            return Err(Error::InvalidInput(format!(
                "expected {batch}×3×{height}×{width} = {} values, got {}",
                batch * 3 * height * width,
                values.len()
            )));
        }
        if height < crate::model::MIN_INPUT_SIDE || width < crate::model::MIN_INPUT_SIDE {
            return Err(Error::InvalidInput(format!("images must be at least 32×32 pixels, got {height}×{width}")));
        }
        Ok(Tensor::from_data(TensorData::new(values, [batch, 3, height, width]), &self.device))
    }

    /// Backbone features `[batch, 512]`, flattened, of normalised `[batch, 3, height, width]` images.
    pub async fn features(&self, images: Vec<f32>, batch: usize, height: usize, width: usize) -> Result<Vec<f32>> {
        let input = self.images(images, batch, height, width)?;
        let features = self.model()?.backbone.forward(input);
        read(features).await
    }

    /// Logits `[batch, classes]` of the whole model, flattened.
    pub async fn logits(&self, images: Vec<f32>, batch: usize, height: usize, width: usize) -> Result<Vec<f32>> {
        let input = self.images(images, batch, height, width)?;
        read(self.model()?.forward(input)).await
    }

    /// Starts training a fresh head for `num_classes` classes on cached features.
    pub fn start_head_training(&mut self, num_classes: usize, config: &TrainConfig) -> Result<()> {
        if num_classes < 2 {
            return Err(Error::InvalidInput(format!("training needs at least 2 classes, got {num_classes}")));
        }
        self.head_trainer = Some(HeadTrainer::new(num_classes, config, &self.device));
        Ok(())
    }

    /// One optimiser step of the head on `[batch, 512]` features; returns the batch loss.
    pub async fn train_head_step(&mut self, features: Vec<f32>, labels: &[usize]) -> Result<f32> {
        let trainer = self
            .head_trainer
            .as_mut()
            .ok_or_else(|| Error::InvalidInput("head training has not been started".into()))?;
        let batch = labels.len();
        if batch == 0 || features.len() != batch * FEATURES {
            return Err(Error::InvalidInput(format!(
                "expected {batch}×{FEATURES} features for {batch} labels, got {}",
                features.len()
            )));
        }
        if let Some(&bad) = labels.iter().find(|&&label| label >= trainer.num_classes()) {
            return Err(Error::InvalidInput(format!("label {bad} is out of range for {} classes", trainer.num_classes())));
        }
        let features = Tensor::from_data(TensorData::new(features, [batch, FEATURES]), &self.device);
        let loss = trainer.step(features, labels);
        loss.into_scalar_async::<f32>().await.map_err(backend_error)
    }
}

/// Reads a tensor back to the host without blocking.
async fn read<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>> {
    let data = tensor.into_data_async().await.map_err(backend_error)?;
    data.try_into_vec::<f32>().map_err(|err| backend_error(format!("{err:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend;

    fn engine() -> Engine {
        let (device, info) = backend::cpu("test");
        Engine::new(device, info)
    }

    #[test]
    fn features_before_weights_is_a_clear_error() {
        let err = futures_lite::future::block_on(engine().features(vec![0.0; 3 * 32 * 32], 1, 32, 32)).unwrap_err();
        assert!(err.to_string().contains("load weights first"), "{err}");
    }

    #[test]
    fn wrong_sizes_and_labels_are_refused() {
        let mut engine = engine();
        engine.model = Some(ImageClassifier::random(1000, &engine.device));
        let err = futures_lite::future::block_on(engine.features(vec![0.0; 10], 1, 32, 32)).unwrap_err();
        assert!(err.to_string().contains("3072"), "{err}");
        let err = futures_lite::future::block_on(engine.features(vec![0.0; 3 * 16 * 16], 1, 16, 16)).unwrap_err();
        assert!(err.to_string().contains("at least 32"), "{err}");
        engine.start_head_training(2, &TrainConfig::default()).unwrap();
        let err = futures_lite::future::block_on(engine.train_head_step(vec![0.0; 512], &[2])).unwrap_err();
        assert!(err.to_string().contains("out of range"), "{err}");
    }
}
