//! What data-parallel training gains where each engine has one thread, as each of the page's
//! workers has: full fine-tuning steps at batch 32, natively, one engine on one thread against
//! `BENCH_ENGINES` (2) engines on one thread each, every engine taking its share of each batch
//! (BatchNorm and the gradients added up across them, `BackboneTraining::train_share`). Pixels
//! are random (the speed does not depend on them), decoding is left out, weights are seeded random.
//!
//! `cargo run --release --example bench_data_parallel -- [model ...]` (resnet18, mobilenet_v2,
//! efficientnet_lite0 unless some are named) prints per model
//! `native-1-thread model=M strategy=full batch=32 train_images_per_s=X` and
//! `native-engines model=M strategy=full batch=32 engines=N train_images_per_s=Y speedup=Y/X`
//! (measured in the same run; `./build.sh bench-training` sets them beside its other figures).
//! `BENCH_STEPS` (default 3) steps are timed after one untimed step.

use std::rc::Rc;
use std::time::Instant;

use browser_finetune::model::{Architecture, ImageClassifier};
use browser_finetune::train::{BackboneInput, BackboneTraining, BatchShares, Strategy, ThreadShares, TrainConfig};
use burn::tensor::{Device, Distribution, Tensor};

const BATCH: usize = 32;
const CLASSES: usize = 3;

/// Images per second of `steps` timed full fine-tuning steps (after one untimed) on `engines`
/// engines of one thread each, sharing each batch of 32.
fn images_per_s(architecture: Architecture, engines: usize, steps: usize) -> f64 {
    let device = Device::flex();
    device.seed(1);
    let model = ImageClassifier::random(architecture, CLASSES, &device);
    let labels: Vec<usize> = (0..BATCH).map(|i| i % CLASSES).collect();
    let config = TrainConfig::default();
    let share_size = BATCH.div_ceil(engines);
    let timings: Vec<f64> = std::thread::scope(|scope| {
        let handles: Vec<_> = ThreadShares::group(engines)
            .into_iter()
            .enumerate()
            .map(|(engine, handle)| {
                let share = engine * share_size..((engine + 1) * share_size).min(BATCH);
                let (model, labels, config) = (model.clone(), &labels[share.clone()], &config);
                scope.spawn(move || {
                    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("a thread pool");
                    pool.install(|| {
                        let device = Device::flex();
                        device.seed(2 + engine as u64);
                        let images =
                            Tensor::<4>::random([labels.len(), 3, 224, 224], Distribution::Normal(0.0, 1.0), &device);
                        let mut learner =
                            BackboneTraining::new(model.backbone, model.fc, Strategy::Full, config, &device, 1);
                        let handle: Rc<dyn BatchShares> = Rc::new(handle);
                        let mut step = || {
                            let input = BackboneInput::Pixels(images.clone());
                            let (loss, _) = if engines == 1 {
                                learner.train_step(input, labels, 1)
                            } else {
                                learner.train_share(input, labels, BATCH, 1, handle.clone())
                            }
                            .expect("a training step");
                            loss.into_scalar::<f32>()
                        };
                        step();
                        let start = Instant::now();
                        for _ in 0..steps {
                            step();
                        }
                        start.elapsed().as_secs_f64()
                    })
                })
            })
            .collect();
        handles.into_iter().map(|handle| handle.join().expect("an engine's thread")).collect()
    });
    let slowest = timings.into_iter().fold(0.0, f64::max);
    (steps * BATCH) as f64 / slowest
}

fn main() {
    let names: Vec<String> = std::env::args().skip(1).collect();
    let steps = std::env::var("BENCH_STEPS").ok().and_then(|n| n.parse().ok()).unwrap_or(3);
    let engines = std::env::var("BENCH_ENGINES").ok().and_then(|n| n.parse().ok()).filter(|&n| n > 1).unwrap_or(2);
    let models = [
        ("resnet18", Architecture::ResNet18),
        ("mobilenet_v2", Architecture::MobileNetV2),
        ("efficientnet_lite0", Architecture::EfficientNetLite0),
    ];
    for (name, architecture) in models {
        if !names.is_empty() && !names.iter().any(|n| n == name) {
            continue;
        }
        let line = format!("model={name} strategy=full batch={BATCH}");
        let one = images_per_s(architecture, 1, steps);
        println!("native-1-thread {line} train_images_per_s={one:.2}");
        let many = images_per_s(architecture, engines, steps);
        println!("native-engines {line} engines={engines} train_images_per_s={many:.2} speedup={:.2}", many / one);
    }
}
