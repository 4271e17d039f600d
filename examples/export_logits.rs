//! Our side of the PyTorch check of an export (`scripts/check_export_torch.py`): opens a model
//! file as the page does, and writes the preprocessed images and the logits it computes for them.
//!
//! `cargo run --example export_logits -- EXPORT OUT.safetensors IMAGE...` writes `inputs`
//! `[N, 3, crop, crop]` and `logits` `[N, classes]`, both float32.

use browser_finetune::backend;
use browser_finetune::engine::Engine;

#[path = "common/logits.rs"]
mod logits;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [export, out, images @ ..] = args.as_slice() else {
        return Err("usage: export_logits EXPORT OUT.safetensors IMAGE...".into());
    };
    let (device, info) = backend::cpu("native");
    let mut engine = Engine::new(device, info);
    let loaded = engine.load_weights(&std::fs::read(export)?)?;
    let classes = logits::write_inputs_and_logits(&engine, &loaded.architecture.preprocess(), images, out)?;
    println!("{}: {:?}, {classes} classes, {} images → {out}", export, loaded.architecture, images.len());
    Ok(())
}
