//! Data-parallel training: a run that splits each training batch across engines (the page's
//! workers) hands the other engines their shares ([`ShareJob`]) and trains its own; the engines
//! add up BatchNorm's sums, the gradients and the predictions through [`BatchShares`], so that
//! each takes the step one engine would take on the whole batch. Validation batches are split
//! too: each engine evaluates its share with the same weights, and the logits are added up.

use std::rc::Rc;

use super::{Stage, TrainingRun};
use crate::backend::{backend_error, read_back};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::train::learner::{BatchShares, add_up_logits, add_up_predictions, split_batch};

/// Another engine's share of the next step (data-parallel training,
/// [`TrainingRun::share_batches`]): it trains on these images with its copy of the model
/// ([`crate::engine::Replica`]) while this run trains on its own share, or, for a validation
/// batch, computes their logits.
pub struct ShareJob {
    pub epoch: usize,
    /// A validation batch's share: logits, added up ([`add_up_logits`]), and no step.
    pub evaluate: bool,
    /// The whole batch's size, over every engine, and this share's first position in it.
    pub batch: usize,
    pub start: usize,
    pub labels: Vec<usize>,
    /// The share's normalised, augmented pixels `[share, 3, crop, crop]`, as this run would
    /// compute them.
    pub pixels: Vec<f32>,
    pub shape: [usize; 4],
}

/// The engines that split each training batch, this run's first, and how they add up.
pub(super) struct RunSharing {
    engines: usize,
    shares: Rc<dyn BatchShares>,
    /// The step whose other shares were handed out.
    claimed: Option<Claim>,
}

/// A step of the run, by its stage and the position of its batch.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Claim {
    Training(usize),
    Evaluating(usize),
}

impl TrainingRun {
    /// Splits each training batch from now on across `engines` engines, this run's and others'
    /// copies of its model ([`crate::engine::Replica`], made from the run's model as it is now),
    /// which add up through `shares` (data-parallel training, for the strategies that train the
    /// backbone, on the CPU): each step's other shares are handed out by
    /// [`TrainingRun::claim_share_jobs`].
    pub fn share_batches(&mut self, engines: usize, shares: Rc<dyn BatchShares>) -> Result<()> {
        if !self.learner.reads_pixels() {
            return Err(Error::InvalidInput("a head on cached features trains on one engine".into()));
        }
        self.sharing = (engines > 1).then_some(RunSharing { engines, shares, claimed: None });
        Ok(())
    }

    /// The other engines' shares of the next step, when it is a training or validation step that
    /// this run splits ([`TrainingRun::share_batches`]); its images' pixels must have been
    /// supplied. Hand each to its engine before the step: the step waits for them mid-pass.
    pub fn claim_share_jobs(&mut self, dataset: &Dataset) -> Result<Vec<ShareJob>> {
        let Some(engines) = self.sharing.as_ref().map(|sharing| sharing.engines) else { return Ok(Vec::new()) };
        let (claim, epoch, picked) = match &self.stage {
            Stage::Training { epoch, order, next } => {
                (Claim::Training(*next), *epoch, self.training_batch(dataset, order, *next))
            }
            Stage::Evaluating { epoch, next } => {
                (Claim::Evaluating(*next), *epoch, self.evaluation_batch(dataset, *next).0)
            }
            _ => return Ok(Vec::new()),
        };
        let evaluate = matches!(claim, Claim::Evaluating(_));
        let shares = split_batch(picked.len(), engines);
        if shares.len() < 2 {
            return Ok(Vec::new());
        }
        let side = self.inputs.preprocess.crop as usize;
        let mut jobs = Vec::with_capacity(shares.len() - 1);
        for share in &shares[1..] {
            let (indices, labels): (Vec<usize>, Vec<usize>) = picked[share.clone()].iter().copied().unzip();
            let pixels = self.inputs.pixel_values(dataset, &indices, (!evaluate).then_some(epoch))?;
            let shape = [indices.len(), 3, side, side];
            jobs.push(ShareJob { epoch, evaluate, batch: picked.len(), start: share.start, labels, pixels, shape });
        }
        if let Some(sharing) = self.sharing.as_mut() {
            sharing.claimed = Some(claim);
        }
        Ok(jobs)
    }

    /// Whether the other shares of `step` were handed out (and so that step must be taken
    /// together with their engines); forgets the claim.
    pub(super) fn claimed_shares_of(&mut self, step: Claim) -> bool {
        self.sharing.as_mut().and_then(|sharing| sharing.claimed.take()) == Some(step)
    }

    /// The logits `[indices, classes]` (flattened) of a validation batch whose other shares the
    /// other engines evaluate at the same time: this engine evaluates its own and they are added
    /// up. When an engine did not come, the whole batch is evaluated here and the run goes on alone.
    pub(super) async fn evaluate_shared(&mut self, dataset: &Dataset, indices: &[usize]) -> Result<Vec<f32>> {
        let sharing =
            self.sharing.as_ref().ok_or_else(|| Error::InvalidInput("this run does not share its batches".into()))?;
        let shares = sharing.shares.clone();
        let own = split_batch(indices.len(), sharing.engines)[0].clone();
        let logits = read_back(self.learner.evaluate(dataset, &self.inputs, &indices[own.clone()], None)?).await?;
        let classes = self.split.classes.len();
        let whole = add_up_logits(&*shares, indices.len(), own.start, &logits, classes);
        if shares.failed() {
            self.sharing = None;
            return read_back(self.learner.evaluate(dataset, &self.inputs, indices, None)?).await;
        }
        Ok(whole)
    }

    /// This engine's share of the optimiser step on `picked`, the other shares trained at the same
    /// time by the engines the jobs went to: the batch's loss, with every share's predictions
    /// tallied. [`Error::SharingLost`] when an engine did not come before the step was taken.
    pub(super) async fn train_shared(
        &mut self,
        dataset: &Dataset,
        picked: &[(usize, usize)],
        epoch: usize,
    ) -> Result<f32> {
        let sharing =
            self.sharing.as_ref().ok_or_else(|| Error::InvalidInput("this run does not share its batches".into()))?;
        let shares = sharing.shares.clone();
        let own = split_batch(picked.len(), sharing.engines)[0].clone();
        let (indices, labels): (Vec<usize>, Vec<usize>) = picked[own.clone()].iter().copied().unzip();
        let (loss, logits) =
            self.learner.train_share(dataset, &self.inputs, &indices, &labels, picked.len(), epoch, shares.clone())?;
        let loss = loss.into_scalar_async::<f32>().await.map_err(backend_error)?;
        let logits = read_back(logits).await?;
        let whole = add_up_predictions(&*shares, picked.len(), own.start, &logits, self.split.classes.len(), loss);
        let (tallied, loss) = if shares.failed() {
            // The step was taken; the other shares' predictions are lost with their engine, and
            // the batch's loss is this share's mean.
            self.sharing = None;
            (own, loss * picked.len() as f32 / labels.len() as f32)
        } else {
            (0..picked.len(), whole[picked.len()] as f32)
        };
        for position in tallied {
            self.tally.train.add(picked[position].1, whole[position] as usize);
        }
        self.tally.loss_sum += f64::from(loss);
        self.tally.batches += 1;
        Ok(loss)
    }
}
