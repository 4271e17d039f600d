#!/usr/bin/env bash
# "Not one of my classes", measured: a head trained on an ImageFolder DATASET with WEIGHTS (seed 0,
# head only) is exported with its threshold (examples/bench_accuracy.rs, BENCH_EXPORT); our engine
# scores the validation photos (known) and photos of other subjects (unknown: the test fixtures'
# photos and crops of them, or the images in UNKNOWN_DIR) by their top-class probability
# (examples/export_logits.rs); scripts/check_unknown.py prints the AUROC and the share of unknowns
# under the stored threshold, with the share of known photos kept.
# Usage: scripts/bench_unknown.sh DATASET WEIGHTS [UNKNOWN_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
dataset=$(cd "${1:?usage: scripts/bench_unknown.sh DATASET WEIGHTS [UNKNOWN_DIR]}" && pwd)
weights="${2:?usage: scripts/bench_unknown.sh DATASET WEIGHTS [UNKNOWN_DIR]}"
python3 -c "import PIL, safetensors, numpy" 2>/dev/null || python3 -m pip install --quiet pillow safetensors numpy
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
BENCH_SEEDS=1 BENCH_EXPORT="$out" cargo run --release --quiet --example bench_accuracy -- "$dataset" "$weights" | grep -E "^native-cpu seed"
export_file=$(ls "$out"/*.safetensors | grep -v -- -f16)
unknown_dir="${3:-}"
if [ -z "$unknown_dir" ]; then
  unknown_dir="$out/unknown"
  python3 scripts/check_unknown.py --crops tests/fixtures/images "$unknown_dir"
fi
cargo run --release --quiet --example export_logits -- "$export_file" "$out/known.safetensors" "$dataset"/val/*/*
cargo run --release --quiet --example export_logits -- "$export_file" "$out/unknown.safetensors" "$unknown_dir"/*
python3 scripts/check_unknown.py "$export_file" "$out/known.safetensors" "$out/unknown.safetensors"
