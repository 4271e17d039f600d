//! The one place where weight names change: other layouts' names become the torchvision names the
//! model is built with, and the model's own parameter paths become state_dict keys for export.

use super::TensorMap;
use crate::model::{Architecture, DENSENET121, INCEPTION_STEM, Layer, inception_v3_convs, layer_key, transition_key};

/// Renames other layouts' keys to torchvision's current ones; other files pass unchanged: the
/// original PyTorch MobileNetV2's ([`mobilenet_v2_names`]) and torchvision's own DenseNet files
/// ([`densenet_names`]).
pub fn to_torchvision_names(tensors: TensorMap) -> TensorMap {
    densenet_names(mobilenet_v2_names(tensors))
}

/// Renames `tensors`' keys by `rename`, which returns the new key of those it renames.
fn rename_keys(mut tensors: TensorMap, rename: impl Fn(&str) -> Option<String>) -> TensorMap {
    let renamed: Vec<(String, String)> = tensors.keys().filter_map(|key| Some((key.clone(), rename(key)?))).collect();
    for (from, to) in renamed {
        if let Some(tensor) = tensors.remove(&from) {
            tensors.insert(to, tensor);
        }
    }
    tensors
}

/// torchvision's DenseNet files (`densenet121-a639ec97.pth`) predate its layer names: a dense
/// layer's `norm1`, `conv1`, `norm2`, `conv2` are `norm.1`, `conv.1`, `norm.2`, `conv.2` there
/// (torchvision renames them the same way when it loads them).
fn densenet_names(tensors: TensorMap) -> TensorMap {
    rename_keys(tensors, |key| {
        let (layer, rest) = key.split_once(".denselayer")?;
        let (index, rest) = rest.split_once('.')?;
        let (kind, rest) = rest.split_once('.')?;
        let (number, param) = rest.split_once('.')?;
        let valid = matches!(kind, "norm" | "conv") && matches!(number, "1" | "2");
        valid.then(|| format!("{layer}.denselayer{index}.{kind}{number}.{param}"))
    })
}

/// Renames the original PyTorch MobileNetV2's keys (tonylins/pytorch-mobilenet-v2, the layout of
/// the MobileNetV2 weights installable offline) to torchvision's.
///
/// That implementation numbers each block's layers flat, ReLU6 included (`conv.0` 1×1 conv,
/// `conv.1` BN, `conv.3` depthwise conv, `conv.4` BN, `conv.6` 1×1 conv, `conv.7` BN), where
/// torchvision nests conv+BN+ReLU6 triples (`conv.0.0`, `conv.0.1`, `conv.1.0`, `conv.1.1`,
/// `conv.2`, `conv.3`). The first block has no expansion: `conv.0`/`conv.1` depthwise,
/// `conv.3`/`conv.4` projection become `conv.0.0`/`conv.0.1`, `conv.1`/`conv.2`.
fn mobilenet_v2_names(tensors: TensorMap) -> TensorMap {
    if !tensors.contains_key("features.1.conv.0.weight") {
        return tensors;
    }
    let expanded: std::collections::HashSet<String> = tensors
        .keys()
        .filter_map(|key| Some(key.strip_prefix("features.")?.strip_suffix(".conv.6.weight")?.to_string()))
        .collect();
    rename_keys(tensors, |key| {
        let rest = key.strip_prefix("features.")?;
        let (block, rest) = rest.split_once(".conv.")?;
        let (layer, param) = rest.split_once('.')?;
        let torchvision_layer = match (expanded.contains(block), layer) {
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
        Some(format!("features.{block}.conv.{torchvision_layer}.{param}"))
    })
}

/// Where a parameter of the model goes in a state_dict.
#[derive(Debug, PartialEq)]
pub struct StateDictKey {
    pub key: String,
    /// PyTorch's `Linear` stores `[out, in]`, Burn's `[in, out]`.
    pub transposed: bool,
}

/// The state_dict key of the parameter at `path` in an `ImageClassifier` (Burn's field names,
/// enum variants left out: `["backbone", "layer1", "0", "downsample", "conv", "weight"]`), under
/// the names the architecture's weights come in; `None` for a path that has no key.
pub fn state_dict_key(architecture: Architecture, path: &[&str]) -> Option<StateDictKey> {
    let (&param, module) = path.split_last()?;
    // BatchNorm's affine parameters are Burn's gamma/beta, PyTorch's weight/bias.
    let param = match param {
        "gamma" => "weight",
        "beta" => "bias",
        other => other,
    };
    let prefix = match module {
        ["fc"] => {
            let key = format!("{}.{param}", architecture.head_key());
            return Some(StateDictKey { key, transposed: param == "weight" });
        }
        // DenseNet: Burn's fields carry torchvision's names; its dense layers are one list.
        ["backbone", rest @ ..] if architecture == Architecture::DenseNet121 => match rest {
            ["layers", index, part] => {
                let (block, layer) = DENSENET121.layer_position(index.parse().ok()?)?;
                format!("{}.{part}", layer_key(block, layer))
            }
            ["transitions", block, part] => format!("{}.{part}", transition_key(block.parse().ok()?)),
            [part @ ("conv0" | "norm0" | "norm5")] => format!("features.{part}"),
            _ => return None,
        },
        // Inception v3: the stem's and the blocks' convolutions are lists laid out by its spec; each
        // is torchvision's BasicConv2d, whose `conv` and `bn` Burn's fields name.
        ["backbone", rest @ ..] if architecture == Architecture::InceptionV3 => match rest {
            ["stem", index, part] => format!("{}.{part}", INCEPTION_STEM.get(index.parse::<usize>().ok()?)?.0.name),
            ["convs", index, part] => format!("{}.{part}", inception_v3_convs().get(index.parse::<usize>().ok()?)?.key),
            _ => return None,
        },
        ["backbone", rest @ ..] if architecture.plain_spec().is_some() => {
            let spec = architecture.plain_spec()?;
            match rest {
                // A Linear: PyTorch stores its weight transposed.
                ["hidden", index] => {
                    let key = format!("{}.{param}", spec.hidden_keys().get(index.parse::<usize>().ok()?)?);
                    return Some(StateDictKey { key, transposed: param == "weight" });
                }
                ["convs", index, part] => {
                    let (conv, norm) = spec.conv_keys().into_iter().nth(index.parse().ok()?)?;
                    match *part {
                        "conv" => conv,
                        "norm" => norm,
                        _ => return None,
                    }
                }
                _ => return None,
            }
        }
        ["backbone", rest @ ..] => match architecture.inverted_residual_spec() {
            None => {
                rest.join(".").replace(".downsample.conv", ".downsample.0").replace(".downsample.bn", ".downsample.1")
            }
            Some(spec) => {
                let (layer, part) = match rest {
                    ["stem", part] => (Layer::Stem, part),
                    ["head", part] => (Layer::Head, part),
                    // A Linear: PyTorch stores its weight transposed.
                    ["hidden"] => {
                        let key = format!("{}.{param}", (spec.keys)(Layer::Hidden).0);
                        return Some(StateDictKey { key, transposed: param == "weight" });
                    }
                    ["blocks", block, "squeeze_excite", part] => {
                        (Layer::SqueezeExcite { block: block.parse().ok()? }, part)
                    }
                    ["blocks", block, kind, part] => {
                        let block = block.parse().ok()?;
                        let layer = match *kind {
                            "expand" => Layer::Expand { block },
                            "depthwise" => Layer::Depthwise { block },
                            "project" => Layer::Project { block },
                            _ => return None,
                        };
                        (layer, part)
                    }
                    _ => return None,
                };
                let (conv, norm) = (spec.keys)(layer);
                match *part {
                    "conv" | "fc1" => conv,
                    "bn" | "fc2" => norm,
                    _ => return None,
                }
            }
        },
        _ => return None,
    };
    Some(StateDictKey { key: format!("{prefix}.{param}"), transposed: false })
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
    fn torchvisions_densenet_file_names_become_its_current_names() {
        let file = map(&[
            "features.denseblock1.denselayer1.norm.1.running_mean",
            "features.denseblock4.denselayer16.conv.2.weight",
            "features.transition1.norm.weight",
            "features.norm5.bias",
        ]);
        let keys: Vec<String> = to_torchvision_names(file).into_keys().collect();
        let expected = [
            "features.denseblock1.denselayer1.norm1.running_mean",
            "features.denseblock4.denselayer16.conv2.weight",
            "features.norm5.bias",
            "features.transition1.norm.weight",
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

    #[test]
    fn model_paths_become_state_dict_keys() {
        let key = |architecture, path: &[&str]| state_dict_key(architecture, path).map(|k| (k.key, k.transposed));
        assert_eq!(
            key(Architecture::ResNet18, &["backbone", "layer2", "0", "downsample", "bn", "gamma"]),
            Some(("layer2.0.downsample.1.weight".into(), false))
        );
        assert_eq!(key(Architecture::ResNet18, &["fc", "weight"]), Some(("fc.weight".into(), true)));
        assert_eq!(
            key(Architecture::MobileNetV2, &["backbone", "blocks", "0", "project", "bn", "running_var"]),
            Some(("features.1.conv.2.running_var".into(), false))
        );
        assert_eq!(key(Architecture::MobileNetV2, &["fc", "bias"]), Some(("classifier.1.bias".into(), false)));
        assert_eq!(
            key(Architecture::EfficientNetLite0, &["backbone", "head", "bn", "beta"]),
            Some(("_bn1.bias".into(), false))
        );
        assert_eq!(
            key(Architecture::EfficientNetLite0, &["backbone", "blocks", "x", "expand", "conv", "weight"]),
            None
        );
        assert_eq!(
            key(Architecture::Vgg11Bn, &["backbone", "convs", "1", "norm", "running_mean"]),
            Some(("features.5.running_mean".into(), false))
        );
        assert_eq!(
            key(Architecture::AlexNet, &["backbone", "hidden", "1", "weight"]),
            Some(("classifier.4.weight".into(), true))
        );
        assert_eq!(key(Architecture::Vgg16, &["fc", "weight"]), Some(("classifier.6.weight".into(), true)));
        assert_eq!(
            key(Architecture::DenseNet121, &["backbone", "layers", "41", "norm2", "gamma"]),
            Some(("features.denseblock3.denselayer24.norm2.weight".into(), false))
        );
        assert_eq!(
            key(Architecture::DenseNet121, &["backbone", "transitions", "0", "conv", "weight"]),
            Some(("features.transition1.conv.weight".into(), false))
        );
        assert_eq!(
            key(Architecture::DenseNet121, &["backbone", "norm0", "beta"]),
            Some(("features.norm0.bias".into(), false))
        );
        assert_eq!(key(Architecture::DenseNet121, &["fc", "bias"]), Some(("classifier.bias".into(), false)));
        assert_eq!(
            key(Architecture::InceptionV3, &["backbone", "convs", "86", "bn", "gamma"]),
            Some(("Mixed_7c.branch3x3dbl_3a.bn.weight".into(), false))
        );
        assert_eq!(
            key(Architecture::InceptionV3, &["backbone", "stem", "4", "conv", "weight"]),
            Some(("Conv2d_4a_3x3.conv.weight".into(), false))
        );
    }
}
