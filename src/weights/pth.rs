//! PyTorch `.pth` / `.pt` files as `torch.save` writes them.
//!
//! - The zip format (PyTorch ≥ 1.6, torchvision's published `resnet18-f37072fd.pth`): the archive
//!   holds `<name>/data.pkl` (the pickled state_dict, whose tensors point at storages) and
//!   `<name>/data/<key>` (each storage's raw little-endian bytes).
//! - The legacy format (older files, such as EfficientNet-Lite0's on PyPI): five pickles in a row
//!   (magic number, protocol version, system info, the state_dict, the storage keys), then each
//!   storage as its element count (int64) followed by its bytes.

use std::collections::HashMap;
use std::io::{Cursor, Read};

use zip::ZipArchive;

use super::pickle::{self, TensorRef, Value};
use super::{Dtype, HostTensor, TensorMap};
use crate::error::{Error, Result};

fn corrupt(detail: impl Into<String>) -> Error {
    Error::CorruptWeights { format: "PyTorch .pth", detail: detail.into() }
}

/// The legacy format's first pickle: torch's magic number 0x1950a86a20f9469cfc6c.
pub(super) const LEGACY_MAGIC: [u8; 12] = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8];

pub(super) fn read_zip(bytes: &[u8]) -> Result<TensorMap> {
    let mut archive =
        ZipArchive::new(Cursor::new(bytes)).map_err(|err| corrupt(format!("not a readable zip: {err}")))?;
    let pickle_name = archive
        .file_names()
        .find(|name| *name == "data.pkl" || name.ends_with("/data.pkl"))
        .map(str::to_string)
        .ok_or_else(|| corrupt("the zip has no data.pkl, so it was not written by torch.save"))?;
    let prefix = pickle_name.trim_end_matches("data.pkl").to_string();

    // Files from before PyTorch 1.10 have no byteorder entry: they are little-endian.
    if let Ok(order) = read_entry(&mut archive, &format!("{prefix}byteorder"), bytes.len())
        && order.trim_ascii() != b"little"
    {
        return Err(corrupt("the file stores big-endian tensors; save it again on a little-endian machine"));
    }

    let root = pickle::read(&read_entry(&mut archive, &pickle_name, bytes.len())?)
        .map_err(|err| corrupt(format!("data.pkl: {err}")))?;
    let entries = state_dict_entries(root)?;

    let mut tensors = TensorMap::new();
    for (key, tensor) in entries {
        let storage = read_entry(&mut archive, &format!("{prefix}data/{}", tensor.storage.key), bytes.len())?;
        let host = materialise(&key, &tensor, &storage)?;
        tensors.insert(key, host);
    }
    Ok(tensors)
}

pub(super) fn read_legacy(bytes: &[u8]) -> Result<TensorMap> {
    let mut at = 0;
    let mut next_pickle = |what: &str| -> Result<Value> {
        let (value, used) = pickle::read_prefix(&bytes[at..]).map_err(|err| corrupt(format!("{what}: {err}")))?;
        at += used;
        Ok(value)
    };
    next_pickle("magic number")?;
    next_pickle("protocol version")?;
    if let Value::Dict(info) = next_pickle("system info")?
        && info.iter().any(|(k, v)| *k == Value::Str("little_endian".into()) && *v == Value::Bool(false))
    {
        return Err(corrupt("the file stores big-endian tensors; save it again on a little-endian machine"));
    }
    let root = next_pickle("state_dict")?;
    let Value::List(keys) = next_pickle("storage keys")? else {
        return Err(corrupt("the storage key list is missing"));
    };
    let entries = state_dict_entries(root)?;
    let element_sizes: HashMap<&str, usize> =
        entries.iter().map(|(_, t)| (t.storage.key.as_str(), storage_dtype(&t.storage.type_name).size())).collect();

    // The storages follow in the order of `keys`: each an int64 element count, then the elements.
    let mut storages: HashMap<String, &[u8]> = HashMap::new();
    for key in keys {
        let Value::Str(key) = key else { return Err(corrupt("a storage key is not a string")) };
        let cut_off = || corrupt(format!("storage {key} is cut off"));
        let count: [u8; 8] = bytes.get(at..at + 8).and_then(|b| b.try_into().ok()).ok_or_else(cut_off)?;
        let size = element_sizes.get(key.as_str()).copied().unwrap_or(1);
        let end = (u64::from_le_bytes(count) as usize)
            .checked_mul(size)
            .and_then(|n| n.checked_add(at + 8))
            .filter(|&end| end <= bytes.len())
            .ok_or_else(cut_off)?;
        storages.insert(key, &bytes[at + 8..end]);
        at = end;
    }
    let mut tensors = TensorMap::new();
    for (key, tensor) in entries {
        let storage = storages.get(&tensor.storage.key).ok_or_else(|| corrupt(format!("no storage for {key}")))?;
        let host = materialise(&key, &tensor, storage)?;
        tensors.insert(key, host);
    }
    Ok(tensors)
}

/// The bytes of entry `name`; the size its header claims is trusted only as far as the
/// archive's own length, `archive_len`.
fn read_entry(archive: &mut ZipArchive<Cursor<&[u8]>>, name: &str, archive_len: usize) -> Result<Vec<u8>> {
    let mut file = archive.by_name(name).map_err(|err| corrupt(format!("entry {name}: {err}")))?;
    let mut data = Vec::with_capacity((file.size() as usize).min(archive_len));
    file.read_to_end(&mut data).map_err(|err| corrupt(format!("entry {name}: {err}")))?;
    Ok(data)
}

/// The `(key, tensor)` pairs of the state_dict: the pickled dict itself, or the dict under
/// `state_dict` / `model` / `model_state_dict` in a training checkpoint.
fn state_dict_entries(root: Value) -> Result<Vec<(String, TensorRef)>> {
    let Value::Dict(items) = root else {
        return Err(corrupt("the pickle is not a state_dict (a dict of tensors); save model.state_dict()"));
    };
    let has_tensors = items.iter().any(|(_, v)| matches!(v, Value::Tensor(_)));
    let items = if has_tensors {
        items
    } else {
        let nested = items.into_iter().find_map(|(k, v)| match (k, v) {
            (Value::Str(k), Value::Dict(inner))
                if matches!(k.as_str(), "state_dict" | "model" | "model_state_dict") =>
            {
                Some(inner)
            }
            _ => None,
        });
        nested.ok_or_else(|| corrupt("the pickle holds no tensors; save model.state_dict()"))?
    };
    items
        .into_iter()
        .filter_map(|(key, value)| match (key, value) {
            (Value::Str(key), Value::Tensor(tensor)) => Some(Ok((key, tensor))),
            // Non-tensor entries (such as `_metadata`) carry nothing we load.
            (Value::Str(_), _) => None,
            (key, _) => Some(Err(corrupt(format!("state_dict key {key:?} is not a string")))),
        })
        .collect()
}

/// torch's storage type names → element types.
fn storage_dtype(type_name: &str) -> Dtype {
    match type_name {
        "FloatStorage" => Dtype::F32,
        "HalfStorage" => Dtype::F16,
        "BFloat16Storage" => Dtype::BF16,
        "DoubleStorage" => Dtype::F64,
        "LongStorage" => Dtype::Other("int64".into(), 8),
        "IntStorage" => Dtype::Other("int32".into(), 4),
        "ShortStorage" => Dtype::Other("int16".into(), 2),
        "CharStorage" => Dtype::Other("int8".into(), 1),
        "ByteStorage" | "BoolStorage" => Dtype::Other(type_name.trim_end_matches("Storage").to_lowercase(), 1),
        other => Dtype::Other(other.to_string(), 1),
    }
}

/// Copies a (possibly strided) view out of its storage into contiguous bytes.
fn materialise(key: &str, tensor: &TensorRef, storage: &[u8]) -> Result<HostTensor> {
    let dtype = storage_dtype(&tensor.storage.type_name);
    let size = dtype.size();
    if tensor.shape.len() != tensor.stride.len() {
        return Err(corrupt(format!(
            "tensor {key} has {} dims but {} strides",
            tensor.shape.len(),
            tensor.stride.len()
        )));
    }
    let expected = tensor.storage.numel.saturating_mul(size);
    if storage.len() < expected {
        return Err(corrupt(format!("storage of {key} is {} bytes, expected {expected}", storage.len())));
    }
    let numel = tensor.shape.iter().try_fold(1usize, |n, &dim| n.checked_mul(dim));
    // More elements than the storage holds means a view that repeats values (an expanded
    // tensor): materialising it could take far more memory than the file.
    let Some(numel) = numel.filter(|&numel| numel <= tensor.storage.numel) else {
        return Err(corrupt(format!(
            "tensor {key} is a view with more elements than its storage; save tensors with .contiguous()"
        )));
    };
    // Highest element index the view touches; it must lie inside the storage.
    let last = tensor.shape.iter().zip(&tensor.stride).try_fold(tensor.offset, |last, (&n, &s)| {
        n.saturating_sub(1).checked_mul(s).and_then(|reach| last.checked_add(reach))
    });
    if numel > 0 && last.is_none_or(|last| last >= tensor.storage.numel) {
        return Err(corrupt(format!("tensor {key} reaches beyond its storage")));
    }

    let mut bytes = Vec::with_capacity(numel * size);
    if is_contiguous(&tensor.shape, &tensor.stride) {
        bytes.extend_from_slice(&storage[tensor.offset * size..(tensor.offset + numel) * size]);
    } else {
        let mut index = vec![0usize; tensor.shape.len()];
        for _ in 0..numel {
            let at = tensor.offset + index.iter().zip(&tensor.stride).map(|(i, s)| i * s).sum::<usize>();
            bytes.extend_from_slice(&storage[at * size..(at + 1) * size]);
            for dim in (0..index.len()).rev() {
                index[dim] += 1;
                if index[dim] < tensor.shape[dim] {
                    break;
                }
                index[dim] = 0;
            }
        }
    }
    Ok(HostTensor { shape: tensor.shape.clone(), dtype, bytes })
}

fn is_contiguous(shape: &[usize], stride: &[usize]) -> bool {
    let mut expected = 1;
    for (&n, &s) in shape.iter().zip(stride).rev() {
        if n != 1 && s != expected {
            return false;
        }
        expected *= n;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weights::pickle::StorageRef;

    fn view(shape: &[usize], stride: &[usize], offset: usize) -> TensorRef {
        TensorRef {
            storage: StorageRef { type_name: "FloatStorage".into(), key: "0".into(), numel: 6 },
            offset,
            shape: shape.to_vec(),
            stride: stride.to_vec(),
        }
    }

    fn floats(t: &HostTensor) -> Vec<f32> {
        t.to_f32("t").unwrap()
    }

    #[test]
    fn strided_and_expanded_views_are_gathered() {
        let storage: Vec<u8> = (0..6).flat_map(|v| (v as f32).to_le_bytes()).collect();
        // a transposed 2×3 view
        assert_eq!(
            floats(&materialise("t", &view(&[3, 2], &[1, 3], 0), &storage).unwrap()),
            vec![0., 3., 1., 4., 2., 5.]
        );
        // an expanded (stride 0) view with an offset
        assert_eq!(floats(&materialise("t", &view(&[2, 2], &[0, 1], 4), &storage).unwrap()), vec![4., 5., 4., 5.]);
    }

    #[test]
    fn views_beyond_the_storage_are_refused() {
        let storage = vec![0u8; 24];
        let err = materialise("layer1.0.conv1.weight", &view(&[2, 3], &[3, 1], 1), &storage).unwrap_err();
        assert!(err.to_string().contains("layer1.0.conv1.weight"), "{err}");
        // Expanded past its storage's size (a billion copies of one value), or with a stride
        // whose reach overflows: refused before anything is allocated.
        for (shape, stride) in [(&[1 << 30][..], &[0][..]), (&[2, 2][..], &[usize::MAX, 1][..])] {
            let err = materialise("fc.weight", &view(shape, stride, 0), &storage).unwrap_err();
            assert!(err.to_string().contains("fc.weight"), "{err}");
        }
    }
}
