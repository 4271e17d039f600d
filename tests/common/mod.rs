//! Shared by the integration tests: the fixtures written by `scripts/make_fixtures.py`, the
//! deterministic weights generator it uses (mirrored bit for bit), and the replay of its
//! recorded head training.

#![allow(dead_code)] // each test binary uses its own part of this module

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;

use browser_finetune::model::head_config;
use browser_finetune::train::{BackboneInput, BackboneTraining, HeadTrainer, OptimizerKind, Strategy, TrainConfig};
use browser_finetune::weights::load_pretrained;
use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};
use safetensors::SafeTensors;
use safetensors::tensor::{Dtype, TensorView};

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

pub fn read_fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).unwrap_or_else(|err| panic!("fixture {name}: {err} (run scripts/make_fixtures.py)"))
}

pub fn gunzip_fixture(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(read_fixture(name).as_slice()).read_to_end(&mut out).unwrap();
    out
}

/// Every tensor of a safetensors fixture as f32 (f16 widened), with its shape.
pub fn safetensors_f32(bytes: &[u8]) -> HashMap<String, (Vec<usize>, Vec<f32>)> {
    let file = SafeTensors::deserialize(bytes).unwrap();
    file.tensors()
        .into_iter()
        .map(|(name, view)| {
            let values = match view.dtype() {
                Dtype::F32 => view.data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect(),
                Dtype::F16 => {
                    view.data().chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect()
                }
                other => panic!("unexpected dtype {other:?}"),
            };
            (name, (view.shape().to_vec(), values))
        })
        .collect()
}

/// One entry of `resnet18_keys.json`: torchvision resnet18's state_dict, in order.
#[derive(serde::Deserialize)]
pub struct KeySpec {
    pub key: String,
    pub shape: Vec<usize>,
    pub dtype: String,
}

#[derive(serde::Deserialize)]
pub struct Manifest {
    pub images: Vec<String>,
    pub keys: Vec<KeySpec>,
}

pub fn manifest() -> Manifest {
    serde_json::from_slice(&read_fixture("resnet18_keys.json")).unwrap()
}

/// A torchvision model's state_dict keys, in order, from `<model>_keys.json`.
pub fn torchvision_keys(model: &str) -> Vec<KeySpec> {
    keys_from_json(&read_fixture(&format!("{model}_keys.json")))
}

/// The keys of a `<model>_keys.json` file's bytes (in the browser, where there is no file system).
pub fn keys_from_json(json: &[u8]) -> Vec<KeySpec> {
    #[derive(serde::Deserialize)]
    struct Keys {
        keys: Vec<KeySpec>,
    }
    serde_json::from_slice::<Keys>(json).unwrap().keys
}

/// torchvision's mobilenet_v2 state_dict keys, in order.
pub fn mobilenet_v2_keys() -> Vec<KeySpec> {
    torchvision_keys("mobilenet_v2")
}

fn fnv1a64(text: &str) -> u64 {
    text.bytes().fold(0xCBF29CE484222325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100000001B3))
}

fn splitmix64(state: u64) -> u64 {
    let mut z = state.wrapping_add(0x9E3779B97F4A7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
    z ^ (z >> 31)
}

/// The same values as `parameter(key, shape, "seeded")` in scripts/make_fixtures.py.
pub fn seeded_parameter(key: &str, shape: &[usize]) -> Vec<f32> {
    let n: usize = shape.iter().product();
    let seed = fnv1a64(key);
    let r = (0..n as u64).map(|i| (splitmix64(seed.wrapping_add(i)) >> 40) as f32 / 16777216.0 * 2.0 - 1.0);
    let leaf = key.rsplit('.').next().unwrap();
    if shape.len() == 4 {
        let scale = (6.0 / (shape[1] * shape[2] * shape[3]) as f64).sqrt() as f32;
        r.map(|r| r * scale).collect()
    } else if shape.len() == 2 || key.starts_with("fc.") {
        // Linear layers: 1/√fan_in; fc's bias as ResNet18's (fan-in 512).
        let fan_in = if shape.len() == 2 { shape[1] } else { 512 };
        let scale = (1.0 / (fan_in as f64).sqrt()) as f32;
        r.map(|r| r * scale).collect()
    } else {
        match leaf {
            "weight" => r.map(|r| 1.0 + 0.2 * r).collect(),
            "bias" | "running_mean" => r.map(|r| 0.1 * r).collect(),
            "running_var" => r.map(|r| 1.0 + 0.25 * (r + 1.0)).collect(),
            _ => panic!("no generator for {key}"),
        }
    }
}

/// A safetensors file of torchvision resnet18 with seeded weights, in memory, filtered and
/// reshaped by `edit` (which may drop or change entries) so that tests can break it on purpose.
pub fn seeded_safetensors(edit: impl Fn(&str, Vec<usize>) -> Option<(String, Vec<usize>)>) -> Vec<u8> {
    seeded_state_dict(manifest().keys, edit)
}

/// A safetensors file with seeded values for `keys`, as [`seeded_safetensors`] for any model.
pub fn seeded_state_dict(
    keys: Vec<KeySpec>,
    edit: impl Fn(&str, Vec<usize>) -> Option<(String, Vec<usize>)>,
) -> Vec<u8> {
    let mut entries: Vec<(String, Vec<usize>, Vec<u8>, Dtype)> = Vec::new();
    for spec in keys {
        let Some((key, shape)) = edit(&spec.key, spec.shape.clone()) else { continue };
        if spec.dtype == "int64" {
            entries.push((key, shape, 0i64.to_le_bytes().to_vec(), Dtype::I64));
        } else {
            let values = seeded_parameter(&spec.key, &shape);
            entries.push((key, shape, values.iter().flat_map(|v| v.to_le_bytes()).collect(), Dtype::F32));
        }
    }
    let views: Vec<(String, TensorView)> = entries
        .iter()
        .map(|(key, shape, bytes, dtype)| (key.clone(), TensorView::new(*dtype, shape.clone(), bytes).unwrap()))
        .collect();
    safetensors::serialize(views, None).unwrap()
}

/// A safetensors file with seeded values for every one of `keys`, unchanged.
pub fn seeded_model(keys: Vec<KeySpec>) -> Vec<u8> {
    seeded_state_dict(keys, |key, shape| Some((key.to_string(), shape)))
}

/// The unchanged seeded state_dict.
pub fn seeded_resnet18() -> Vec<u8> {
    seeded_model(manifest().keys)
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// A linear head with PyTorch's `[out, in]` weight (Burn's `[in, out]`, transposed) and bias.
fn head_from_torch(weight: Vec<f32>, bias: Vec<f32>, width: usize, classes: usize, device: &Device) -> Linear {
    let mut head = head_config(width, classes).init(device);
    let torch_weight = Tensor::<2>::from_data(TensorData::new(weight, [classes, width]), device);
    head.weight = Param::from_tensor(torch_weight.transpose());
    head.bias = Some(Param::from_data(TensorData::new(bias, [classes]), device));
    head
}

/// A tensor's values, read back asynchronously (as the browser requires).
pub async fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.into_data_async().await.unwrap().try_to_vec::<f32>().unwrap()
}

/// What our [`BackboneTraining`] does with a run recorded in `backbone_training.safetensors`.
pub struct BackboneReplay {
    pub losses: Vec<f32>,
    pub expected_losses: Vec<f32>,
    /// The logits of every input in evaluation mode after the steps, flattened.
    pub logits: Vec<f32>,
    pub expected_logits: Vec<f32>,
}

/// Replays the fixture's `strategy` run ("last_stage": the last stage + head; "full") through
/// [`BackboneTraining`] on `device`: MobileNetV2's real weights (`mobilenet_v2`), the fixture's
/// head, the fixture photos as torchvision transformed them (`inputs`, `[8, 3, 224, 224]`), and
/// PyTorch's batches and SGD settings as the fixture records them.
pub async fn replay_backbone_training(
    fixture: &[u8],
    mobilenet_v2: &[u8],
    inputs: &[f32],
    strategy: &str,
    device: &Device,
) -> BackboneReplay {
    let tensors = safetensors_f32(fixture);
    let get = |name: &str| tensors[name].clone();
    let labels: Vec<usize> = get("labels").1.iter().map(|&l| l as usize).collect();
    let (weight_shape, weight) = get("initial_weight");
    let head = head_from_torch(weight, get("initial_bias").1, weight_shape[1], weight_shape[0], device);
    let backbone = load_pretrained(mobilenet_v2, device).unwrap().backbone;
    let strategy_kind = match strategy {
        "last_stage" => Strategy::LastStages { stages: 1 },
        "full" => Strategy::Full,
        other => panic!("no {other} run in the fixture"),
    };
    // Stored as float32; their shortest decimals are the Python literals (1e-3, not 1.00000005e-3).
    let sgd: Vec<f64> = get("sgd").1.iter().map(|v| v.to_string().parse().unwrap()).collect();
    let config = TrainConfig {
        learning_rate: sgd[0],
        optimizer: OptimizerKind::Sgd { momentum: sgd[1] },
        ..TrainConfig::default()
    };
    let mut learner = BackboneTraining::new(backbone, head, strategy_kind, &config, device, 1);
    let per_image = 3 * 224 * 224;
    let pixels = |from: usize, to: usize| {
        let values = inputs[from * per_image..to * per_image].to_vec();
        BackboneInput::Pixels(Tensor::from_data(TensorData::new(values, [to - from, 3, 224, 224]), device))
    };
    let mut losses = Vec::new();
    let batches: Vec<(usize, usize)> = get("batches").1.chunks(2).map(|b| (b[0] as usize, b[1] as usize)).collect();
    for (from, to) in batches {
        let (loss, _) = learner.train_step(pixels(from, to), &labels[from..to], 1).unwrap();
        losses.push(loss.into_scalar_async::<f32>().await.unwrap());
    }
    let logits = values(learner.evaluate(pixels(0, inputs.len() / per_image)).unwrap()).await;
    BackboneReplay {
        losses,
        expected_losses: get(&format!("{strategy}_losses")).1,
        logits,
        expected_logits: get(&format!("{strategy}_logits")).1,
    }
}

/// What our [`HeadTrainer`] does with the run recorded in `head_training.safetensors`: the same
/// initial head, the same batches in the same order and the same optimiser as PyTorch there.
pub struct HeadReplay {
    pub losses: Vec<f32>,
    pub expected_losses: Vec<f32>,
    /// Final `[out, in]` weight and bias, flattened, as PyTorch stores them.
    pub parameters: Vec<f32>,
    pub expected_parameters: Vec<f32>,
}

/// Replays the fixture's `optimizer` run ("adam": lr 1e-3; "sgd": lr 1e-2, momentum 0.9) on
/// `device`, reading every loss back asynchronously (as the browser requires).
pub async fn replay_head_training(fixture: &[u8], optimizer_name: &str, device: &Device) -> HeadReplay {
    let tensors = safetensors_f32(fixture);
    let get = |name: &str| tensors[name].clone();
    let (feature_shape, features) = get("features");
    let (n, width) = (feature_shape[0], feature_shape[1]);
    let labels: Vec<usize> = get("labels").1.iter().map(|&l| l as usize).collect();
    let (weight_shape, initial_weight) = get("initial_weight");
    let classes = weight_shape[0];
    let head = head_from_torch(initial_weight, get("initial_bias").1, width, classes, device);
    let (learning_rate, optimizer) = match optimizer_name {
        "adam" => (1e-3, OptimizerKind::Adam),
        "sgd" => (1e-2, OptimizerKind::Sgd { momentum: 0.9 }),
        other => panic!("no {other} run in the fixture"),
    };
    let config = TrainConfig { learning_rate, optimizer, batch_size: 32, ..TrainConfig::default() };
    let mut trainer = HeadTrainer::new(head, &config);
    let mut losses = Vec::new();
    for order in get("orders").1.chunks(n) {
        for batch in order.chunks(config.batch_size) {
            let picked: Vec<usize> = batch.iter().map(|&i| i as usize).collect();
            let values = picked.iter().flat_map(|&i| features[i * width..(i + 1) * width].to_vec()).collect();
            let batch_labels: Vec<usize> = picked.iter().map(|&i| labels[i]).collect();
            let input = Tensor::<2>::from_data(TensorData::new(values, [picked.len(), width]), device);
            let (loss, _) = trainer.step(input, &batch_labels);
            losses.push(loss.into_scalar_async::<f32>().await.unwrap());
        }
    }
    let head = trainer.head();
    let weight = values(head.weight.val().transpose()).await;
    let bias = values(head.bias.unwrap().val()).await;
    let mut parameters = weight;
    parameters.extend(bias);
    let mut expected_parameters = get(&format!("{optimizer_name}_weight")).1;
    expected_parameters.extend(get(&format!("{optimizer_name}_bias")).1);
    HeadReplay { losses, expected_losses: get(&format!("{optimizer_name}_losses")).1, parameters, expected_parameters }
}
