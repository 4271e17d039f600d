//! The model card an export carries in its `__metadata__`: what the model is, its class names in
//! output order, the preprocessing it expects and how it was trained — everything another program
//! needs to use the file without this tool.

use std::collections::HashMap;

use serde::de::DeserializeOwned;

use crate::data::Preprocess;
use crate::error::{Error, Result};
use crate::model::Architecture;

/// `__metadata__["format"]` of every export.
pub const EXPORT_FORMAT: &str = "browser-finetune";
/// Bumped whenever an older reader could misread a newer file.
pub const EXPORT_FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq)]
pub struct ModelCard {
    pub architecture: Architecture,
    /// Output `i` of the head is `classes[i]`.
    pub classes: Vec<String>,
    pub preprocess: Preprocess,
    /// Strategy, settings, epochs, final validation accuracy and date, as JSON; `None` when the
    /// file does not say.
    pub training: Option<serde_json::Value>,
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// The temperature a training summary stores (a softmax of `logits / T` gives the calibrated
/// probabilities); 1 when it has none. [`ModelCard::from_metadata`] refuses an invalid one.
pub fn temperature(training: Option<&serde_json::Value>) -> f32 {
    training.and_then(|training| training.get("temperature")?.as_f64()).map_or(1.0, |t| t as f32)
}

impl ModelCard {
    /// The `__metadata__` entries (safetensors allows only strings: structured values are JSON).
    pub fn to_metadata(&self) -> HashMap<String, String> {
        let mut metadata = HashMap::from([
            ("format".to_string(), EXPORT_FORMAT.to_string()),
            ("format_version".to_string(), EXPORT_FORMAT_VERSION.to_string()),
            ("architecture".to_string(), json(&self.architecture).trim_matches('"').to_string()),
            ("classes".to_string(), json(&self.classes)),
            ("preprocess".to_string(), json(&self.preprocess)),
        ]);
        if let Some(training) = &self.training {
            metadata.insert("training".to_string(), json(training));
        }
        metadata
    }

    /// The card of an export; `None` for any other safetensors file (plain torchvision weights).
    /// A newer format version, an architecture this version cannot run or a damaged entry is an
    /// error that says so.
    pub fn from_metadata(metadata: &HashMap<String, String>) -> Result<Option<Self>> {
        if metadata.get("format").map(String::as_str) != Some(EXPORT_FORMAT) {
            return Ok(None);
        }
        let entry = |name: &str| {
            metadata.get(name).ok_or_else(|| Error::InvalidExport { detail: format!("no '{name}' entry") })
        };
        let version: u32 = entry("format_version")?
            .parse()
            .map_err(|_| Error::InvalidExport { detail: "the format version is not a number".into() })?;
        if version > EXPORT_FORMAT_VERSION {
            return Err(Error::NewerExportFormat { found: version, supported: EXPORT_FORMAT_VERSION });
        }
        let name = entry("architecture")?;
        let architecture = Architecture::ALL
            .into_iter()
            .find(|a| json(a).trim_matches('"') == name)
            .ok_or_else(|| Error::UnsupportedArchitecture { name: name.clone() })?;
        fn parse<T: DeserializeOwned>(name: &str, text: &str) -> Result<T> {
            serde_json::from_str(text).map_err(|err| Error::InvalidExport { detail: format!("'{name}': {err}") })
        }
        let classes: Vec<String> = parse("classes", entry("classes")?)?;
        let preprocess: Preprocess = parse("preprocess", entry("preprocess")?)?;
        let training: Option<serde_json::Value> =
            metadata.get("training").map(|text| parse("training", text)).transpose()?;
        let temperature = training.as_ref().and_then(|training| training.get("temperature")).filter(|t| !t.is_null());
        if temperature.is_some_and(|t| !t.as_f64().is_some_and(|t| t.is_finite() && t > 0.0)) {
            return Err(Error::InvalidExport {
                detail: "'training': its temperature is not a positive number; remove the entry to use the raw probabilities".into(),
            });
        }
        Ok(Some(Self { architecture, classes, preprocess, training }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card() -> ModelCard {
        ModelCard {
            architecture: Architecture::MobileNetV2,
            classes: vec!["ants".into(), "bees".into()],
            preprocess: Preprocess::imagenet(),
            training: Some(serde_json::json!({ "epochs_completed": 2, "val_accuracy": 0.5 })),
        }
    }

    #[test]
    fn a_card_survives_its_metadata() {
        let metadata = card().to_metadata();
        assert_eq!(metadata["architecture"], "MobileNetV2");
        assert_eq!(metadata["classes"], r#"["ants","bees"]"#);
        assert_eq!(ModelCard::from_metadata(&metadata).unwrap(), Some(card()));
    }

    /// A run without a fitted temperature stores `null`: the raw probabilities.
    #[test]
    fn a_null_temperature_is_none() {
        let mut metadata = card().to_metadata();
        metadata.insert("training".into(), r#"{"temperature": null}"#.into());
        assert!(ModelCard::from_metadata(&metadata).is_ok());
    }

    #[test]
    fn other_files_have_no_card() {
        let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
        assert_eq!(ModelCard::from_metadata(&metadata).unwrap(), None);
    }

    #[test]
    fn newer_versions_unknown_architectures_and_damage_are_named() {
        let with = |name: &str, value: &str| {
            let mut metadata = card().to_metadata();
            metadata.insert(name.into(), value.into());
            ModelCard::from_metadata(&metadata).unwrap_err()
        };
        assert!(matches!(with("format_version", "2"), Error::NewerExportFormat { found: 2, supported: 1 }));
        let err = with("architecture", "ConvNeXtTiny");
        assert!(err.to_string().contains("ConvNeXtTiny"), "{err}");
        let err = with("training", r#"{"temperature": -1}"#);
        assert!(err.to_string().contains("temperature"), "{err}");
        let err = with("classes", "[\"ants\"");
        assert!(matches!(err, Error::InvalidExport { .. }) && err.to_string().contains("classes"), "{err}");
    }
}
