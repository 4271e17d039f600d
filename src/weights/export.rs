//! Model out, bytes back: the whole model (backbone with its fine-tuned layers and BatchNorm
//! running statistics, and the head) as a `.safetensors` state_dict under the names its weights
//! came in, with its [`ModelCard`] in `__metadata__`. PyTorch loads it with
//! `load_state_dict(strict=True)`; [`super::load_pretrained`] reads it back.
//!
//! Parameters are read back asynchronously, one tensor at a time, because a synchronous read (as
//! `into_record` does) traps on the browser's WebGPU.

use half::f16;
use safetensors::tensor::{Dtype, TensorView};

use super::card::ModelCard;
use super::keys::state_dict_key;
use crate::backend::read_back;
use crate::error::{Error, Result};
use crate::model::{FoundParam, ImageClassifier, find_params};

/// Element type of the exported tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    F32,
    /// Half the size; every value rounded to the nearest float16.
    F16,
}

/// `model` as the bytes of a `.safetensors` file described by `card`.
pub async fn export_safetensors(model: &ImageClassifier, card: &ModelCard, precision: Precision) -> Result<Vec<u8>> {
    let architecture = model.architecture();
    let params = find_params(model, true);
    let mut tensors = Vec::with_capacity(params.len());
    for FoundParam { path, shape, values, .. } in params {
        // Training flags are not tensors.
        let (Some(mut shape), Some(values)) = (shape, values) else { continue };
        let path: Vec<&str> = path.iter().map(String::as_str).collect();
        let target = state_dict_key(architecture, &path)
            .ok_or_else(|| Error::Backend(format!("no state_dict name for the parameter at {}", path.join("."))))?;
        let mut values = read_back(values).await?;
        if target.transposed {
            // Burn's `[in, out]` back to PyTorch's `[out, in]`.
            let [inputs, outputs] = [shape[0], shape[1]];
            values = super::transpose(&values, inputs, outputs);
            shape = vec![outputs, inputs];
        }
        let bytes: Vec<u8> = match precision {
            Precision::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            Precision::F16 => values.iter().flat_map(|&v| f16::from_f32(v).to_le_bytes()).collect(),
        };
        tensors.push((target.key, shape, bytes));
    }
    let dtype = match precision {
        Precision::F32 => Dtype::F32,
        Precision::F16 => Dtype::F16,
    };
    let views = tensors
        .iter()
        .map(|(key, shape, bytes)| {
            let view = TensorView::new(dtype, shape.clone(), bytes)
                .map_err(|err| Error::Backend(format!("tensor {key}: {err}")))?;
            Ok((key.as_str(), view))
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::serialize(views, Some(card.to_metadata()))
        .map_err(|err| Error::Backend(format!("writing the safetensors file: {err}")))
}
