//! Tensors as read from a weights file, before they become model parameters.

use std::collections::BTreeMap;

use half::{bf16, f16};

use crate::error::{Error, Result};

/// Element types a weights file may hold. Only the floating ones become parameters; integer
/// tensors (such as `num_batches_tracked`) are read so that their keys can be accounted for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dtype {
    F32,
    F16,
    BF16,
    F64,
    /// Any other type, with the name its file gives it, and its size in bytes.
    Other(String, usize),
}

impl Dtype {
    pub fn size(&self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F16 | Dtype::BF16 => 2,
            Dtype::F64 => 8,
            Dtype::Other(_, size) => *size,
        }
    }
}

/// One tensor: its shape, its element type and its elements as contiguous little-endian bytes.
#[derive(Debug, Clone)]
pub struct HostTensor {
    pub shape: Vec<usize>,
    pub dtype: Dtype,
    pub bytes: Vec<u8>,
}

impl HostTensor {
    /// The elements as `f32` (exact for f16 and bf16); `key` names the tensor in the error.
    pub fn to_f32(&self, key: &str) -> Result<Vec<f32>> {
        let bytes = &self.bytes;
        let values = match &self.dtype {
            Dtype::F32 => bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
            Dtype::F16 => bytes.chunks_exact(2).map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            Dtype::BF16 => bytes.chunks_exact(2).map(|b| bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
            Dtype::F64 => bytes
                .chunks_exact(8)
                .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32)
                .collect(),
            Dtype::Other(name, _) => {
                return Err(Error::UnsupportedDtype { key: key.to_string(), dtype: name.clone() });
            }
        };
        Ok(values)
    }
}

/// All tensors of a file by key, sorted.
pub type TensorMap = BTreeMap<String, HostTensor>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_widens_exactly() {
        let half = HostTensor {
            shape: vec![2],
            dtype: Dtype::F16,
            bytes: [f16::from_f32(1.5).to_le_bytes(), f16::from_f32(-0.25).to_le_bytes()].concat(),
        };
        assert_eq!(half.to_f32("k").unwrap(), vec![1.5, -0.25]);
        let brain =
            HostTensor { shape: vec![1], dtype: Dtype::BF16, bytes: bf16::from_f32(3.0).to_le_bytes().to_vec() };
        assert_eq!(brain.to_f32("k").unwrap(), vec![3.0]);
    }

    #[test]
    fn integer_tensors_are_refused_by_name() {
        let ints = HostTensor { shape: vec![1], dtype: Dtype::Other("int64".into(), 8), bytes: vec![0; 8] };
        let err = ints.to_f32("layer1.0.bn1.weight").unwrap_err().to_string();
        assert!(err.contains("layer1.0.bn1.weight") && err.contains("int64"), "{err}");
    }
}
