//! The learners: what one strategy trains and how, behind the few calls the run's loop makes
//! (as `burn-train` keeps the learner apart from the loop). [`CachedFeatures`] trains or fits a
//! head on features of the frozen backbone computed once per image; [`BackboneTraining`] trains
//! the model itself, all of it or its last stages, on augmented pixels.

mod backbone;
mod cached;

use burn::tensor::{Device, Tensor, TensorData};

pub(super) use backbone::BackboneTraining;
pub(super) use cached::CachedFeatures;

use crate::data::{Dataset, Preprocess, augment, center_crop};
use crate::error::{Error, Result};
use crate::model::ImageClassifier;
use crate::rng::Rng;

/// How examples become the network's input: the backbone's preprocessing on the run's device,
/// and the run's random stream, which shuffles the epochs and draws the augmentation.
pub(super) struct Inputs {
    pub preprocess: Preprocess,
    pub device: Device,
    pub rng: Rng,
}

impl Inputs {
    /// Normalised pixels of the given examples: the evaluation crop, or the training augmentation.
    ///
    /// # Shapes
    /// - returns: `[indices.len(), 3, crop, crop]`
    pub fn pixels(&mut self, dataset: &Dataset, indices: &[usize], augmented: bool) -> Result<Tensor<4>> {
        let crop = self.preprocess.crop;
        let mut values = Vec::with_capacity(indices.len() * 3 * (crop * crop) as usize);
        for &i in indices {
            let example = &dataset.examples()[i];
            let image = example
                .image
                .as_ref()
                .ok_or_else(|| Error::InvalidInput(format!("the pixels of '{}' are not in memory", example.name)))?;
            let cropped = if augmented { augment(image, crop, &mut self.rng) } else { center_crop(image, crop, crop) };
            values.extend(self.preprocess.normalize(&cropped));
        }
        let side = crop as usize;
        Ok(Tensor::from_data(TensorData::new(values, [indices.len(), 3, side, side]), &self.device))
    }
}

/// The learner of a run's strategy.
pub(super) enum Learner {
    Cached(Box<CachedFeatures>),
    Backbone(Box<BackboneTraining>),
}

impl Learner {
    /// Prepares `epoch` (1-based): progressive unfreezing starts training one more stage.
    pub fn start_epoch(&mut self, epoch: usize) {
        if let Learner::Backbone(learner) = self {
            learner.start_epoch(epoch);
        }
    }

    /// One optimiser step on the examples `indices` with their `labels`: the loss and the logits,
    /// still on the device.
    pub fn train_step(
        &mut self,
        dataset: &Dataset,
        inputs: &mut Inputs,
        indices: &[usize],
        labels: &[usize],
        epoch: usize,
    ) -> Result<(Tensor<1>, Tensor<2>)> {
        match self {
            Learner::Cached(learner) => learner.train_step(indices, labels, &inputs.device),
            Learner::Backbone(learner) => Ok(learner.train_step(inputs.pixels(dataset, indices, true)?, labels, epoch)),
        }
    }

    /// Logits of validation examples, in evaluation mode.
    pub fn evaluate(&self, dataset: &Dataset, inputs: &mut Inputs, indices: &[usize]) -> Result<Tensor<2>> {
        match self {
            Learner::Cached(learner) => learner.evaluate(indices, &inputs.device),
            Learner::Backbone(learner) => Ok(learner.evaluate(inputs.pixels(dataset, indices, false)?)),
        }
    }

    /// The model as trained so far, for inference.
    pub fn model(&self) -> ImageClassifier {
        match self {
            Learner::Cached(learner) => learner.model(),
            Learner::Backbone(learner) => learner.model(),
        }
    }

    /// Whether example `index` takes part in training and evaluation: its features were
    /// extracted, or (pixels read at each step) its file has not failed to decode.
    pub fn takes_part(&self, dataset: &Dataset, index: usize) -> bool {
        match self {
            Learner::Cached(learner) => learner.features(index).is_some(),
            Learner::Backbone(_) => dataset.is_usable(index),
        }
    }

    /// Whether training and evaluation steps read the examples' pixels (rather than cached features).
    pub fn reads_pixels(&self) -> bool {
        matches!(self, Learner::Backbone(_))
    }

    pub fn cached(&self) -> Option<&CachedFeatures> {
        match self {
            Learner::Cached(learner) => Some(learner),
            Learner::Backbone(_) => None,
        }
    }

    pub fn cached_mut(&mut self) -> Option<&mut CachedFeatures> {
        match self {
            Learner::Cached(learner) => Some(learner),
            Learner::Backbone(_) => None,
        }
    }
}
