//! The one place where weight names of other layouts become the torchvision names the model is
//! built with.

use super::TensorMap;

/// Renames the original PyTorch MobileNetV2's keys (tonylins/pytorch-mobilenet-v2, the layout of
/// the MobileNetV2 weights installable offline) to torchvision's; other files pass unchanged.
///
/// That implementation numbers each block's layers flat, ReLU6 included (`conv.0` 1×1 conv,
/// `conv.1` BN, `conv.3` depthwise conv, `conv.4` BN, `conv.6` 1×1 conv, `conv.7` BN), where
/// torchvision nests conv+BN+ReLU6 triples (`conv.0.0`, `conv.0.1`, `conv.1.0`, `conv.1.1`,
/// `conv.2`, `conv.3`). The first block has no expansion: `conv.0`/`conv.1` depthwise,
/// `conv.3`/`conv.4` projection become `conv.0.0`/`conv.0.1`, `conv.1`/`conv.2`.
pub fn to_torchvision_names(tensors: TensorMap) -> TensorMap {
    if !tensors.contains_key("features.1.conv.0.weight") {
        return tensors;
    }
    let expanded = |block: &str| tensors.contains_key(&format!("features.{block}.conv.6.weight"));
    let renamed: Vec<(String, String)> = tensors
        .keys()
        .filter_map(|key| {
            let rest = key.strip_prefix("features.")?;
            let (block, rest) = rest.split_once(".conv.")?;
            let (layer, param) = rest.split_once('.')?;
            let torchvision_layer = match (expanded(block), layer) {
                (_, "0") => "0.0",
                (_, "1") => "0.1",
                (true, "3") => "1.0",
                (true, "4") => "1.1",
                (true, "6") => "2",
                (true, "7") => "3",
                (false, "3") => "1",
                (false, "4") => "2",
                _ => return None,
            };
            Some((key.clone(), format!("features.{block}.conv.{torchvision_layer}.{param}")))
        })
        .collect();
    let mut tensors = tensors;
    for (from, to) in renamed {
        if let Some(tensor) = tensors.remove(&from) {
            tensors.insert(to, tensor);
        }
    }
    tensors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weights::{Dtype, HostTensor};

    fn map(keys: &[&str]) -> TensorMap {
        let tensor = || HostTensor { dtype: Dtype::F32, shape: vec![1], bytes: vec![0; 4] };
        keys.iter().map(|key| (key.to_string(), tensor())).collect()
    }

    #[test]
    fn original_mobilenet_v2_names_become_torchvision_names() {
        let original = map(&[
            "features.0.0.weight",
            "features.1.conv.0.weight",
            "features.1.conv.1.running_var",
            "features.1.conv.3.weight",
            "features.1.conv.4.bias",
            "features.2.conv.0.weight",
            "features.2.conv.3.weight",
            "features.2.conv.4.weight",
            "features.2.conv.6.weight",
            "features.2.conv.7.num_batches_tracked",
            "features.18.1.weight",
        ]);
        let keys: Vec<String> = to_torchvision_names(original).into_keys().collect();
        let expected = [
            "features.0.0.weight",
            "features.1.conv.0.0.weight",
            "features.1.conv.0.1.running_var",
            "features.1.conv.1.weight",
            "features.1.conv.2.bias",
            "features.18.1.weight",
            "features.2.conv.0.0.weight",
            "features.2.conv.1.0.weight",
            "features.2.conv.1.1.weight",
            "features.2.conv.2.weight",
            "features.2.conv.3.num_batches_tracked",
        ];
        assert_eq!(keys, expected);
    }

    #[test]
    fn torchvision_and_other_files_pass_unchanged() {
        for keys in [&["features.1.conv.0.0.weight", "features.1.conv.1.weight"][..], &["conv1.weight", "fc.bias"]] {
            let names: Vec<String> = to_torchvision_names(map(keys)).into_keys().collect();
            assert_eq!(names, keys);
        }
    }
}
