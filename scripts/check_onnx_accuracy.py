#!/usr/bin/env python3
"""Validation accuracy of OUT_DIR's ONNX exports (every *.onnx) through onnxruntime beside our
engine's, on the pixels and logits our engine wrote (OUT_DIR/val.safetensors: `inputs`, `logits`)
for IMAGE..., each labelled by its folder's name (an ImageFolder's val/CLASS/FILE).

Usage: python3 scripts/check_onnx_accuracy.py OUT_DIR IMAGE...   Needs: onnxruntime, safetensors, numpy.
"""
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from safetensors.numpy import load_file

out, images = Path(sys.argv[1]), [Path(image) for image in sys.argv[2:]]
reference = load_file(str(out / "val.safetensors"))
for path in sorted(out.glob("*.onnx")):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    classes = json.loads(session.get_modelmeta().custom_metadata_map["classes"])
    labels = np.array([classes.index(image.parent.name) for image in images])
    logits = np.concatenate([session.run(None, {"images": reference["inputs"][i : i + 32]})[0] for i in range(0, len(images), 32)])
    ours = (reference["logits"].argmax(1) == labels).mean()
    theirs = (logits.argmax(1) == labels).mean()
    agreement = (logits.argmax(1) == reference["logits"].argmax(1)).mean()
    print(
        f"onnx-accuracy {path.name}: {path.stat().st_size / 1e6:.2f} MB, val_accuracy={theirs:.4f} "
        f"(ours {ours:.4f}, {100 * (theirs - ours):+.2f} points), same top-1 as ours on {100 * agreement:.1f} % "
        f"of {len(images)} photos, max |logit − ours| = {np.abs(logits - reference['logits']).max():.2e}"
    )
