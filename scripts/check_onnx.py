#!/usr/bin/env python3
"""The other side of the ONNX check: each OUT_DIR/<Architecture>.onnx that examples/onnx_logits.rs
wrote (<Architecture>[-…].onnx) passes onnx's full checker (shape inference included), and onnxruntime gives, on the same
preprocessed photos, the logits our engine gave (OUT_DIR/<Architecture>.safetensors) within 1e-4
of their scale — for the whole batch and for one image, as the batch is left open — with the
model card (architecture, one class name per output) in metadata_props. A <name>-int8.onnx (int8
weights) differs by its rounding: its logits are reported, and its top-1 must agree with ours on
all photos but one (its accuracy is measured on real data by scripts/bench_onnx_accuracy.sh); one
image alone and in the batch may differ by a few quantisation steps (onnxruntime picks its int8
kernels by shape, and a float difference at a rounding boundary moves a value a whole step), so
within INT8_BATCH_TOLERANCE of their scale.

Usage: python3 scripts/check_onnx.py OUT_DIR    Needs: onnx, onnxruntime, safetensors, numpy.
"""
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from safetensors.numpy import load_file

TOLERANCE = 1e-4
# About one of the output quantiser's 256 steps, as a share of the logits' scale.
INT8_BATCH_TOLERANCE = 1 / 256

failures = []
files = sorted(Path(sys.argv[1]).glob("*.onnx"))
if not files:
    sys.exit(f"no .onnx files in {sys.argv[1]}")
for path in files:
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    metadata = {entry.key: entry.value for entry in model.metadata_props}
    int8 = path.stem.endswith("-int8")
    reference = load_file(str(path.with_name(path.stem.removesuffix("-int8") + ".safetensors")))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    logits = session.run(None, {"images": reference["inputs"]})[0]
    single = session.run(None, {"images": reference["inputs"][:1]})[0]
    scale = max(1.0, float(np.abs(reference["logits"]).max()))
    difference = float(np.abs(logits - reference["logits"]).max())
    batch_difference = float(np.abs(single - logits[:1]).max())
    agreeing = int((logits.argmax(1) == reference["logits"].argmax(1)).sum())
    same_top1 = agreeing == len(logits)
    print(
        f"onnx {path.stem}: opset {model.opset_import[0].version}, {path.stat().st_size / 1e6:.1f} MB, "
        f"max |onnxruntime − ours| = {difference:.2e} (logits up to {scale:.1f}), batch of 1 vs batch: "
        f"{batch_difference:.2e}, same top-1: {agreeing}/{len(logits)}"
    )
    if int8:
        if agreeing < len(logits) - 1:
            failures.append(f"{path.stem}: top-1 agrees with ours on {agreeing} of {len(logits)} photos")
        if batch_difference > INT8_BATCH_TOLERANCE * scale:
            failures.append(f"{path.stem}: one image alone differs from it in the batch by {batch_difference:.2e}")
    elif difference > TOLERANCE * scale or batch_difference > TOLERANCE * scale or not same_top1:
        failures.append(f"{path.stem}: logits differ from ours by {difference:.2e}")
    classes = json.loads(metadata.get("classes", "[]"))
    if len(classes) != logits.shape[1] or metadata.get("architecture") != path.stem.split("-")[0]:
        failures.append(f"{path.stem}: metadata_props lack the model card: {sorted(metadata)}")
if failures:
    sys.exit("ONNX check failed:\n  " + "\n  ".join(failures))
print(f"ONNX export: {len(files)} files agree with our engine through onnxruntime")
