//! The data check on the engine's images (see [`crate::doctor`]): started once a run has cached
//! every image's features, advanced a step at a time like the run, and the images it flags
//! removed from later runs at the user's word (their files are never touched).

use super::{Engine, no_run};
use crate::doctor::{CheckProgress, DataCheck, FeatureTable, LeakEffect, leak_effect};
use crate::error::{Error, Result};

impl Engine {
    /// Plans a check of the images of the run in progress, on the backbone features it cached;
    /// returns its steps. The run must train on cached features and be past their extraction.
    pub fn start_check(&mut self) -> Result<usize> {
        let active = self.run.as_ref().ok_or_else(no_run)?;
        if !active.run.features_ready() {
            return Err(Error::InvalidInput(
                "the data check reads the features a run extracts from the frozen backbone: train the head only, or \
                 fit logistic regression or a linear SVM, and check once the features are extracted"
                    .into(),
            ));
        }
        let width = self.pretrained()?.architecture().features();
        let run = &active.run;
        let table = FeatureTable::new(run.split(), width, |index| run.cached_features(index));
        let check = DataCheck::new(table, &self.device)?;
        let steps = check.steps_total();
        self.check = Some(check);
        Ok(steps)
    }

    /// The check's next step; the last one returns its diagnosis, which the engine keeps for
    /// [`Engine::leak_effect`].
    pub async fn check_step(&mut self) -> Result<CheckProgress> {
        let check = self
            .check
            .as_mut()
            .ok_or_else(|| Error::InvalidInput("no data check is in progress: start one first".into()))?;
        let progress = check.step().await?;
        if let Some(diagnosis) = &progress.diagnosis {
            self.diagnosis = Some(diagnosis.clone());
            self.check = None;
        }
        Ok(progress)
    }

    /// What the validation images with a near-duplicate in training added to the last
    /// evaluation's accuracy; `None` before a check or an evaluation.
    pub fn leak_effect(&self) -> Option<LeakEffect> {
        leak_effect(&self.diagnosis.as_ref()?.leaked, &self.val_outcomes)
    }

    /// Removes images from the runs started from now on (`excluded`), or brings them back.
    pub fn set_excluded(&mut self, indices: &[usize], excluded: bool) -> Result<()> {
        if self.run.is_some() {
            return Err(Error::InvalidInput(
                "a run is training on these images: cancel it or let it finish before removing or bringing back images"
                    .into(),
            ));
        }
        indices.iter().try_for_each(|&index| self.dataset.set_excluded(index, excluded))
    }

    /// The images or the backbone changed: the check no longer describes them.
    pub(super) fn forget_check(&mut self) {
        self.check = None;
        self.diagnosis = None;
        self.val_outcomes.clear();
    }
}
