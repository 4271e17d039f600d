//! What the engine's models compute for images outside a run's steps: backbone features (for
//! the helper workers that share a run's extraction), logits, and predictions with class names.

use std::borrow::Cow;

use burn::tensor::{Tensor, TensorData};
use serde::Serialize;

use super::Engine;
use crate::backend::read_back;
use crate::classify::{Classifier, Explanation, Predictions};
use crate::data::{Views, decode_image, decode_resized, network_crop};
use crate::error::{Error, Result};
use crate::model::{Architecture, FeatureExtractor, Pretrained};
use crate::train::FrozenJob;

/// Features of image files ([`Engine::file_features`]): one row per decodable file, in order.
#[derive(Debug, Clone, Serialize)]
pub struct FileFeatures {
    pub features: Vec<f32>,
    pub failed: Vec<FailedFile>,
}

/// The output of a job's frozen stages ([`Engine::frozen_activations`]): `[images, channels,
/// height, width]` flattened, one image per decodable file, in order.
#[derive(Debug, Clone, Serialize)]
pub struct FileActivations {
    pub activations: Vec<f32>,
    pub shape: [usize; 3],
    pub failed: Vec<FailedFile>,
}

/// A file that could not be decoded: its position in the list given, and why.
#[derive(Debug, Clone, Serialize)]
pub struct FailedFile {
    pub position: usize,
    pub reason: String,
}

impl Engine {
    /// Pooled backbone features `[batch, width]`, flattened, of normalised `[batch, 3, height,
    /// width]` images, from the loaded backbone with its BatchNorms folded.
    pub async fn features(&mut self, images: Vec<f32>, batch: usize, height: usize, width: usize) -> Result<Vec<f32>> {
        let input = self.input_tensor(images, batch, height, width)?;
        self.extract(input).await
    }

    /// The features of image files (name, bytes) as the run extracts them: each decoded, resized,
    /// centre-cropped and normalised, then through the backbone together. A file that fails to
    /// decode is left out and named in `failed`; the others' features are in order.
    pub async fn file_features(&mut self, files: &[(String, Vec<u8>)]) -> Result<FileFeatures> {
        let preprocess = self.preprocess();
        let side = preprocess.crop as usize;
        let (mut pixels, mut failed) = (Vec::new(), Vec::new());
        for (position, (name, bytes)) in files.iter().enumerate() {
            match decode_image(name, bytes) {
                Ok(image) => pixels.extend(preprocess.apply(&image)),
                Err(err) => failed.push(FailedFile { position, reason: err.to_string() }),
            }
        }
        let images = files.len() - failed.len();
        let features = if images == 0 {
            Vec::new()
        } else {
            let shape = [images, 3, side, side];
            self.extract(Tensor::from_data(TensorData::new(pixels, shape), &self.device)).await?
        };
        Ok(FileFeatures { features, failed })
    }

    /// The output of the frozen stages of a job another engine's run handed out
    /// ([`Engine::claim_frozen_job`]), from the job's image files (name, bytes) in order: each
    /// decoded and resized as the run keeps it, cropped as the job says (its augmentation, or the
    /// evaluation crop), normalised, then through the loaded backbone's folded stem and first
    /// `job.stages` stages. This engine must hold the same backbone as the run's. A file that fails
    /// to decode is left out and named in `failed`.
    pub async fn frozen_activations(
        &mut self,
        job: &FrozenJob,
        files: &[(String, Vec<u8>)],
    ) -> Result<FileActivations> {
        if files.len() != job.examples.len() {
            return Err(Error::InvalidInput(format!(
                "the job at {} has {} images, {} files were given",
                job.first,
                job.examples.len(),
                files.len()
            )));
        }
        let pretrained = self.pretrained()?;
        let stages = pretrained.backbone.stage_count();
        if job.stages > stages {
            return Err(Error::InvalidInput(format!(
                "the backbone has {stages} stages, the job freezes {}",
                job.stages
            )));
        }
        let preprocess = self.preprocess();
        let (mut pixels, mut failed) = (Vec::new(), Vec::new());
        for (position, ((name, bytes), &example)) in files.iter().zip(&job.examples).enumerate() {
            match decode_resized(name, bytes, preprocess.resizing()) {
                Ok(image) => pixels.extend(preprocess.normalize(&network_crop(
                    &image,
                    preprocess.crop,
                    job.augmentation,
                    example,
                ))),
                Err(err) => failed.push(FailedFile { position, reason: err.to_string() }),
            }
        }
        let images = files.len() - failed.len();
        if images == 0 {
            return Ok(FileActivations { activations: Vec::new(), shape: [0; 3], failed });
        }
        let side = preprocess.crop as usize;
        let input = Tensor::from_data(TensorData::new(pixels, [images, 3, side, side]), &self.device);
        let output = self.loaded_extractor()?.forward_until(input, job.stages);
        let [_, channels, height, width] = output.dims();
        Ok(FileActivations { activations: read_back(output).await?, shape: [channels, height, width], failed })
    }

    /// Features of `input` from the run's extractor while it extracts, else the loaded backbone's.
    async fn extract(&mut self, input: Tensor<4>) -> Result<Vec<f32>> {
        let in_run = self.run.as_ref().and_then(|active| active.run.extractor());
        let extractor = match in_run {
            Some(extractor) => extractor,
            None => self.loaded_extractor()?,
        };
        read_back(extractor.forward(input)).await
    }

    /// The loaded backbone folded, made on first use.
    fn loaded_extractor(&mut self) -> Result<&FeatureExtractor> {
        if self.extractor.is_none() {
            self.extractor = Some(FeatureExtractor::new(&self.pretrained()?.backbone));
        }
        self.extractor.as_ref().ok_or_else(|| Error::Backend("no folded backbone".into()))
    }

    /// Logits `[batch, classes]`, flattened, of normalised `[batch, 3, height, width]` images, from
    /// the trained model if there is one, else the pretrained one.
    pub async fn logits(&self, images: Vec<f32>, batch: usize, height: usize, width: usize) -> Result<Vec<f32>> {
        let input = self.input_tensor(images, batch, height, width)?;
        let model = match &self.trained {
            Some(trained) => trained.model().clone(),
            None => self.pretrained()?.classifier()?,
        };
        read_back(model.forward(input)).await
    }

    /// Checks the size of normalised `[batch, 3, height, width]` images and puts them on the device.
    fn input_tensor(&self, images: Vec<f32>, batch: usize, height: usize, width: usize) -> Result<Tensor<4>> {
        if batch == 0 || images.len() != batch * 3 * height * width {
            return Err(Error::InvalidInput(format!(
                "expected {batch}×3×{height}×{width} = {} values, got {}",
                batch * 3 * height * width,
                images.len()
            )));
        }
        let architecture = self.pretrained.as_ref().map_or(Architecture::ResNet18, Pretrained::architecture);
        let min = architecture.min_input_side();
        if height < min || width < min {
            return Err(Error::InvalidInput(format!(
                "a {} takes images of at least {min}×{min} pixels, got {height}×{width}",
                architecture.name()
            )));
        }
        Ok(Tensor::from_data(TensorData::new(images, [batch, 3, height, width]), &self.device))
    }

    /// The `top_k` most likely classes of an image file, averaged over `views` of it: from the
    /// last trained or opened model (a run in progress does not predict until it ends), else the
    /// pretrained ImageNet head.
    pub async fn predict(&self, name: &str, bytes: &[u8], top_k: usize, views: Views) -> Result<Predictions> {
        self.classifier()?.predict(name, bytes, top_k, views).await
    }

    /// The same for decoded RGBA pixels, row by row (see [`Classifier::predict_pixels`]).
    pub async fn predict_pixels(
        &self,
        rgba: &[u8],
        width: u32,
        height: u32,
        top_k: usize,
        views: Views,
    ) -> Result<Predictions> {
        self.classifier()?.predict_pixels(rgba, width, height, top_k, views).await
    }

    /// Grad-CAM of an image file for the class named `class` (`None`: the one predicted), from
    /// the model [`Engine::predict`] uses (see [`Classifier::explain`]).
    pub async fn explain(&self, name: &str, bytes: &[u8], class: Option<&str>) -> Result<Explanation> {
        self.classifier()?.explain(name, bytes, class).await
    }

    fn classifier(&self) -> Result<Cow<'_, Classifier>> {
        Ok(match &self.trained {
            Some(trained) => Cow::Borrowed(trained),
            None => Cow::Owned(Classifier::imagenet(self.pretrained()?.classifier()?)),
        })
    }
}
