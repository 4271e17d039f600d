#!/usr/bin/env bash
# Validation accuracy of the ONNX exports, float32 and int8 weights, through onnxruntime, beside
# our engine's, on an ImageFolder DATASET (train/, val/): a head trained on DATASET with WEIGHTS
# (seed 0, head only) is exported as the page does (examples/bench_accuracy.rs, BENCH_EXPORT), our
# engine preprocesses every validation photo and gives its logits (examples/export_logits.rs), and
# onnxruntime runs both ONNX files on the same pixels (scripts/check_onnx_accuracy.py).
# Usage: scripts/bench_onnx_accuracy.sh DATASET WEIGHTS
set -euo pipefail
cd "$(dirname "$0")/.."
dataset=$(cd "${1:?usage: scripts/bench_onnx_accuracy.sh DATASET WEIGHTS}" && pwd)
weights="${2:?usage: scripts/bench_onnx_accuracy.sh DATASET WEIGHTS}"
python3 -c "import onnx, onnxruntime, safetensors, numpy" 2>/dev/null ||
  python3 -m pip install --quiet onnx onnxruntime safetensors numpy
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
BENCH_SEEDS=1 BENCH_EXPORT="$out" cargo run --release --quiet --example bench_accuracy -- "$dataset" "$weights" | grep -E "^(native|export)"
export_file=$(ls "$out"/*.safetensors | grep -v -- -f16)
cargo run --release --quiet --example export_logits -- "$export_file" "$out/val.safetensors" "$dataset"/val/*/*
python3 scripts/check_onnx_accuracy.py "$out" "$dataset"/val/*/*
