//! Bytes in, validated model out.
//!
//! [`load_pretrained`] is the one entry point: it takes what a `fetch` returns (a `.safetensors`
//! file or a PyTorch `.pth` written by `torch.save(state_dict)`), reads every tensor, and builds
//! the model strictly: every parameter must be present with the right shape, and nothing else may
//! be in the file, as `load_state_dict(strict=True)` demands. The classification head is the one
//! part a file may leave out entirely (a feature extractor's weights).
//!
//! [`export_safetensors`] goes the other way: a trained model back to bytes, in the same names,
//! with a [`ModelCard`] that [`load_pretrained`] reads back; [`export_onnx`] writes the same model
//! as an ONNX graph for the runtimes outside PyTorch.

mod card;
mod export;
mod keys;
mod onnx;
mod pickle;
mod pth;
mod safetensors;
mod tensor_map;

use std::collections::BTreeSet;

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig};
use burn::tensor::{Device, Tensor, TensorData};

use crate::error::{Error, KeyMismatch, Result};
use crate::model::{Architecture, ParamSource, Pretrained, head_config};

pub use card::{ModelCard, temperature};
pub use export::{Precision, export_safetensors};
pub use onnx::{OnnxOptions, calibration_sample, export_onnx};
pub use tensor_map::{Dtype, HostTensor, TensorMap};

/// The container formats this tool reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Safetensors,
    /// `torch.save` zip archive (`.pth` / `.pt`, PyTorch ≥ 1.6).
    TorchZip,
    /// `torch.save`'s legacy format (before PyTorch 1.6): pickles and storages in a row.
    TorchLegacy,
}

/// Recognises the container from its first bytes, with a specific error for the usual mistakes.
pub fn detect_format(bytes: &[u8]) -> Result<Format> {
    if bytes.is_empty() {
        return Err(Error::EmptyWeights);
    }
    if bytes.starts_with(b"PK\x03\x04") {
        return Ok(Format::TorchZip);
    }
    if looks_like_html(bytes) {
        return Err(Error::HtmlInsteadOfWeights);
    }
    if bytes.starts_with(&pth::LEGACY_MAGIC) {
        return Ok(Format::TorchLegacy);
    }
    if bytes.len() >= 9 && bytes[8] == b'{' {
        return Ok(Format::Safetensors);
    }
    let first_bytes = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ");
    Err(Error::UnknownWeightsFormat { first_bytes })
}

fn looks_like_html(bytes: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).to_ascii_lowercase();
    let head = head.trim_start_matches('\u{feff}').trim_start();
    head.starts_with("<!doctype") || head.starts_with("<html") || head.starts_with("<?xml") || head.starts_with("<head")
}

/// Reads every tensor of a weights file, whatever its container.
pub fn read_tensors(bytes: &[u8]) -> Result<TensorMap> {
    match detect_format(bytes)? {
        Format::Safetensors => safetensors::read(bytes),
        Format::TorchZip => pth::read_zip(bytes),
        Format::TorchLegacy => pth::read_legacy(bytes),
    }
}

/// The one public entry point: the bytes of a state_dict of one of the [`Architecture`]s → the
/// backbone, with the head stored in the file (1000 ImageNet classes, or the N classes of a
/// fine-tuned head) when there is one, and the model card of an export of this tool.
pub fn load_pretrained(bytes: &[u8], device: &Device) -> Result<Pretrained> {
    // The card first: a newer format or an unknown architecture is named before the tensors are.
    let card = match detect_format(bytes)? {
        Format::Safetensors => ModelCard::from_metadata(&safetensors::metadata(bytes)?)?,
        Format::TorchZip | Format::TorchLegacy => None,
    };
    let mut tensors = keys::to_torchvision_names(read_tensors(bytes)?);
    let architecture = Architecture::detect(tensors.keys().map(String::as_str));
    if architecture == Architecture::InceptionV3 {
        tensors.retain(|key, _| !is_auxiliary_classifier(key));
    }
    let head_key = architecture.head_key();
    let has_head = tensors.keys().any(|key| key.strip_prefix(head_key).is_some_and(|rest| rest.starts_with('.')));
    let num_classes = match tensors.get(&format!("{head_key}.weight")).map(|t| t.shape.as_slice()) {
        Some(&[classes, _]) if classes > 0 => classes,
        // Let the strict build below report the missing or misshapen key with all the others.
        _ => 1,
    };
    let mut source = FromTensorMap::new(&tensors, device);
    let backbone = architecture.build(&mut source);
    let head = has_head.then(|| source.linear(head_key, &head_config(architecture.features(), num_classes)));
    source.finish(architecture.name())?;
    if let Some(card) = &card {
        check_card(card, architecture, head.as_ref().map(|_| num_classes))?;
    }
    Ok(Pretrained { backbone, head, card })
}

/// An export's card must describe the tensors beside it: their architecture, one class name per
/// output of the head, and the preprocessing this version applies to that architecture.
fn check_card(card: &ModelCard, architecture: Architecture, head_classes: Option<usize>) -> Result<()> {
    let invalid = |detail: String| Err(Error::InvalidExport { detail });
    if card.architecture != architecture {
        return invalid(format!("it says {:?} but holds the weights of a {}", card.architecture, architecture.name()));
    }
    if head_classes != Some(card.classes.len()) {
        return invalid(format!("it names {} classes but the head has {head_classes:?} outputs", card.classes.len()));
    }
    if card.preprocess != architecture.preprocess() {
        return invalid(format!(
            "its preprocessing {:?} is not the {:?} this version uses for a {}",
            card.preprocess,
            architecture.preprocess(),
            architecture.name()
        ));
    }
    Ok(())
}

/// Inception v3's auxiliary classifier, which torchvision uses only for an extra loss term in
/// training: this version trains without it (as `inception_v3(aux_logits=False)`).
fn is_auxiliary_classifier(key: &str) -> bool {
    key.starts_with("AuxLogits.")
}

/// Keys that torchvision's state_dict carries but that have no role at inference or in training.
fn is_bookkeeping(key: &str) -> bool {
    key.ends_with(".num_batches_tracked")
}

/// A [`ParamSource`] that reads each parameter from a [`TensorMap`] under its torchvision key and
/// collects every missing, misshapen and unexpected key, so that one error lists them all.
struct FromTensorMap<'a> {
    tensors: &'a TensorMap,
    device: Device,
    used: BTreeSet<&'a str>,
    mismatch: KeyMismatch,
    conversion_error: Option<Error>,
}

impl<'a> FromTensorMap<'a> {
    fn new(tensors: &'a TensorMap, device: &Device) -> Self {
        Self {
            tensors,
            device: device.clone(),
            used: BTreeSet::new(),
            mismatch: KeyMismatch::default(),
            conversion_error: None,
        }
    }

    /// The tensor stored under `key`, or `None` (with the problem recorded) when it is absent,
    /// misshapen or of an unusable dtype.
    fn values(&mut self, key: &str, shape: &[usize]) -> Option<Vec<f32>> {
        let Some((stored_key, tensor)) = self.tensors.get_key_value(key) else {
            self.mismatch.missing.push(key.to_string());
            return None;
        };
        self.used.insert(stored_key);
        if tensor.shape != shape {
            self.mismatch.misshapen.push((key.to_string(), tensor.shape.clone(), shape.to_vec()));
            return None;
        }
        match tensor.to_f32(key) {
            Ok(values) => Some(values),
            Err(err) => {
                self.conversion_error.get_or_insert(err);
                None
            }
        }
    }

    fn tensor<const D: usize>(&mut self, key: &str, shape: [usize; D]) -> Option<Tensor<D>> {
        let values = self.values(key, &shape)?;
        Some(Tensor::from_data(TensorData::new(values, shape), &self.device))
    }

    fn param<const D: usize>(&mut self, key: &str, shape: [usize; D]) -> Option<Param<Tensor<D>>> {
        let values = self.values(key, &shape)?;
        Some(Param::from_data(TensorData::new(values, shape), &self.device))
    }

    /// Fails with every key problem at once; succeeds only when the file matched exactly.
    fn finish(mut self, architecture: &'static str) -> Result<()> {
        self.mismatch.unexpected = self
            .tensors
            .keys()
            .filter(|key| !self.used.contains(key.as_str()) && !is_bookkeeping(key))
            .cloned()
            .collect();
        if !self.mismatch.is_empty() {
            return Err(Error::WeightsMismatch { architecture, mismatch: self.mismatch });
        }
        match self.conversion_error {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }
}

impl ParamSource for FromTensorMap<'_> {
    fn conv2d(&mut self, key: &str, config: &Conv2dConfig) -> Conv2d {
        let mut conv = config.init(&self.device);
        let [in_ch, out_ch] = config.channels;
        let [kh, kw] = config.kernel_size;
        let shape = [out_ch, in_ch / config.groups, kh, kw];
        if let Some(weight) = self.param(&format!("{key}.weight"), shape) {
            conv.weight = weight;
        }
        if config.bias {
            conv.bias = self.param(&format!("{key}.bias"), [out_ch]).or(conv.bias);
        }
        conv
    }

    fn batch_norm(&mut self, key: &str, config: &BatchNormConfig) -> BatchNorm {
        let mut norm = config.init(&self.device);
        let shape = [config.num_features];
        if let Some(gamma) = self.param(&format!("{key}.weight"), shape) {
            norm.gamma = gamma;
        }
        if let Some(beta) = self.param(&format!("{key}.bias"), shape) {
            norm.beta = beta;
        }
        if let Some(mean) = self.tensor(&format!("{key}.running_mean"), shape) {
            norm.running_mean = burn::module::RunningState::new(mean);
        }
        if let Some(var) = self.tensor(&format!("{key}.running_var"), shape) {
            norm.running_var = burn::module::RunningState::new(var);
        }
        norm
    }

    fn linear(&mut self, key: &str, config: &LinearConfig) -> Linear {
        let mut linear = config.init(&self.device);
        let (inputs, outputs) = (config.d_input, config.d_output);
        // PyTorch stores `[out, in]`; Burn's row layout computes `x · W` with `W: [in, out]`.
        if let Some(values) = self.values(&format!("{key}.weight"), &[outputs, inputs]) {
            let transposed = transpose(&values, outputs, inputs);
            linear.weight = Param::from_data(TensorData::new(transposed, [inputs, outputs]), &self.device);
        }
        if config.bias {
            linear.bias = self.param(&format!("{key}.bias"), [outputs]).or(linear.bias);
        }
        linear
    }
}

/// Row-major `[rows, cols]` → `[cols, rows]`.
fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_containers_and_the_usual_wrong_files() {
        assert_eq!(detect_format(b"PK\x03\x04rest").unwrap(), Format::TorchZip);
        let mut st = 2u64.to_le_bytes().to_vec();
        st.extend_from_slice(b"{}");
        assert_eq!(detect_format(&st).unwrap(), Format::Safetensors);
        assert!(matches!(detect_format(b""), Err(Error::EmptyWeights)));
        assert!(matches!(
            detect_format(b"\n  <!DOCTYPE html><html><body>404 Not Found</body></html>"),
            Err(Error::HtmlInsteadOfWeights)
        ));
        assert!(matches!(detect_format(b"\x00\x01\x02\x03garbage!"), Err(Error::UnknownWeightsFormat { .. })));
        let legacy = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
        assert_eq!(detect_format(&legacy).unwrap(), Format::TorchLegacy);
    }

    #[test]
    fn transpose_swaps_rows_and_columns() {
        assert_eq!(transpose(&[1., 2., 3., 4., 5., 6.], 2, 3), vec![1., 4., 2., 5., 3., 6.]);
    }
}
