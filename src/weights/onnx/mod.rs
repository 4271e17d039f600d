//! Model out, ONNX back: the whole network (backbone and head) as a standard ONNX graph that
//! onnxruntime, TensorRT and the Core ML / TFLite converters read, written here without a server.
//! Opset 17; input `images` `[batch, 3, crop, crop]` float32 normalised as the card's
//! preprocessing says, the batch left open; output `logits` (or `probabilities`, with a softmax)
//! `[batch, classes]`; the model card's entries (class names, preprocessing, training) in
//! `metadata_props`. Optionally its weights as int8 (see [`OnnxOptions`]).

mod graph;
mod network;
mod proto;

use graph::{Graph, Shape, Value};

use super::card::ModelCard;
use crate::error::Result;
use crate::model::ImageClassifier;

/// How an ONNX export is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OnnxOptions {
    /// The graph ends in a softmax: `probabilities` rather than `logits`.
    pub probabilities: bool,
    /// Convolution and linear weights as int8, per output channel, a quarter of the size (the
    /// rest stays float32).
    pub int8_weights: bool,
}

/// `model` as the bytes of an `.onnx` file described by `card`.
pub async fn export_onnx(model: &ImageClassifier, card: &ModelCard, options: OnnxOptions) -> Result<Vec<u8>> {
    let side = card.preprocess.crop as usize;
    let images = Value { name: "images".into(), shape: Shape::Map { channels: 3, height: side, width: side } };
    let mut graph = Graph::new(options.int8_weights);
    let logits = network::classifier(&mut graph, model, &images);
    let output = match options.probabilities {
        true => {
            let softmax = graph.softmax(&logits);
            graph.rename(softmax, "probabilities")
        }
        false => graph.rename(logits, "logits"),
    };
    let mut metadata: Vec<(String, String)> = card.to_metadata().into_iter().collect();
    metadata.push(("output".into(), output.name.clone()));
    let weights = if options.int8_weights { "int8 per output channel" } else { "float32" };
    metadata.push(("weights".into(), weights.into()));
    metadata.sort();
    graph.into_model(&images, &output, &metadata).await
}
