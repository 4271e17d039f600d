//! Our side of the PyTorch check of an export (`scripts/check_export_torch.py`): opens a model
//! file as the page does, and writes the preprocessed images and the logits it computes for them.
//!
//! `cargo run --example export_logits -- EXPORT OUT.safetensors IMAGE...` writes `inputs`
//! `[N, 3, crop, crop]` and `logits` `[N, classes]`, both float32.

use browser_finetune::backend;
use browser_finetune::data::decode_image;
use browser_finetune::engine::Engine;
use futures_lite::future::block_on;
use safetensors::tensor::{Dtype, TensorView};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [export, out, images @ ..] = args.as_slice() else {
        return Err("usage: export_logits EXPORT OUT.safetensors IMAGE...".into());
    };
    let (device, info) = backend::cpu("native");
    let mut engine = Engine::new(device, info);
    let loaded = engine.load_weights(&std::fs::read(export)?)?;
    let preprocess = loaded.architecture.preprocess();
    let side = preprocess.crop as usize;
    let mut inputs = Vec::new();
    for path in images {
        inputs.extend(preprocess.apply(&decode_image(path, &std::fs::read(path)?)?));
    }
    let logits = block_on(engine.logits(inputs.clone(), images.len(), side, side))?;
    let bytes = |values: &[f32]| values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>();
    let (input_bytes, logit_bytes) = (bytes(&inputs), bytes(&logits));
    let classes = logits.len() / images.len();
    let tensors = [
        ("inputs", TensorView::new(Dtype::F32, vec![images.len(), 3, side, side], &input_bytes)?),
        ("logits", TensorView::new(Dtype::F32, vec![images.len(), classes], &logit_bytes)?),
    ];
    std::fs::write(out, safetensors::serialize(tensors, None)?)?;
    println!("{}: {:?}, {classes} classes, {} images → {out}", export, loaded.architecture, images.len());
    Ok(())
}
