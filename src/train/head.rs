//! Training a linear head on backbone features with cross-entropy.

use burn::module::Module;
use burn::nn::Linear;
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Int, Tensor, TensorData};

use super::{TrainConfig, optimizer};

/// A head of `Linear(features, num_classes)` and its optimiser state.
///
/// Features come in from a frozen backbone (on any device without autodiff); the head lives on
/// the autodiff version of that device so that only it receives gradients.
pub struct HeadTrainer {
    head: Linear,
    optimizer: ModuleOptimizer,
    learning_rate: f64,
    loss: CrossEntropyLoss,
    device: Device,
}

impl HeadTrainer {
    /// Trains `head` (typically fresh: `head_config(features, classes).init(device)`) on the
    /// autodiff version of its device.
    pub fn new(head: Linear, config: &TrainConfig) -> Self {
        let device = head.weight.device().autodiff();
        Self {
            head: head.fork(&device).train(),
            optimizer: optimizer(config),
            learning_rate: config.learning_rate,
            loss: CrossEntropyLossConfig::new().init(&device),
            device,
        }
    }

    /// One optimiser step on a batch. Returns the batch's mean loss and the logits it was computed
    /// from, still on the device, so that the caller reads them back however its platform allows
    /// (asynchronously in the browser).
    ///
    /// # Shapes
    /// - features: `[batch, features]`
    /// - labels: `batch` class indices
    /// - returns: loss `[1]`, logits `[batch, classes]`
    pub fn step(&mut self, features: Tensor<2>, labels: &[usize]) -> (Tensor<1>, Tensor<2>) {
        let features = features.to_device(&self.device).autodiff();
        let targets = class_indices(labels, &self.device);
        let logits = self.head.forward(features);
        let loss = self.loss.forward(logits.clone(), targets);
        let grads = GradientsParams::from_grads(loss.backward(), &self.head);
        self.head = self.optimizer.step(self.learning_rate, self.head.clone(), grads);
        (loss.detach().inner(), logits.detach().inner())
    }

    /// The trained head, detached from autodiff, for inference.
    pub fn head(&self) -> Linear {
        self.head.valid()
    }
}

/// Class indices as the `Int` tensor cross-entropy takes.
pub fn class_indices(labels: &[usize], device: &Device) -> Tensor<1, Int> {
    let values: Vec<i64> = labels.iter().map(|&l| l as i64).collect();
    Tensor::from_data(TensorData::new(values, [labels.len()]), device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::head_config;
    use crate::train::OptimizerKind;

    fn separable_batch(device: &Device) -> (Tensor<2>, Vec<usize>) {
        // Class c has a large value in feature c and noise elsewhere.
        let labels: Vec<usize> = (0..24).map(|i| i % 3).collect();
        let mut values = vec![0.0f32; 24 * 512];
        for (row, &label) in labels.iter().enumerate() {
            for col in 0..512 {
                values[row * 512 + col] = ((row * 31 + col * 17) % 11) as f32 / 11.0 - 0.5;
            }
            values[row * 512 + label] += 3.0;
        }
        (Tensor::from_data(TensorData::new(values, [24, 512]), device), labels)
    }

    #[test]
    fn adam_and_sgd_lower_the_loss_on_separable_features() {
        let device = Device::flex();
        for optimizer in [OptimizerKind::Adam, OptimizerKind::Sgd { momentum: 0.9 }] {
            let config = TrainConfig { optimizer: optimizer.clone(), learning_rate: 1e-2, ..TrainConfig::default() };
            let mut trainer = HeadTrainer::new(head_config(512, 3).init(&device), &config);
            let (features, labels) = separable_batch(&device);
            let first: f32 = trainer.step(features.clone(), &labels).0.into_scalar();
            let mut last = first;
            for _ in 0..20 {
                last = trainer.step(features.clone(), &labels).0.into_scalar();
            }
            assert!(last < first * 0.5, "{optimizer:?}: loss {first} → {last}");
        }
    }
}
