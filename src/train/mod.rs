//! Training a classification head, with the seed recipe's defaults.

mod head;

pub use head::HeadTrainer;

/// Which optimiser updates the trained parameters.
#[derive(Debug, Clone, PartialEq)]
pub enum OptimizerKind {
    /// `torch.optim.Adam(params, lr)`: betas (0.9, 0.999), eps 1e-8, no weight decay.
    Adam,
    /// `torch.optim.SGD(params, lr, momentum)`.
    Sgd { momentum: f64 },
}

/// Training settings; [`Default`] is the seed recipe: batch 32, shuffled, Adam lr 1e-3, 10 epochs.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub optimizer: OptimizerKind,
    pub shuffle: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self { epochs: 10, batch_size: 32, learning_rate: 1e-3, optimizer: OptimizerKind::Adam, shuffle: true }
    }
}
