//! Model out, bytes back: the whole model (backbone with its fine-tuned layers and BatchNorm
//! running statistics, and the head) as a `.safetensors` state_dict under the names its weights
//! came in, with its [`ModelCard`] in `__metadata__`. PyTorch loads it with
//! `load_state_dict(strict=True)`; [`super::load_pretrained`] reads it back.
//!
//! Parameters are read back asynchronously, one tensor at a time, because a synchronous read (as
//! `into_record` does) traps on the browser's WebGPU.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;
use half::f16;
use safetensors::tensor::{Dtype, TensorView};

use super::card::ModelCard;
use super::keys::state_dict_key;
use crate::backend::read_back;
use crate::error::{Error, Result};
use crate::model::ImageClassifier;

/// Element type of the exported tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    F32,
    /// Half the size; every value rounded to the nearest float16.
    F16,
}

/// A parameter of the model found by [`ParamCollector`]: its path and its values, flattened.
struct FoundParam {
    path: Vec<String>,
    shape: Vec<usize>,
    values: Tensor<1>,
}

/// Walks a module and keeps every float tensor (parameters and running statistics) with its path
/// of field names; enum variants are left out of the path.
#[derive(Default)]
struct ParamCollector {
    path: Vec<String>,
    found: Vec<FoundParam>,
}

impl ModuleVisitor for ParamCollector {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        if !container_type.starts_with("Enum:") {
            self.path.push(name.to_string());
        }
    }

    fn exit_module(&mut self, _name: &str, container_type: &str) {
        if !container_type.starts_with("Enum:") {
            self.path.pop();
        }
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let tensor = param.val();
        let shape = tensor.dims().to_vec();
        let values = tensor.reshape([shape.iter().product::<usize>()]);
        self.found.push(FoundParam { path: self.path.clone(), shape, values });
    }
}

/// `model` as the bytes of a `.safetensors` file described by `card`.
pub async fn export_safetensors(model: &ImageClassifier, card: &ModelCard, precision: Precision) -> Result<Vec<u8>> {
    let architecture = model.architecture();
    let mut collector = ParamCollector::default();
    model.visit(&mut collector);
    let mut tensors = Vec::with_capacity(collector.found.len());
    for FoundParam { path, mut shape, values } in collector.found {
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
