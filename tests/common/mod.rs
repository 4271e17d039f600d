//! Shared by the native integration tests: the fixtures written by `scripts/make_fixtures.py`
//! and the deterministic weights generator it uses, mirrored bit for bit.

#![allow(dead_code)] // each test binary uses its own part of this module

use std::collections::HashMap;
use std::io::Read;
use std::path::PathBuf;

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
    } else if key.starts_with("fc.") {
        let scale = (1.0 / 512.0f64.sqrt()) as f32;
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
    let mut entries: Vec<(String, Vec<usize>, Vec<u8>, Dtype)> = Vec::new();
    for spec in manifest().keys {
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

/// The unchanged seeded state_dict.
pub fn seeded_resnet18() -> Vec<u8> {
    seeded_safetensors(|key, shape| Some((key.to_string(), shape)))
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}
