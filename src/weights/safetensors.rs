//! `.safetensors` files, as `safetensors.torch.save_file(model.state_dict())` writes them.

use std::collections::HashMap;

use safetensors::{Dtype as StDtype, SafeTensors};

use super::{Dtype, HostTensor, TensorMap};
use crate::error::{Error, Result};

pub(super) fn read(bytes: &[u8]) -> Result<TensorMap> {
    let file = SafeTensors::deserialize(bytes)
        .map_err(|err| Error::CorruptWeights { format: "safetensors", detail: err.to_string() })?;
    Ok(file
        .tensors()
        .into_iter()
        .map(|(key, view)| {
            let dtype = match view.dtype() {
                StDtype::F32 => Dtype::F32,
                StDtype::F16 => Dtype::F16,
                StDtype::BF16 => Dtype::BF16,
                StDtype::F64 => Dtype::F64,
                other => Dtype::Other(format!("{other:?}"), other.bitsize().div_ceil(8)),
            };
            let tensor = HostTensor { shape: view.shape().to_vec(), dtype, bytes: view.data().to_vec() };
            (key, tensor)
        })
        .collect())
}

/// The file's `__metadata__`, without reading its tensors.
pub(super) fn metadata(bytes: &[u8]) -> Result<HashMap<String, String>> {
    let (_, metadata) = SafeTensors::read_metadata(bytes)
        .map_err(|err| Error::CorruptWeights { format: "safetensors", detail: err.to_string() })?;
    Ok(metadata.metadata().clone().unwrap_or_default())
}
