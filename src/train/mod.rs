//! Training: what is trained (the [`Strategy`]), with which settings ([`TrainConfig`], defaulting
//! to the seed recipe), the step-by-step [`TrainingRun`] (the loop, `run.rs`), and each
//! strategy's learner (`learner/`: what trains and how), reporting as `report.rs` says.

mod head;
mod lbfgs;
mod learner;
mod linear_fit;
mod report;
mod run;

use burn::module::Module;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, ModuleOptimizer, SgdConfig};
use serde::{Deserialize, Serialize};

pub use head::HeadTrainer;
pub use learner::{BackboneInput, BackboneTraining, BatchShares, FrozenActivations, ThreadShares, add_up_logits, add_up_predictions};
pub use linear_fit::{C_GRID, FOLDS, FitSummary, LinearModel};
pub(crate) use linear_fit::{CrossValidation, Design, score_columns};
pub use report::{Calibration, EpochReport, Misclassified, Phase, Progress};
pub use run::{ExtractionJob, FrozenJob, ShareJob, TrainingRun};

use crate::error::{Error, Result};
use crate::model::ImageClassifier;

/// Which optimiser updates the trained parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum OptimizerKind {
    /// `torch.optim.Adam(params, lr)`: betas (0.9, 0.999), eps 1e-8, no weight decay.
    Adam,
    /// `torch.optim.SGD(params, lr, momentum)`.
    Sgd { momentum: f64 },
}

/// Training settings; [`Default`] is the seed recipe: batch 32, shuffled, Adam lr 1e-3, 10 epochs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
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

/// The optimiser a config asks for.
pub(crate) fn optimizer(config: &TrainConfig) -> ModuleOptimizer {
    match config.optimizer {
        // PyTorch's eps; Burn's default (1e-5) would change the updates of small gradients.
        OptimizerKind::Adam => AdamConfig::new().with_epsilon(1e-8).init(),
        OptimizerKind::Sgd { momentum } => SgdConfig::new()
            .with_momentum(Some(MomentumConfig::new().with_momentum(momentum).with_dampening(0.0)))
            .init(),
    }
}

/// What is trained, as in the seed lesson.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Strategy {
    /// (a) Only a new head, on frozen backbone features computed once per image.
    HeadOnly,
    /// (b) The last `stages` (1–4) of the backbone plus the head: layer1–layer4 of ResNet18, the
    /// block groups of EfficientNet. The rest stays frozen (BatchNorm there keeps its ImageNet
    /// statistics).
    LastStages { stages: usize },
    /// (c) Everything.
    Full,
    /// Layer-wise unfreezing: the head alone for the first `every` epochs, then one more stage
    /// (from the last) every `every` epochs, up to four. Each unfrozen stage learns at
    /// `lr_factor` times the rate of the stage after it (1: all at the run's rate).
    Progressive {
        #[serde(default = "default_unfreeze_every")]
        every: usize,
        #[serde(default = "default_lr_factor")]
        lr_factor: f64,
    },
    /// Multinomial logistic regression fitted to convergence on the cached features, its L2
    /// strength chosen by cross-validation ([`LinearModel::LogisticRegression`]).
    LogisticRegression,
    /// A linear SVM (one-vs-rest, squared hinge) fitted likewise ([`LinearModel::LinearSvm`]).
    LinearSvm,
}

fn default_unfreeze_every() -> usize {
    2
}

fn default_lr_factor() -> f64 {
    1.0
}

/// The backbone stages a run can train besides the head.
pub const MAX_TRAINED_STAGES: usize = 4;

impl Strategy {
    pub fn validate(&self) -> Result<()> {
        match self {
            Strategy::LastStages { stages } if !(1..=MAX_TRAINED_STAGES).contains(stages) => {
                Err(Error::InvalidInput(format!("the number of trained stages must be 1 to 4, got {stages}")))
            }
            Strategy::Progressive { every: 0, .. } => {
                Err(Error::InvalidInput("unfreeze a stage every 1 or more epochs, not every 0".into()))
            }
            Strategy::Progressive { lr_factor, .. } if !(*lr_factor > 0.0 && *lr_factor <= 1.0) => {
                Err(Error::InvalidInput(format!(
                    "the learning-rate factor per earlier stage must be in (0, 1], got {lr_factor}"
                )))
            }
            _ => Ok(()),
        }
    }

    /// How many backbone stages train in `epoch` (1-based) besides the head; `None`: all of it.
    pub fn trained_stages(&self, epoch: usize) -> Option<usize> {
        match self {
            Strategy::HeadOnly | Strategy::LogisticRegression | Strategy::LinearSvm => Some(0),
            Strategy::LastStages { stages } => Some(*stages),
            Strategy::Full => None,
            Strategy::Progressive { every, .. } => Some((epoch.saturating_sub(1) / every).min(MAX_TRAINED_STAGES)),
        }
    }

    /// The classifier fitted on cached features, for the strategies that fit one.
    pub fn linear_model(&self) -> Option<LinearModel> {
        match self {
            Strategy::LogisticRegression => Some(LinearModel::LogisticRegression),
            Strategy::LinearSvm => Some(LinearModel::LinearSvm),
            _ => None,
        }
    }

    /// Whether the backbone stays frozen and its features are computed once per image.
    pub fn uses_cached_features(&self) -> bool {
        matches!(self, Strategy::HeadOnly | Strategy::LogisticRegression | Strategy::LinearSvm)
    }

    /// Freezes what this strategy does not train in `epoch`: no gradients, and BatchNorm in
    /// evaluation mode. What an earlier epoch froze and this one trains is unfrozen first.
    pub(crate) fn freeze(&self, model: ImageClassifier, epoch: usize) -> ImageClassifier {
        let Some(trained_stages) = self.trained_stages(epoch) else { return model };
        let backbone =
            if matches!(self, Strategy::Progressive { .. }) { model.backbone.unfreeze() } else { model.backbone };
        ImageClassifier { backbone: backbone.freeze_early_stages(trained_stages), fc: model.fc }
    }
}

/// Everything a run needs to know, as the page sends it; missing fields take the seed's defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunSettings {
    pub strategy: Strategy,
    #[serde(flatten)]
    pub config: TrainConfig,
    /// Share of each class held out for validation when the images are not already split.
    pub val_fraction: f64,
    /// Seeds the split, the shuffling and the augmentation.
    pub seed: u64,
    /// Epochs the model already went through in an interrupted run that this one resumes (from
    /// the model saved after them): its epochs are numbered on from there, up to `epochs`.
    pub resume_after: usize,
}

impl Default for RunSettings {
    fn default() -> Self {
        Self {
            strategy: Strategy::HeadOnly,
            config: TrainConfig::default(),
            val_fraction: 0.2,
            seed: 0,
            resume_after: 0,
        }
    }
}
