//! A trained model that classifies images and does nothing else: bytes of a model exported by
//! this tool in, the most likely classes of an image out, with its class names and its "unknown"
//! threshold. Built without the `training` feature, this module (with `model`, `weights` and
//! `data`) is the whole of the embed's inference-only wasm; the engine predicts through it too,
//! so that the page and the embed give the same answers.

use burn::tensor::{Device, Tensor, TensorData};
use image::RgbImage;
use serde::Serialize;

use crate::backend::read_back;
use crate::data::{Views, decode_image};
use crate::error::{Error, Result};
use crate::metrics::tempered_softmax;
use crate::model::{Architecture, ImageClassifier};
use crate::weights;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Prediction {
    pub class: String,
    pub probability: f32,
}

/// An image's most likely classes, and whether it looks unlike every class the model knows.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Predictions {
    /// Most likely first.
    pub top: Vec<Prediction>,
    /// Whether the top probability is under the model's "unknown" threshold (its training
    /// summary's `unknown_below`); `None` for a model without one.
    pub unknown: Option<bool>,
}

/// Where the model looked in an image for one of its classes ([`Classifier::explain`]).
#[cfg(feature = "explain")]
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub class: String,
    /// Over the centre crop the model sees.
    pub map: crate::explain::HeatMap,
    /// That crop's side as a share of the image's shorter side (224 / 256 for most backbones),
    /// to draw the map over the image.
    pub crop_share: f32,
}

/// A model with its class names, in output order, and how it was trained.
#[derive(Debug, Clone)]
pub struct Classifier {
    model: ImageClassifier,
    classes: Vec<String>,
    training: Option<serde_json::Value>,
}

impl Classifier {
    /// `classes` name the model's outputs in order; `training` is its card's training summary.
    pub fn new(model: ImageClassifier, classes: Vec<String>, training: Option<serde_json::Value>) -> Self {
        Self { model, classes, training }
    }

    /// A pretrained network's own ImageNet head, its classes named by number.
    pub fn imagenet(model: ImageClassifier) -> Self {
        let classes = (0..model.num_classes()).map(|index| format!("ImageNet class {index}")).collect();
        Self::new(model, classes, None)
    }

    /// Opens a model exported by this tool (`.safetensors` with its card); a file of weights
    /// without class names is refused with what to do.
    pub fn open(bytes: &[u8], device: &Device) -> Result<Self> {
        let pretrained = weights::load_pretrained(bytes, device)?;
        let card = pretrained.card.clone().ok_or(Error::NotAnExport)?;
        Ok(Self::new(pretrained.classifier()?, card.classes, card.training))
    }

    pub fn model(&self) -> &ImageClassifier {
        &self.model
    }

    pub fn architecture(&self) -> Architecture {
        self.model.architecture()
    }

    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// How the model was trained, as its card says.
    pub fn training(&self) -> Option<&serde_json::Value> {
        self.training.as_ref()
    }

    /// The top-class probability under which an image is unlike every class, as the training
    /// summary stores it (the validation split's 5th percentile, `metrics::unknown_threshold`).
    pub fn unknown_below(&self) -> Option<f32> {
        Some(self.training.as_ref()?.get("unknown_below")?.as_f64()? as f32)
    }

    /// The temperature its probabilities are calibrated with (a softmax of `logits / T`), as the
    /// training summary stores it; 1 for a model without one.
    pub fn temperature(&self) -> f32 {
        weights::temperature(self.training.as_ref())
    }

    /// The `top_k` most likely classes of an image file, averaged over `views` of it.
    pub async fn predict(&self, name: &str, bytes: &[u8], top_k: usize, views: Views) -> Result<Predictions> {
        self.predict_image(&decode_image(name, bytes)?, top_k, views).await
    }

    /// The same for decoded RGBA pixels, row by row (a canvas's `ImageData`, a video frame); alpha
    /// is dropped as for image files.
    pub async fn predict_pixels(
        &self,
        rgba: &[u8],
        width: u32,
        height: u32,
        top_k: usize,
        views: Views,
    ) -> Result<Predictions> {
        self.predict_image(&rgb_image(rgba, width, height)?, top_k, views).await
    }

    /// Through the architecture's transforms (resize, then the crops `views` names, normalisation),
    /// the model and a softmax at the model's temperature; the views' probabilities averaged. The
    /// "unknown" threshold applies to the average.
    async fn predict_image(&self, image: &RgbImage, top_k: usize, views: Views) -> Result<Predictions> {
        let logits = read_back(self.model.forward(self.input(image, views))).await?;
        let temperature = self.temperature();
        let mut probabilities = vec![0.0; self.classes.len()];
        for row in logits.chunks_exact(self.classes.len()) {
            let view = tempered_softmax(row, temperature);
            probabilities.iter_mut().zip(view).for_each(|(sum, p)| *sum += p / views.count() as f32);
        }
        let mut ranked: Vec<(usize, f32)> = probabilities.into_iter().enumerate().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        let unknown = self.unknown_below().zip(ranked.first()).map(|(below, &(_, top))| top < below);
        let top = ranked
            .into_iter()
            .take(top_k.max(1))
            .map(|(index, probability)| Prediction { class: self.classes[index].clone(), probability })
            .collect();
        Ok(Predictions { top, unknown })
    }

    /// `views` of `image` through the architecture's transforms, on the model's device.
    ///
    /// # Shapes
    /// `[views.count(), 3, crop, crop]`
    fn input(&self, image: &RgbImage, views: Views) -> Tensor<4> {
        let preprocess = self.architecture().preprocess();
        let side = preprocess.crop as usize;
        let pixels = TensorData::new(views.pixels(&preprocess, image), [views.count(), 3, side, side]);
        Tensor::from_data(pixels, &self.model.fc.weight.device())
    }

    /// Grad-CAM ([`crate::explain`]) of an image file for the class named `class` (`None`: the
    /// one predicted), over the centre crop.
    #[cfg(feature = "explain")]
    pub async fn explain(&self, name: &str, bytes: &[u8], class: Option<&str>) -> Result<Explanation> {
        self.explain_image(&decode_image(name, bytes)?, class).await
    }

    /// The same for decoded RGBA pixels, as [`Classifier::predict_pixels`] takes them.
    #[cfg(feature = "explain")]
    pub async fn explain_pixels(
        &self,
        rgba: &[u8],
        width: u32,
        height: u32,
        class: Option<&str>,
    ) -> Result<Explanation> {
        self.explain_image(&rgb_image(rgba, width, height)?, class).await
    }

    #[cfg(feature = "explain")]
    async fn explain_image(&self, image: &RgbImage, class: Option<&str>) -> Result<Explanation> {
        let index = match class {
            Some(class) => Some(
                self.classes
                    .iter()
                    .position(|c| c == class)
                    .ok_or_else(|| Error::InvalidInput(format!("the model has no class '{class}'")))?,
            ),
            None => None,
        };
        let map = crate::explain::grad_cam(&self.model, self.input(image, Views::Centre), index).await?;
        let preprocess = self.architecture().preprocess();
        let crop_share = preprocess.crop as f32 / preprocess.resize_shorter as f32;
        Ok(Explanation { class: self.classes[map.class].clone(), map, crop_share })
    }
}

/// RGBA pixels, row by row (a canvas's `ImageData`, a video frame), as an RGB image: alpha is
/// dropped as for image files.
fn rgb_image(rgba: &[u8], width: u32, height: u32) -> Result<RgbImage> {
    let expected = width as usize * height as usize * 4;
    if width == 0 || height == 0 || rgba.len() != expected {
        return Err(Error::InvalidInput(format!(
            "expected {width}×{height} RGBA pixels ({expected} bytes), got {} bytes",
            rgba.len()
        )));
    }
    let rgb = rgba.chunks_exact(4).flat_map(|pixel| [pixel[0], pixel[1], pixel[2]]).collect();
    RgbImage::from_raw(width, height, rgb).ok_or_else(|| Error::InvalidInput("the pixels do not fill the image".into()))
}

#[cfg(test)]
mod tests {
    use futures_lite::future::block_on;
    use image::{ImageEncoder, codecs::png::PngEncoder};

    use super::*;
    use crate::weights::{ModelCard, Precision, export_safetensors};

    fn png(width: u32, height: u32, shade: u8) -> Vec<u8> {
        let pixels: Vec<u8> = (0..width * height * 3).map(|i| shade.wrapping_add((i % 97) as u8)).collect();
        let mut bytes = Vec::new();
        PngEncoder::new(&mut bytes).write_image(&pixels, width, height, image::ExtendedColorType::Rgb8).unwrap();
        bytes
    }

    fn exported(training: Option<serde_json::Value>) -> Vec<u8> {
        export(&ImageClassifier::random(Architecture::MobileNetV2, 3, &Device::flex()), training)
    }

    fn export(model: &ImageClassifier, training: Option<serde_json::Value>) -> Vec<u8> {
        let architecture = model.architecture();
        let classes = vec!["ants".to_string(), "bees".to_string(), "wasps".to_string()];
        let card = ModelCard { architecture, classes, preprocess: architecture.preprocess(), training };
        block_on(export_safetensors(model, &card, Precision::F32)).unwrap()
    }

    /// An export opens with its class names, and its predictions name them, most likely first,
    /// the same for the file and for its pixels.
    #[test]
    fn an_export_predicts_with_its_class_names() {
        let classifier = Classifier::open(&exported(None), &Device::flex()).unwrap();
        assert_eq!(classifier.classes(), ["ants", "bees", "wasps"]);
        assert_eq!(classifier.architecture(), Architecture::MobileNetV2);
        let file = png(40, 30, 60);
        let from_file = block_on(classifier.predict("a.png", &file, 2, Views::Centre)).unwrap();
        assert_eq!(from_file.top.len(), 2);
        assert!(from_file.top[0].probability >= from_file.top[1].probability);
        assert!(classifier.classes().contains(&from_file.top[0].class));
        assert_eq!(from_file.unknown, None, "no threshold, no verdict");
        let rgba: Vec<u8> = image::load_from_memory(&file).unwrap().to_rgba8().into_raw();
        assert_eq!(block_on(classifier.predict_pixels(&rgba, 40, 30, 2, Views::Centre)).unwrap(), from_file);
    }

    /// The threshold of the card decides "unknown": above every probability, every image is.
    #[test]
    fn the_cards_threshold_decides_unknown() {
        let classifier =
            Classifier::open(&exported(Some(serde_json::json!({"unknown_below": 1.5}))), &Device::flex()).unwrap();
        assert_eq!(classifier.unknown_below(), Some(1.5));
        assert_eq!(
            block_on(classifier.predict("a.png", &png(32, 32, 9), 1, Views::Centre)).unwrap().unknown,
            Some(true)
        );
    }

    /// The card's temperature softens (T > 1) or sharpens the probabilities and keeps their order.
    #[test]
    fn the_cards_temperature_scales_the_probabilities() {
        let file = png(48, 40, 120);
        let model = ImageClassifier::random(Architecture::MobileNetV2, 3, &Device::flex());
        let at = |temperature: f64| {
            let training = serde_json::json!({ "temperature": temperature });
            let classifier = Classifier::open(&export(&model, Some(training)), &Device::flex()).unwrap();
            assert_eq!(classifier.temperature(), temperature as f32);
            block_on(classifier.predict("a.png", &file, 3, Views::Centre)).unwrap().top
        };
        let (plain, soft) = (at(1.0), at(4.0));
        let logits: Vec<f32> = plain.iter().map(|p| p.probability.ln()).collect();
        for (index, prediction) in soft.iter().enumerate() {
            assert_eq!(prediction.class, plain[index].class);
            let expected = crate::metrics::tempered_softmax(&logits, 4.0)[index];
            assert!((prediction.probability - expected).abs() < 1e-5, "{} vs {expected}", prediction.probability);
        }
    }

    /// Two views average the probabilities of the image and of its mirror image.
    #[test]
    fn the_flip_view_averages_the_image_and_its_mirror() {
        let classifier = Classifier::open(&exported(None), &Device::flex()).unwrap();
        let image =
            image::RgbaImage::from_fn(64, 48, |x, y| image::Rgba([(x * 4) as u8, (y * 5) as u8, (x * y) as u8, 255]));
        let mirror = image::imageops::flip_horizontal(&image);
        let classify = |pixels: &image::RgbaImage, views| {
            let mut top = block_on(classifier.predict_pixels(pixels.as_raw(), 64, 48, 3, views)).unwrap().top;
            top.sort_by(|a, b| a.class.cmp(&b.class));
            top.into_iter().map(|p| p.probability).collect::<Vec<f32>>()
        };
        let (both, one, other) =
            (classify(&image, Views::Flip), classify(&image, Views::Centre), classify(&mirror, Views::Centre));
        for class in 0..3 {
            assert!((both[class] - (one[class] + other[class]) / 2.0).abs() < 1e-5, "{both:?} {one:?} {other:?}");
        }
        assert_eq!(classify(&image, Views::TenCrop).len(), 3);
    }

    /// Weights without class names, and pixels that do not match their size, are refused with
    /// what to do.
    #[test]
    fn weights_and_wrong_pixels_are_refused() {
        // The export's tensors alone, as torchvision's files hold them: no card.
        let export = exported(None);
        let tensors = safetensors::SafeTensors::deserialize(&export).unwrap();
        let weights = safetensors::serialize(tensors.tensors(), None).unwrap();
        let err = Classifier::open(&weights, &Device::flex()).unwrap_err();
        assert!(matches!(err, Error::NotAnExport), "{err}");
        let classifier = Classifier::open(&exported(None), &Device::flex()).unwrap();
        let err = block_on(classifier.predict_pixels(&[0; 10], 2, 2, 1, Views::Centre)).unwrap_err();
        assert!(err.to_string().contains("expected 2×2 RGBA pixels (16 bytes), got 10 bytes"), "{err}");
    }
}
