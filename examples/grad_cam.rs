//! Our side of the Grad-CAM parity check (`scripts/check_grad_cam.py`): a model opened as the page
//! opens a saved one, and the heat map our engine draws for each photo's predicted class.
//!
//! `cargo run --example grad_cam -- OUT_DIR IMAGE...` writes, for ResNet18 with seeded random
//! weights and for each weights file in `GRAD_CAM_PRETRAINED=FILE,…` (its backbone, a new seeded
//! head), `OUT_DIR/<name>.safetensors` (the export) and `OUT_DIR/<name>-cam.safetensors`:
//! `inputs` `[N, 3, crop, crop]` and `maps` `[N, h, w]` (float32), `classes` `[N]` (int64); and
//! prints the time per map.

use browser_finetune::backend;
use browser_finetune::data::decode_image;
use browser_finetune::engine::Engine;
use browser_finetune::model::{Architecture, ImageClassifier};
use browser_finetune::weights::{ModelCard, Precision, export_safetensors, load_pretrained};
use futures_lite::future::block_on;
use safetensors::tensor::{Dtype, TensorView};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [out_dir, images @ ..] = args.as_slice() else {
        return Err("usage: grad_cam OUT_DIR IMAGE...".into());
    };
    let (device, info) = backend::cpu("native");
    device.seed(13);
    let mut models = vec![("ResNet18".to_string(), ImageClassifier::random(Architecture::ResNet18, 3, &device))];
    let pretrained = std::env::var("GRAD_CAM_PRETRAINED").unwrap_or_default();
    for path in pretrained.split(',').filter(|path| !path.is_empty()) {
        device.seed(13);
        let backbone = load_pretrained(&std::fs::read(path)?, &device)?.backbone;
        let name = format!("{:?}-pretrained", backbone.architecture());
        models.push((name, ImageClassifier::with_new_head(backbone, 3, &device)));
    }
    for (name, model) in models {
        let architecture = model.architecture();
        let preprocess = architecture.preprocess();
        let classes = ["ant", "bee", "wasp"].map(String::from).to_vec();
        let card = ModelCard { architecture, classes, preprocess: preprocess.clone(), training: None };
        let export = block_on(export_safetensors(&model, &card, Precision::F32))?;
        std::fs::write(format!("{out_dir}/{name}.safetensors"), &export)?;
        let mut engine = Engine::new(device.clone(), info.clone());
        engine.load_weights(&export)?;
        let (mut inputs, mut maps, mut chosen, mut size) = (Vec::new(), Vec::new(), Vec::new(), (0, 0));
        let mut seconds = 0.0;
        for path in images {
            let file = std::fs::read(path)?;
            inputs.extend(preprocess.apply(&decode_image(path, &file)?));
            let start = std::time::Instant::now();
            let explanation = block_on(engine.explain(path, &file, None))?;
            seconds += start.elapsed().as_secs_f64();
            size = (explanation.map.height, explanation.map.width);
            maps.extend(explanation.map.values);
            chosen.push(explanation.map.class as i64);
        }
        let side = preprocess.crop as usize;
        let floats = |values: &[f32]| values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>();
        let (input_bytes, map_bytes) = (floats(&inputs), floats(&maps));
        let class_bytes: Vec<u8> = chosen.iter().flat_map(|c| c.to_le_bytes()).collect();
        let n = images.len();
        let tensors = [
            ("inputs", TensorView::new(Dtype::F32, vec![n, 3, side, side], &input_bytes)?),
            ("maps", TensorView::new(Dtype::F32, vec![n, size.0, size.1], &map_bytes)?),
            ("classes", TensorView::new(Dtype::I64, vec![n], &class_bytes)?),
        ];
        std::fs::write(format!("{out_dir}/{name}-cam.safetensors"), safetensors::serialize(tensors, None)?)?;
        println!(
            "{name}: {n} maps of {}×{}, {:.0} ms each (decoding included)",
            size.0,
            size.1,
            1000.0 * seconds / n as f64
        );
    }
    Ok(())
}
