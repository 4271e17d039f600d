//! The learners: what one strategy trains and how, behind the few calls the run's loop makes
//! (as `burn-train` keeps the learner apart from the loop). [`CachedFeatures`] trains or fits a
//! head on features of the frozen backbone computed once per image; [`BackboneTraining`] trains
//! the model itself, all of it or its last stages, on augmented pixels.

mod backbone;
mod cached;
mod shares;

use std::rc::Rc;

use burn::tensor::{Device, Tensor, TensorData};

pub use backbone::{BackboneInput, BackboneTraining, FrozenActivations};
pub(super) use cached::CachedFeatures;
pub use shares::{BatchShares, ThreadShares, add_up_logits, add_up_predictions, split_batch};

use crate::data::{Augmentation, Dataset, Preprocess, network_crop};
use crate::error::{Error, Result};
use crate::model::ImageClassifier;
use crate::rng::Rng;

/// How examples become the network's input: the backbone's preprocessing on the run's device,
/// the run's seed, which gives each image's augmentation in each epoch, and the run's random
/// stream, which shuffles the epochs.
pub(super) struct Inputs {
    pub preprocess: Preprocess,
    pub device: Device,
    pub seed: u64,
    pub rng: Rng,
}

impl Inputs {
    /// Normalised pixels of the given examples: the evaluation crop, or with `augmented_epoch`
    /// that epoch's training augmentation.
    ///
    /// # Shapes
    /// - returns: `[indices.len(), 3, crop, crop]`
    pub fn pixels(&self, dataset: &Dataset, indices: &[usize], augmented_epoch: Option<usize>) -> Result<Tensor<4>> {
        let values = self.pixel_values(dataset, indices, augmented_epoch)?;
        let side = self.preprocess.crop as usize;
        Ok(Tensor::from_data(TensorData::new(values, [indices.len(), 3, side, side]), &self.device))
    }

    /// [`Inputs::pixels`]'s values, in host memory (for another engine).
    pub fn pixel_values(
        &self,
        dataset: &Dataset,
        indices: &[usize],
        augmented_epoch: Option<usize>,
    ) -> Result<Vec<f32>> {
        let crop = self.preprocess.crop;
        let augmentation = self.augmentation(augmented_epoch);
        let mut values = Vec::with_capacity(indices.len() * 3 * (crop * crop) as usize);
        for &i in indices {
            let example = &dataset.examples()[i];
            let image = example
                .image
                .as_ref()
                .ok_or_else(|| Error::InvalidInput(format!("the pixels of '{}' are not in memory", example.name)))?;
            values.extend(self.preprocess.normalize(&network_crop(image, crop, augmentation, i)));
        }
        Ok(values)
    }

    /// The augmentation of `epoch` (`None`: the evaluation crop).
    pub fn augmentation(&self, epoch: Option<usize>) -> Option<Augmentation> {
        epoch.map(|epoch| Augmentation { seed: self.seed, epoch })
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
        inputs: &Inputs,
        indices: &[usize],
        frozen: Option<FrozenActivations>,
        labels: &[usize],
        epoch: usize,
    ) -> Result<(Tensor<1>, Tensor<2>)> {
        match self {
            Learner::Cached(learner) => learner.train_step(indices, labels, &inputs.device),
            Learner::Backbone(learner) => {
                let input = backbone_input(dataset, inputs, indices, frozen, Some(epoch))?;
                learner.train_step(input, labels, epoch)
            }
        }
    }

    /// One engine's share (`indices`, `labels`) of an optimiser step on a batch of `batch`
    /// examples that engines split (data-parallel training; see [`BackboneTraining::train_share`]).
    #[allow(clippy::too_many_arguments)]
    pub fn train_share(
        &mut self,
        dataset: &Dataset,
        inputs: &Inputs,
        indices: &[usize],
        labels: &[usize],
        batch: usize,
        epoch: usize,
        shares: Rc<dyn BatchShares>,
    ) -> Result<(Tensor<1>, Tensor<2>)> {
        match self {
            Learner::Backbone(learner) => {
                let input = BackboneInput::Pixels(inputs.pixels(dataset, indices, Some(epoch))?);
                learner.train_share(input, labels, batch, epoch, shares)
            }
            Learner::Cached(_) => Err(Error::InvalidInput("a head on cached features trains on one engine".into())),
        }
    }

    /// Logits of validation examples, in evaluation mode.
    pub fn evaluate(
        &self,
        dataset: &Dataset,
        inputs: &Inputs,
        indices: &[usize],
        frozen: Option<FrozenActivations>,
    ) -> Result<Tensor<2>> {
        match self {
            Learner::Cached(learner) => learner.evaluate(indices, &inputs.device),
            Learner::Backbone(learner) => learner.evaluate(backbone_input(dataset, inputs, indices, frozen, None)?),
        }
    }

    /// How many of the backbone's stages a helper may compute for the current step (the frozen
    /// ones, when there are any beyond the stem); `None` when none.
    pub fn frozen_stages(&self) -> Option<usize> {
        match self {
            Learner::Backbone(learner) => learner.frozen_stages().filter(|&stages| stages > 0),
            Learner::Cached(_) => None,
        }
    }

    /// The shape `[channels, height, width]` of one image's activations after `stages` frozen
    /// stages, for checking what a helper supplies.
    pub fn frozen_shape(&self, stages: usize, crop: u32) -> Option<[usize; 3]> {
        match self {
            Learner::Backbone(learner) => learner.frozen_shape(stages, crop),
            Learner::Cached(_) => None,
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

/// The input of a backbone learner's step: the frozen stages' output where it was supplied,
/// else the examples' pixels (augmented as `augmented_epoch` says).
fn backbone_input(
    dataset: &Dataset,
    inputs: &Inputs,
    indices: &[usize],
    frozen: Option<FrozenActivations>,
    augmented_epoch: Option<usize>,
) -> Result<BackboneInput> {
    Ok(match frozen {
        Some(frozen) => BackboneInput::Frozen(frozen),
        None => BackboneInput::Pixels(inputs.pixels(dataset, indices, augmented_epoch)?),
    })
}
