//! A copy of a run's model on another worker, computing a share of each of the run's batches
//! (data-parallel training, [`crate::train::TrainingRun::share_batches`]): made from the run's
//! model as it starts and the run's settings, it takes the same steps as the run's engine, so the
//! two keep the same weights.

use std::rc::Rc;

use burn::tensor::{Device, Tensor, TensorData};

use crate::backend::{backend_error, read_back};
use crate::error::{Error, Result};
use crate::train::{BackboneInput, BackboneTraining, BatchShares, RunSettings, ShareJob, add_up_logits, add_up_predictions};
use crate::weights;

/// A helper's copy of a run: its learner, on the run's model and settings.
pub struct Replica {
    learner: BackboneTraining,
    classes: usize,
    device: Device,
}

impl Replica {
    /// From `model`, the run's model exported as the run starts ([`super::Engine::export`] in
    /// F32), and the run's `settings`.
    pub fn new(model: &[u8], settings: &RunSettings, device: &Device) -> Result<Self> {
        if settings.strategy.uses_cached_features() {
            return Err(Error::InvalidInput("a head on cached features trains on one engine".into()));
        }
        let pretrained = weights::load_pretrained(model, device)?;
        let head = pretrained
            .head
            .ok_or_else(|| Error::InvalidInput("a share of a run needs the run's model with its head".into()))?;
        let classes = head.weight.dims()[1];
        let first_epoch = settings.resume_after + 1;
        let learner =
            BackboneTraining::new(pretrained.backbone, head, settings.strategy, &settings.config, device, first_epoch);
        Ok(Self { learner, classes, device: device.clone() })
    }

    /// Computes `job`, this copy's share of a step, at the same time as the run's engine and the
    /// other copies compute theirs, adding up through `shares`: trains on it, or evaluates it for
    /// a validation batch.
    pub async fn compute_share(&mut self, job: ShareJob, shares: Rc<dyn BatchShares>) -> Result<()> {
        let ShareJob { epoch, evaluate, batch, start, labels, pixels, shape } = job;
        if pixels.len() != shape.iter().product::<usize>() || labels.len() != shape[0] {
            return Err(Error::InvalidInput(format!(
                "a share of {} labels and {} pixel values does not fill {shape:?}",
                labels.len(),
                pixels.len()
            )));
        }
        self.learner.start_epoch(epoch);
        let input = Tensor::from_data(TensorData::new(pixels, shape), &self.device);
        if evaluate {
            let logits = read_back(self.learner.evaluate(BackboneInput::Pixels(input))?).await?;
            add_up_logits(&*shares, batch, start, &logits, self.classes);
            return Ok(());
        }
        let (loss, logits) =
            self.learner.train_share(BackboneInput::Pixels(input), &labels, batch, epoch, shares.clone())?;
        let loss = loss.into_scalar_async::<f32>().await.map_err(backend_error)?;
        let logits = read_back(logits).await?;
        add_up_predictions(&*shares, batch, start, &logits, self.classes, loss);
        Ok(())
    }
}
