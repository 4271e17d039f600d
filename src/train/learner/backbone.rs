//! Strategies (b), (c) and progressive unfreezing: the model itself trains on the autodiff
//! device, its frozen part frozen (no gradients, BatchNorm in evaluation mode), the stages it
//! trains given by the strategy for each epoch.

use burn::module::Module;
use burn::nn::Linear;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Gradients, Tensor};

use crate::model::{Backbone, ImageClassifier, param_ids};
use crate::train::head::class_indices;
use crate::train::{Strategy, TrainConfig, optimizer};

pub(in crate::train) struct BackboneTraining {
    model: ImageClassifier,
    optimizer: ModuleOptimizer,
    learning_rate: f64,
    strategy: Strategy,
    /// The stages trained now besides the head (`None`: all of the backbone).
    trained_stages: Option<usize>,
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
        let model = ImageClassifier { backbone, fc: head }.fork(&device.clone().autodiff()).train();
        Self {
            model: strategy.freeze(model, first_epoch),
            optimizer: optimizer(config),
            learning_rate: config.learning_rate,
            strategy,
            trained_stages: strategy.trained_stages(first_epoch),
        }
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
    /// - input: `[batch, 3, crop, crop]`
    /// - returns: loss `[1]`, logits `[batch, classes]`
    pub fn train_step(&mut self, input: Tensor<4>, labels: &[usize], epoch: usize) -> (Tensor<1>, Tensor<2>) {
        let autodiff = self.model.fc.weight.device();
        let logits = self.model.forward(input.to_device(&autodiff).autodiff());
        let loss = CrossEntropyLossConfig::new().init(&autodiff).forward(logits.clone(), class_indices(labels, &autodiff));
        let trained = self.model.clone();
        self.model = match self.stage_rates(epoch) {
            Some((stages, factor)) => {
                step_by_stage(trained, &mut self.optimizer, loss.backward(), self.learning_rate, stages, factor)
            }
            None => {
                let grads = GradientsParams::from_grads(loss.backward(), &trained);
                self.optimizer.step(self.learning_rate, trained, grads)
            }
        };
        (loss.detach().inner(), logits.detach().inner())
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
}

/// One optimiser step in which the head learns at `learning_rate` and each of the last `stages`
/// stages at `factor` times the rate of the stage after it (discriminative fine-tuning).
fn step_by_stage(
    model: ImageClassifier,
    optimizer: &mut ModuleOptimizer,
    mut grads: Gradients,
    learning_rate: f64,
    stages: usize,
    factor: f64,
) -> ImageClassifier {
    // Every group's gradients are taken from the model they were computed on, before any update.
    let head = param_ids(&model.fc);
    let mut groups = vec![(learning_rate, GradientsParams::from_params(&mut grads, &model, &head))];
    let mut rate = learning_rate;
    for ids in model.backbone.stage_params(stages) {
        rate *= factor;
        groups.push((rate, GradientsParams::from_params(&mut grads, &model, &ids)));
    }
    groups.into_iter().fold(model, |model, (rate, grads)| optimizer.step(rate, model, grads))
}
