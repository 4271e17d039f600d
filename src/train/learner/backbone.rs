//! Strategies (b), (c) and progressive unfreezing: the model itself trains on the autodiff
//! device, its frozen part frozen (no gradients, BatchNorm in evaluation mode), the stages it
//! trains given by the strategy for each epoch. The frozen stages run outside the training graph,
//! folded (on the CPU, through the fused kernels feature extraction uses): they compute the same
//! function in evaluation mode, and nothing flows back through them.

use std::rc::Rc;

use burn::module::{Module, ParamId};
use burn::nn::Linear;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Gradients, Tensor};

use super::shares::{BatchShares, SummedGradients};
use crate::error::{Error, Result};
use crate::model::{Backbone, FeatureExtractor, ImageClassifier, param_ids};
use crate::train::head::class_indices;
use crate::train::{Strategy, TrainConfig, optimizer};

/// The output of the first `stages` frozen stages for a batch, computed elsewhere (a helper
/// worker's folded copy of the same backbone) from the pixels this learner would have used.
///
/// # Shapes
/// - activations: `[batch, channels, height, width]`
pub struct FrozenActivations {
    pub(crate) activations: Tensor<4>,
    pub(crate) stages: usize,
}

/// What a step starts from: normalised pixels `[batch, 3, crop, crop]`, or the frozen stages'
/// output.
pub enum BackboneInput {
    Pixels(Tensor<4>),
    Frozen(FrozenActivations),
}

/// The learner of the strategies that train the backbone, apart from the run's loop: public so
/// that a recorded PyTorch run can be replayed through it step by step (`tests/real_weights.rs`, `tests/browser.rs`).
pub struct BackboneTraining {
    model: ImageClassifier,
    optimizer: ModuleOptimizer,
    learning_rate: f64,
    strategy: Strategy,
    /// The stages trained now besides the head (`None`: all of the backbone).
    trained_stages: Option<usize>,
    /// The backbone folded as the run found it, for the stages frozen now (`None` for a run
    /// that trains all of it). A stage frozen now has not trained in this run (progressive
    /// unfreezing only ever unfreezes more), so its folded weights are still its own.
    frozen: Option<FeatureExtractor>,
}

impl BackboneTraining {
    /// Trains `backbone` with `head` (a new one, or one it continues to train) as `strategy`
    /// says, from epoch `first_epoch` on.
    pub fn new(
        backbone: Backbone,
        head: Linear,
        strategy: Strategy,
        config: &TrainConfig,
        device: &Device,
        first_epoch: usize,
    ) -> Self {
        let frozen = strategy.trained_stages(first_epoch).map(|_| FeatureExtractor::new(&backbone));
        let model = ImageClassifier { backbone, fc: head }.fork(&device.clone().autodiff()).train();
        Self {
            model: strategy.freeze(model, first_epoch),
            optimizer: optimizer(config),
            learning_rate: config.learning_rate,
            strategy,
            trained_stages: strategy.trained_stages(first_epoch),
            frozen,
        }
    }

    /// How many stages (after the stem) are frozen now; `None` when everything trains.
    pub fn frozen_stages(&self) -> Option<usize> {
        let stages = self.model.backbone.stage_count();
        self.trained_stages.map(|trained| stages.saturating_sub(trained))
    }

    /// The shape `[channels, height, width]` of one image's output of the first `stages`
    /// stages at `crop`×`crop` (one image through the folded copy); `None` without one.
    pub fn frozen_shape(&self, stages: usize, crop: u32) -> Option<[usize; 3]> {
        let frozen = self.frozen.as_ref()?;
        let side = crop as usize;
        let image = Tensor::<4>::zeros([1, 3, side, side], &self.model.fc.weight.device().inner());
        let [_, channels, height, width] = frozen.forward_until(image, stages).dims();
        Some([channels, height, width])
    }

    /// The logits of `model` (the training or the evaluation copy) for `input` on the base
    /// device, the frozen stages computed by their folded copy unless they come computed.
    fn logits(&self, model: &ImageClassifier, input: BackboneInput) -> Result<Tensor<2>> {
        let device = model.fc.weight.device();
        // Into the model's kind of tensor: an autodiff one while training.
        let onto_model = |x: Tensor<4>| {
            let x = x.to_device(&device);
            if device.is_autodiff() { x.autodiff() } else { x }
        };
        Ok(match (input, &self.frozen, self.frozen_stages()) {
            (BackboneInput::Frozen(FrozenActivations { activations, stages }), _, frozen) => {
                if frozen != Some(stages) {
                    return Err(Error::InvalidInput(format!(
                        "activations of {stages} frozen stages were supplied for a step that freezes {frozen:?}"
                    )));
                }
                model.fc.forward(model.backbone.forward_from(onto_model(activations), stages))
            }
            (BackboneInput::Pixels(input), Some(frozen), Some(stages)) => {
                let activations = frozen.forward_until(input, stages);
                model.fc.forward(model.backbone.forward_from(onto_model(activations), stages))
            }
            (BackboneInput::Pixels(input), ..) => model.forward(onto_model(input)),
        })
    }

    /// Unfreezes what `epoch` trains and an earlier epoch did not (progressive unfreezing).
    pub fn start_epoch(&mut self, epoch: usize) {
        let trained_stages = self.strategy.trained_stages(epoch);
        if trained_stages != self.trained_stages {
            self.model = self.strategy.freeze(self.model.clone(), epoch);
            self.trained_stages = trained_stages;
        }
    }

    /// One optimiser step of `epoch` on a batch of augmented images.
    ///
    /// # Shapes
    /// - returns: loss `[1]`, logits `[batch, classes]`
    pub fn train_step(
        &mut self,
        input: BackboneInput,
        labels: &[usize],
        epoch: usize,
    ) -> Result<(Tensor<1>, Tensor<2>)> {
        let (loss, logits, grads) = self.forward_backward(input, labels, 1.0)?;
        let trained = self.model.clone();
        let mut grads = grads;
        self.model = self.step(trained.clone(), epoch, |ids| GradientsParams::from_params(&mut grads, &trained, ids));
        Ok((loss, logits))
    }

    /// One optimiser step of `epoch` by one of the engines that split a batch of `batch` images
    /// between them (data-parallel training, on the CPU), on its share: `input` and `labels`.
    /// Every engine calls it with its share at the same time; BatchNorm and the gradients are the
    /// whole batch's (added up through `shares`), so each takes the step one engine would take on
    /// the whole batch.
    ///
    /// # Shapes
    /// - returns: this share's part of the batch's loss `[1]` (the parts add up to it), the share's
    ///   logits `[share, classes]`
    pub fn train_share(
        &mut self,
        input: BackboneInput,
        labels: &[usize],
        batch: usize,
        epoch: usize,
        shares: Rc<dyn BatchShares>,
    ) -> Result<(Tensor<1>, Tensor<2>)> {
        if !crate::backend::is_cpu(&self.model.fc.weight.device().inner()) {
            return Err(Error::InvalidInput("a batch is split across engines on the CPU path only".into()));
        }
        if labels.is_empty() || labels.len() > batch {
            return Err(Error::InvalidInput(format!("a share of {} images of a batch of {batch}", labels.len())));
        }
        let add_up: crate::kernels::AddUp = {
            let shares = shares.clone();
            Rc::new(move |values: &mut [f64]| shares.add_up(values))
        };
        let share = labels.len() as f64 / batch as f64;
        let (loss, logits, grads) =
            crate::kernels::sharing(batch, add_up, || self.forward_backward(input, labels, share))?;
        let trained = self.model.clone();
        let summed = SummedGradients::new(grads, &trained, &*shares)?;
        self.model = self.step(trained, epoch, |ids| summed.of(ids));
        Ok((loss, logits))
    }

    /// The loss (cross-entropy averaged over the input's images, times `weight`), the logits and
    /// the gradients of the loss.
    fn forward_backward(
        &self,
        input: BackboneInput,
        labels: &[usize],
        weight: f64,
    ) -> Result<(Tensor<1>, Tensor<2>, Gradients)> {
        let autodiff = self.model.fc.weight.device();
        let logits = self.logits(&self.model, input)?;
        let loss = CrossEntropyLossConfig::new()
            .init(&autodiff)
            .forward(logits.clone(), class_indices(labels, &autodiff))
            .mul_scalar(weight);
        let grads = loss.backward();
        Ok((loss.detach().inner(), logits.detach().inner(), grads))
    }

    /// The optimiser's step of `epoch` on `trained`, the gradients of a set of parameters given by
    /// `grads_of`.
    fn step(
        &mut self,
        trained: ImageClassifier,
        epoch: usize,
        grads_of: impl FnMut(&[ParamId]) -> GradientsParams,
    ) -> ImageClassifier {
        match self.stage_rates(epoch) {
            Some((stages, factor)) => {
                step_by_stage(trained, &mut self.optimizer, grads_of, self.learning_rate, stages, factor)
            }
            None => {
                let mut grads_of = grads_of;
                let grads = grads_of(&param_ids(&trained));
                self.optimizer.step(self.learning_rate, trained, grads)
            }
        }
    }

    /// Progressive unfreezing with a falling rate: the stages trained in `epoch` and the factor.
    fn stage_rates(&self, epoch: usize) -> Option<(usize, f64)> {
        match self.strategy {
            Strategy::Progressive { lr_factor, .. } if lr_factor < 1.0 => {
                self.strategy.trained_stages(epoch).map(|stages| (stages, lr_factor))
            }
            _ => None,
        }
    }

    /// The model as trained so far, in evaluation mode.
    pub fn model(&self) -> ImageClassifier {
        self.model.valid()
    }

    /// The model's logits `[batch, classes]` in evaluation mode.
    pub fn evaluate(&self, input: BackboneInput) -> Result<Tensor<2>> {
        self.logits(&self.model(), input)
    }
}

/// One optimiser step in which the head learns at `learning_rate` and each of the last `stages`
/// stages at `factor` times the rate of the stage after it (discriminative fine-tuning).
fn step_by_stage(
    model: ImageClassifier,
    optimizer: &mut ModuleOptimizer,
    mut grads_of: impl FnMut(&[ParamId]) -> GradientsParams,
    learning_rate: f64,
    stages: usize,
    factor: f64,
) -> ImageClassifier {
    // Every group's gradients are taken from the model they were computed on, before any update.
    let mut groups = vec![(learning_rate, grads_of(&param_ids(&model.fc)))];
    let mut rate = learning_rate;
    for ids in model.backbone.stage_params(stages) {
        rate *= factor;
        groups.push((rate, grads_of(&ids)));
    }
    groups.into_iter().fold(model, |model, (rate, grads)| optimizer.step(rate, model, grads))
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Distribution, Tolerance};

    use super::*;
    use crate::model::Architecture;
    use crate::train::MAX_TRAINED_STAGES;

    /// With its frozen stages run by their folded copy, the learner computes what its model
    /// computes whole, for each number of trained stages (progressive unfreezing's head-only
    /// epochs included) and for full fine-tuning.
    #[test]
    fn the_folded_frozen_stages_compute_what_the_model_computes() {
        let device = Device::flex();
        device.seed(11);
        let model = ImageClassifier::random(Architecture::MobileNetV2, 3, &device);
        let images = Tensor::<4>::random([3, 3, 64, 64], Distribution::Normal(0.0, 1.0), &device);
        let strategies = (1..=MAX_TRAINED_STAGES)
            .map(|stages| (Strategy::LastStages { stages }, 1))
            .chain([(Strategy::Progressive { every: 2, lr_factor: 1.0 }, 1), (Strategy::Full, 1)]);
        for (strategy, epoch) in strategies {
            let learner = BackboneTraining::new(
                model.backbone.clone(),
                model.fc.clone(),
                strategy,
                &TrainConfig::default(),
                &device,
                epoch,
            );
            let whole = learner.model().forward(images.clone()).into_data();
            let folded = learner.evaluate(BackboneInput::Pixels(images.clone())).unwrap();
            folded.into_data().assert_approx_eq::<f32>(&whole, Tolerance::absolute(1e-4));
        }
    }

    /// Two engines on two threads, each training on its share of a batch (four images and two),
    /// take the step one engine takes on the whole batch: the same loss, the same weights and
    /// running statistics after two SGD steps (full fine-tuning, and progressive unfreezing's
    /// per-stage rates with the folded frozen stages), and exactly the same weights as each other.
    #[test]
    fn engines_sharing_a_batch_train_as_one_engine_on_the_whole_batch() {
        use std::rc::Rc;

        use crate::train::{OptimizerKind, ThreadShares};

        let device = Device::flex();
        device.seed(12);
        let model = ImageClassifier::random(Architecture::MobileNetV2, 3, &device);
        let images = Tensor::<4>::random([6, 3, 48, 48], Distribution::Normal(0.0, 1.0), &device);
        let labels = [0, 1, 2, 1, 0, 2];
        let config =
            TrainConfig { learning_rate: 0.05, optimizer: OptimizerKind::Sgd { momentum: 0.9 }, ..Default::default() };
        let logits_after = |learner: &BackboneTraining| learner.model().forward(images.clone()).into_data();
        for (strategy, epoch) in [(Strategy::Full, 1), (Strategy::Progressive { every: 1, lr_factor: 0.5 }, 3)] {
            let learner =
                || BackboneTraining::new(model.backbone.clone(), model.fc.clone(), strategy, &config, &device, epoch);
            let mut alone = learner();
            let whole_losses: Vec<f32> = (0..2)
                .map(|_| {
                    let (loss, _) = alone.train_step(BackboneInput::Pixels(images.clone()), &labels, epoch).unwrap();
                    loss.into_scalar::<f32>()
                })
                .collect();
            let shares = [(0..4), (4..6)];
            let engines: Vec<(Vec<f32>, BackboneTraining)> = std::thread::scope(|scope| {
                let handles: Vec<_> = ThreadShares::group(2)
                    .into_iter()
                    .zip(shares.clone())
                    .map(|(handle, share)| {
                        let (mut learner, images) = (learner(), images.clone().slice(share.clone()));
                        scope.spawn(move || {
                            let handle: Rc<dyn crate::train::BatchShares> = Rc::new(handle);
                            let losses = (0..2)
                                .map(|_| {
                                    let input = BackboneInput::Pixels(images.clone());
                                    let (loss, _) = learner
                                        .train_share(input, &labels[share.clone()], 6, epoch, handle.clone())
                                        .unwrap();
                                    loss.into_scalar::<f32>()
                                })
                                .collect();
                            (losses, learner)
                        })
                    })
                    .collect();
                handles.into_iter().map(|handle| handle.join().unwrap()).collect()
            });
            for (step, whole) in whole_losses.iter().enumerate() {
                let summed = engines[0].0[step] + engines[1].0[step];
                assert!((summed - whole).abs() < 1e-5, "{strategy:?} step {step}: {summed} ≠ {whole}");
            }
            let (first, second) = (logits_after(&engines[0].1), logits_after(&engines[1].1));
            assert_eq!(first, second, "{strategy:?}: the engines' weights differ");
            first.assert_approx_eq::<f32>(&logits_after(&alone), Tolerance::absolute(1e-4));
        }
    }
}
