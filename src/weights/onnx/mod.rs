//! Model out, ONNX back: the whole network (backbone and head) as a standard ONNX graph that
//! onnxruntime, TensorRT and the Core ML / TFLite converters read, written here without a server.
//! Opset 17; input `images` `[batch, 3, crop, crop]` float32 normalised as the card's
//! preprocessing says, the batch left open; output `logits` (or `probabilities`, a softmax at the
//! card's temperature) `[batch, classes]`; the model card's entries (class names, preprocessing,
//! training) in `metadata_props`. Optionally int8 (see [`OnnxOptions`]): the weights per output channel, and,
//! given calibration images (the user's validation photos), the activations that convolutions and
//! the linear layer read, with the ranges those images give.

mod graph;
mod network;
mod proto;

use burn::tensor::{Tensor, TensorData};
use graph::{Graph, Shape, Value};
use image::RgbImage;

use super::card::ModelCard;
use crate::error::Result;
use crate::model::ImageClassifier;

/// How an ONNX export is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OnnxOptions {
    /// The graph ends in a softmax: `probabilities` rather than `logits`, calibrated with the
    /// card's temperature (folded into the head's weights).
    pub probabilities: bool,
    /// Convolution and linear weights as int8, per output channel, a quarter of the size (the
    /// rest stays float32); with calibration images, the activations they read as uint8 too.
    pub int8_weights: bool,
}

/// Up to `count` of `items` spread evenly over them (every k-th): the calibration images an int8
/// export takes from a run's validation split.
pub fn calibration_sample<T: Copy>(items: &[T], count: usize) -> Vec<T> {
    let step = items.len().div_ceil(count.max(1)).max(1);
    items.iter().copied().step_by(step).take(count).collect()
}

/// `model` as the bytes of an `.onnx` file described by `card`. With int8 weights, `calibration`
/// images (decoded, any size: the card's preprocessing is applied) set the activations' ranges;
/// without any, only the weights are int8.
pub async fn export_onnx(
    model: &ImageClassifier,
    card: &ModelCard,
    options: OnnxOptions,
    calibration: &[RgbImage],
) -> Result<Vec<u8>> {
    let side = card.preprocess.crop as usize;
    let calibrated = options.int8_weights && !calibration.is_empty();
    let pixels: Vec<f32> = match calibrated {
        true => calibration.iter().flat_map(|image| card.preprocess.apply(image)).collect(),
        false => Vec::new(),
    };
    let device = model.fc.weight.device();
    let images = Value {
        name: "images".into(),
        shape: Shape::Map { channels: 3, height: side, width: side },
        calibration: calibrated
            .then(|| Tensor::from_data(TensorData::new(pixels, [calibration.len(), 3, side, side]), &device)),
    };
    let mut graph = Graph::new(options.int8_weights);
    let output = network_output(&mut graph, model, card, options.probabilities, &images);
    let mut metadata: Vec<(String, String)> = card.to_metadata().into_iter().collect();
    metadata.push(("output".into(), output.name.clone()));
    let weights = match (options.int8_weights, calibrated) {
        (false, _) => "float32".to_string(),
        (true, false) => "int8 per output channel".to_string(),
        (true, true) => format!(
            "int8 per output channel; convolution and linear inputs uint8, calibrated on {} images",
            calibration.len()
        ),
    };
    metadata.push(("weights".into(), weights));
    metadata.sort();
    graph.into_model(&images, &output, &metadata).await
}

/// The network from `images` to its output: `logits`, or `probabilities` at the card's
/// temperature (folded into the head's weights, so that the graph is the usual softmax).
fn network_output(
    graph: &mut Graph,
    model: &ImageClassifier,
    card: &ModelCard,
    probabilities: bool,
    images: &Value,
) -> Value {
    if !probabilities {
        let logits = network::classifier(graph, model, images);
        return graph.rename(logits, "logits");
    }
    let logits = network::classifier(graph, &model.tempered(super::temperature(card.training.as_ref())), images);
    let softmax = graph.softmax(&logits);
    graph.rename(softmax, "probabilities")
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Distribution, Tolerance};

    use super::*;
    use crate::model::Architecture;

    /// Every image when there are no more than asked for; else every k-th, from the first.
    #[test]
    fn the_calibration_sample_spreads_over_the_split() {
        let items: Vec<usize> = (0..153).collect();
        assert_eq!(calibration_sample(&items[..10], 32), items[..10]);
        let sample = calibration_sample(&items, 32);
        assert_eq!(sample, (0..153).step_by(5).collect::<Vec<_>>());
        assert!(calibration_sample::<usize>(&[], 32).is_empty());
    }

    /// Two random images of `architecture`'s smallest input, and the graph's input carrying them
    /// as its calibration values.
    fn two_images(architecture: Architecture, device: &Device) -> (Tensor<4>, Value) {
        let side = architecture.min_input_side();
        let pixels = Tensor::<4>::random([2, 3, side, side], Distribution::Normal(0.0, 1.0), device);
        let images = Value {
            name: "images".into(),
            shape: Shape::Map { channels: 3, height: side, width: side },
            calibration: Some(pixels.clone()),
        };
        (pixels, images)
    }

    /// The `probabilities` output is the softmax of the logits divided by the card's temperature.
    #[test]
    fn probabilities_are_at_the_cards_temperature() {
        let device = Device::flex();
        let architecture = Architecture::MobileNetV2;
        let model = ImageClassifier::random(architecture, 3, &device);
        let (pixels, images) = two_images(architecture, &device);
        let card = ModelCard {
            architecture,
            classes: vec!["a".into(), "b".into(), "c".into()],
            preprocess: architecture.preprocess(),
            training: Some(serde_json::json!({ "temperature": 0.3 })),
        };
        let output = network_output(&mut Graph::new(true), &model, &card, true, &images);
        assert_eq!(output.name, "probabilities");
        let expected = burn::tensor::activation::softmax(model.forward(pixels) / 0.3, 1);
        let carried = output.calibration.expect("calibration values").reshape([2, 3]);
        carried.into_data().assert_approx_eq::<f32>(&expected.into_data(), Tolerance::rel_abs(1e-3, 1e-4));
    }

    /// A calibrated graph computes each op's value with the model's own modules: the logits it
    /// carries at the end are the model's, for every architecture (random weights, smallest input).
    #[test]
    fn a_calibrated_graph_carries_the_models_logits() {
        let device = Device::flex();
        for architecture in Architecture::ALL {
            device.seed(5);
            let model = ImageClassifier::random(architecture, 3, &device);
            let (pixels, images) = two_images(architecture, &device);
            let mut graph = Graph::new(true);
            let logits = network::classifier(&mut graph, &model, &images);
            let carried = logits.calibration.expect("calibration values").reshape([2, 3]);
            carried
                .into_data()
                .assert_approx_eq::<f32>(&model.forward(pixels).into_data(), Tolerance::rel_abs(1e-3, 1e-4));
        }
    }
}
