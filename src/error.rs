//! The one error type of the crate. Every message says what went wrong, where, and what to do,
//! because it is shown to the person using the page as it is.

use std::fmt;

/// Everything that can go wrong between bytes arriving from outside and a trained head.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the weights file is empty (0 bytes): check that the URL or file path points at the weights")]
    EmptyWeights,

    #[error(
        "the weights file is an HTML page, not weights: the server most likely answered with an error page \
         (404 or a login page). Check the URL, or put the weights file where the page expects it"
    )]
    HtmlInsteadOfWeights,

    #[error(
        "this is not a weights file this tool can read (first bytes: {first_bytes}): \
         expected a .safetensors file or a PyTorch .pth written by torch.save"
    )]
    UnknownWeightsFormat { first_bytes: String },

    #[error("the {format} weights file is truncated or corrupt ({detail}): download it again")]
    CorruptWeights { format: &'static str, detail: String },

    #[error("tensor '{key}' has dtype {dtype}, which is not supported: use float32, float16 or bfloat16")]
    UnsupportedDtype { key: String, dtype: String },

    #[error("the weights do not fit a {architecture}: {0}", .mismatch)]
    WeightsMismatch { architecture: &'static str, mismatch: KeyMismatch },

    #[error(
        "the {architecture} weights hold only the backbone, no ImageNet classification head: \
         train a head on your images first, then predict"
    )]
    NoPretrainedHead { architecture: &'static str },

    #[error(
        "this model file was exported by a newer version of this tool (format version {found}; this version \
         reads up to {supported}): open it with a newer version of the page"
    )]
    NewerExportFormat { found: u32, supported: u32 },

    #[error(
        "this model file is a {name}, which this version cannot run: it runs ResNet18, ResNet34, ResNet50, \
         MobileNetV2, MobileNetV3, EfficientNet-B0, VGG11-BN, VGG16, AlexNet, DenseNet121, Inception v3 \
         and EfficientNet-Lite0 exports"
    )]
    UnsupportedArchitecture { name: String },

    #[error(
        "this file holds weights, not a model exported by browser-finetune: it has no class names. \
         Train a model on the page and use “Download model”"
    )]
    NotAnExport,

    #[error("this model file's description (safetensors metadata) is damaged: {detail}. Export the model again")]
    InvalidExport { detail: String },

    #[error("image '{file}' could not be decoded: {reason}. Use a JPEG, PNG, WebP, GIF or BMP file")]
    ImageDecode { file: String, reason: String },

    #[error(
        "image '{file}' is {width}×{height} pixels ({} megapixels), more than the limit of {} \
         megapixels: scale it down before adding it",
        (u64::from(*.width) * u64::from(*.height)) / 1_000_000,
        .limit / 1_000_000
    )]
    ImageTooLarge { file: String, width: u32, height: u32, limit: u64 },

    #[error(
        "image '{file}' is {width}×{height} pixels: one side is more than {limit} times the other, \
         too elongated to resize to the model's input; crop it first"
    )]
    ImageAspectRatio { file: String, width: u32, height: u32, limit: u32 },

    #[error("invalid input: {0}")]
    InvalidInput(String),

    #[error("the compute backend failed: {0}")]
    Backend(String),

    #[error(
        "a worker training its share of the batch did not keep up ({0}): the batch is trained by one \
         worker, as are the rest of the run's"
    )]
    SharingLost(String),
}

/// What did not match between a weights file and the model, listed key by key.
#[derive(Debug, Default, PartialEq)]
pub struct KeyMismatch {
    pub missing: Vec<String>,
    pub unexpected: Vec<String>,
    /// `(key, shape in the file, shape the model needs)`
    pub misshapen: Vec<(String, Vec<usize>, Vec<usize>)>,
}

impl KeyMismatch {
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.misshapen.is_empty()
    }
}

/// Long key lists are cut so that the message stays readable.
const LISTED_KEYS: usize = 8;

fn write_keys(f: &mut fmt::Formatter<'_>, label: &str, keys: &[String]) -> fmt::Result {
    let shown: Vec<&str> = keys.iter().take(LISTED_KEYS).map(String::as_str).collect();
    write!(f, "{} {label} key(s): {}", keys.len(), shown.join(", "))?;
    if keys.len() > LISTED_KEYS {
        write!(f, ", …")?;
    }
    Ok(())
}

impl fmt::Display for KeyMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = 0;
        let mut sep = |f: &mut fmt::Formatter<'_>| {
            parts += 1;
            if parts > 1 { write!(f, "; ") } else { Ok(()) }
        };
        if !self.missing.is_empty() {
            sep(f)?;
            write_keys(f, "missing", &self.missing)?;
        }
        if !self.misshapen.is_empty() {
            sep(f)?;
            let shown: Vec<String> = self
                .misshapen
                .iter()
                .take(LISTED_KEYS)
                .map(|(key, found, expected)| format!("{key} is {found:?}, expected {expected:?}"))
                .collect();
            write!(f, "{} misshapen: {}", self.misshapen.len(), shown.join(", "))?;
            if self.misshapen.len() > LISTED_KEYS {
                write!(f, ", …")?;
            }
        }
        if !self.unexpected.is_empty() {
            sep(f)?;
            write_keys(f, "unexpected", &self.unexpected)?;
        }
        write!(f, ". Use the torchvision state_dict of this architecture")
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
