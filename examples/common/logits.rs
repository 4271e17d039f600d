//! What the interop checks compare with (`export_logits` for PyTorch, `onnx_logits` for
//! onnxruntime): photos preprocessed as the engine's model takes them, and the logits it
//! computes for them.

use browser_finetune::data::{Preprocess, decode_image};
use browser_finetune::engine::Engine;
use futures_lite::future::block_on;
use safetensors::tensor::{Dtype, TensorView};

/// Writes to `out` the photos at `paths` through `preprocess` (`inputs`, `[N, 3, crop, crop]`)
/// and `engine`'s logits for them (`logits`, `[N, classes]`), both float32; returns the classes.
pub fn write_inputs_and_logits(
    engine: &Engine,
    preprocess: &Preprocess,
    paths: &[String],
    out: &str,
) -> Result<usize, Box<dyn std::error::Error>> {
    let side = preprocess.crop as usize;
    let mut inputs = Vec::new();
    for path in paths {
        inputs.extend(preprocess.apply(&decode_image(path, &std::fs::read(path)?)?));
    }
    let logits = block_on(engine.logits(inputs.clone(), paths.len(), side, side))?;
    let classes = logits.len() / paths.len();
    let bytes = |values: &[f32]| values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>();
    let (input_bytes, logit_bytes) = (bytes(&inputs), bytes(&logits));
    let tensors = [
        ("inputs", TensorView::new(Dtype::F32, vec![paths.len(), 3, side, side], &input_bytes)?),
        ("logits", TensorView::new(Dtype::F32, vec![paths.len(), classes], &logit_bytes)?),
    ];
    std::fs::write(out, safetensors::serialize(tensors, None)?)?;
    Ok(classes)
}
