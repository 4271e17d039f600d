#!/usr/bin/env bash
# Tests scripts/continue_training.py when torch is installed (skipped otherwise): one short epoch
# on a small generated ImageFolder on the CPU, alone and as a 2-process torchrun (Gloo); each
# result must load back strictly with the same classes in the same order.
# Usage: scripts/test_continue_training.sh [EXPORT] (default: a random ResNet18 export made here; an
# EXPORT must have the classes cool and warm). The results stay in test-results/continued-*.safetensors.
set -euo pipefail
given="${1:+$(realpath "$1")}"
cd "$(dirname "$0")"
if ! python3 -c "import torch, torchvision, safetensors" 2>/dev/null; then
  echo "skipped: PyTorch is not installed"
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1
python3 - "$work" "$given" <<'PY'
import sys
from pathlib import Path
import torchvision
from PIL import Image
from export_format import write_export

work, given = Path(sys.argv[1]), sys.argv[2]
colours = {"cool": (30, 90, 210), "warm": (220, 80, 30)}
for subset, count in (("train", 6), ("val", 3)):
    for name, (r, g, b) in colours.items():
        (work / "data" / subset / name).mkdir(parents=True)
        for i in range(count):
            image = Image.new("RGB", (64, 48), (r, (g + 11 * i) % 256, b))
            image.save(work / "data" / subset / name / f"{i}.png")
if not given:
    metadata = {"architecture": "ResNet18", "classes": ["warm", "cool"],  # not sorted: order must survive
                "preprocess": {"resize_shorter": 256, "crop": 224, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}}
    write_export(work / "in.safetensors", torchvision.models.resnet18(num_classes=2), metadata, {"strategy": {"kind": "head_only"}})
PY
input="${given:-$work/in.safetensors}"
python3 continue_training.py --export "$input" --data "$work/data" --out "$work/one.safetensors" --epochs 1 --batch-size 4
torchrun --standalone --nproc_per_node=2 continue_training.py --export "$input" --data "$work/data" \
  --out "$work/two.safetensors" --epochs 1 --batch-size 4 --strategy full
python3 - "$input" "$work/one.safetensors" "$work/two.safetensors" <<'PY'
import sys
from export_format import load_model

_, before = load_model(sys.argv[1])
for path in sys.argv[2:]:
    _, after = load_model(path)  # strict=True
    assert after["classes"] == before["classes"], (after["classes"], before["classes"])
    assert after["training"]["epochs_completed"] == 1, after["training"]
    print(f"{path}: loads strictly, classes {after['classes']}, trained with {after['training']['trained_with']}")
print("continue_training: 2 passed, 0 failed")
PY
mkdir -p ../test-results
cp "$work/one.safetensors" ../test-results/continued-one-process.safetensors
cp "$work/two.safetensors" ../test-results/continued-two-processes.safetensors
