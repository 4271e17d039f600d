//! Data-parallel training: engines that split one batch, each computing the forward and backward
//! passes of its share, and adding up what the whole batch needs where it needs it — BatchNorm's
//! per-channel sums both ways (`kernels::sharing`), then the parameters' gradients — so that every
//! engine takes the step one engine would take on the whole batch, within float rounding, and all
//! of them keep the same weights.

use std::collections::HashMap;
use std::sync::{Arc, Barrier, Mutex};

use burn::module::ParamId;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Gradients, Tensor, TensorData};

use crate::error::{Error, Result};
use crate::metrics::argmax;
use crate::model::{ImageClassifier, find_params};

/// How the engines sharing a batch add up their values: each engine passes its own, and gets back
/// the element-wise sum over all engines, added in the engines' order so that every engine gets
/// the same bits. Every engine calls it at the same points of a step, with the same lengths.
pub trait BatchShares {
    /// Per-channel statistics and gradient sums.
    fn add_up(&self, values: &mut [f64]);
    /// The parameters' gradients.
    fn add_up_gradients(&self, values: &mut [f32]);
    /// Whether an engine failed to come (a worker lost): the sums since are this engine's own,
    /// and the step must not be taken.
    fn failed(&self) -> bool;
}

/// The positions of each engine's share of a batch of `batch` images split across `engines`:
/// consecutive runs, the first engine's first, sizes differing by at most one.
pub fn split_batch(batch: usize, engines: usize) -> Vec<std::ops::Range<usize>> {
    let engines = engines.clamp(1, batch.max(1));
    let (size, larger) = (batch / engines, batch % engines);
    let mut start = 0;
    (0..engines)
        .map(|engine| {
            let end = start + size + usize::from(engine < larger);
            let share = start..end;
            start = end;
            share
        })
        .collect()
}

/// Every share's predicted classes and loss part after a step, for the tally the run keeps: each
/// engine fills the positions of its share (from `start` in a batch of `batch`) with the argmax of
/// its `logits` (`[share, classes]`, flattened), and the last value with its part of the loss; the
/// sums are the whole batch's predictions and loss.
pub fn add_up_predictions(
    shares: &dyn BatchShares,
    batch: usize,
    start: usize,
    logits: &[f32],
    classes: usize,
    loss: f32,
) -> Vec<f64> {
    let mut whole = vec![0.0; batch + 1];
    for (row, logits) in logits.chunks(classes.max(1)).enumerate() {
        whole[start + row] = argmax(logits) as f64;
    }
    whole[batch] = f64::from(loss);
    shares.add_up(&mut whole);
    whole
}

/// A validation batch's logits `[batch, classes]` (flattened), each engine evaluating its share:
/// it fills the rows of its share (from `start`) with its `logits` and the others with zeros, so
/// the sums are every engine's rows, exactly.
pub fn add_up_logits(shares: &dyn BatchShares, batch: usize, start: usize, logits: &[f32], classes: usize) -> Vec<f32> {
    let mut whole = vec![0.0; batch * classes];
    for (sum, &logit) in whole[start * classes..].iter_mut().zip(logits) {
        *sum = f64::from(logit);
    }
    shares.add_up(&mut whole);
    whole.into_iter().map(|sum| sum as f32).collect()
}

/// The trained parameters' gradients added up over the engines, in the model's parameter order.
pub(super) struct SummedGradients {
    /// Each parameter that has a gradient: its shape and where its values start.
    params: HashMap<ParamId, (Vec<usize>, usize)>,
    values: Vec<f32>,
    device: Device,
}

impl SummedGradients {
    /// Adds this engine's gradients `grads` of `model`'s parameters up with the other engines'.
    pub fn new(grads: Gradients, model: &ImageClassifier, shares: &dyn BatchShares) -> Result<Self> {
        let mut grads = GradientsParams::from_grads(grads, model);
        let (mut params, mut values) = (HashMap::new(), Vec::new());
        for param in find_params(model, false) {
            let Some(shape) = param.shape else { continue };
            let Some(flat) = take_flat(&mut grads, param.id, shape.len()) else { continue };
            params.insert(param.id, (shape, values.len()));
            let read = flat.try_into_vec_as::<f32>().map_err(|err| Error::Backend(format!("{err:?}")))?;
            values.extend(read);
        }
        shares.add_up_gradients(&mut values);
        if shares.failed() {
            return Err(Error::SharingLost("while adding up the gradients".into()));
        }
        Ok(Self { params, values, device: model.fc.weight.device().inner() })
    }

    /// The summed gradients of the parameters `ids` (those without one left out), for the
    /// optimiser.
    pub fn of(&self, ids: &[ParamId]) -> GradientsParams {
        let mut grads = GradientsParams::new();
        for id in ids {
            let Some((shape, start)) = self.params.get(id) else { continue };
            let count = shape.iter().product::<usize>();
            let data = TensorData::new(self.values[*start..][..count].to_vec(), shape.clone());
            match shape.len() {
                1 => grads.register::<1>(*id, Tensor::from_data(data, &self.device)),
                2 => grads.register::<2>(*id, Tensor::from_data(data, &self.device)),
                3 => grads.register::<3>(*id, Tensor::from_data(data, &self.device)),
                _ => grads.register::<4>(*id, Tensor::from_data(data, &self.device)),
            }
        }
        grads
    }
}

/// The gradient of parameter `id` (of `rank` dimensions), flattened, removed from `grads`.
fn take_flat(grads: &mut GradientsParams, id: ParamId, rank: usize) -> Option<Tensor<1>> {
    match rank {
        1 => grads.remove::<1>(id),
        2 => grads.remove::<2>(id).map(|grad| grad.flatten(0, 1)),
        3 => grads.remove::<3>(id).map(|grad| grad.flatten(0, 2)),
        4 => grads.remove::<4>(id).map(|grad| grad.flatten(0, 3)),
        _ => None,
    }
}

/// Engines on threads of one process, adding up through shared slots: how the native build tests
/// data-parallel training and measures it (the browser's engines are workers, their add-up
/// shared memory between them).
pub struct ThreadShares {
    engine: usize,
    slots: Arc<(Mutex<Vec<Vec<f64>>>, Barrier)>,
}

impl ThreadShares {
    /// One handle per engine for `engines` engines, to be moved to their threads.
    pub fn group(engines: usize) -> Vec<ThreadShares> {
        let slots = Arc::new((Mutex::new(vec![Vec::new(); engines]), Barrier::new(engines)));
        (0..engines).map(|engine| ThreadShares { engine, slots: slots.clone() }).collect()
    }

    /// Every engine's `values` summed in engine order, once all have arrived.
    fn exchange(&self, values: Vec<f64>) -> Vec<f64> {
        let (slots, barrier) = &*self.slots;
        let lock = || slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        lock()[self.engine] = values;
        barrier.wait();
        let total = {
            let slots = lock();
            let mut total = vec![0.0; slots[0].len()];
            for slot in slots.iter() {
                for (sum, value) in total.iter_mut().zip(slot) {
                    *sum += value;
                }
            }
            total
        };
        // Nobody writes the next exchange's values before everyone has read this one's.
        barrier.wait();
        total
    }
}

impl BatchShares for ThreadShares {
    fn add_up(&self, values: &mut [f64]) {
        values.copy_from_slice(&self.exchange(values.to_vec()));
    }

    fn add_up_gradients(&self, values: &mut [f32]) {
        // Added in f64 and rounded once: for two engines exactly the f32 sum.
        let total = self.exchange(values.iter().map(|&v| v as f64).collect());
        for (value, total) in values.iter_mut().zip(total) {
            *value = total as f32;
        }
    }

    /// Threads do not get lost: a panic on one fails the test that runs them.
    fn failed(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_splits_into_consecutive_shares_differing_by_at_most_one() {
        assert_eq!(split_batch(32, 2), vec![0..16, 16..32]);
        assert_eq!(split_batch(7, 3), vec![0..3, 3..5, 5..7]);
        // Never an empty share: fewer images than engines means fewer engines.
        assert_eq!(split_batch(2, 4), vec![0..1, 1..2]);
        assert_eq!(split_batch(5, 1), vec![0..5]);
    }
}
