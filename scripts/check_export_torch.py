#!/usr/bin/env python3
"""Checks an export of browser-finetune in PyTorch: it loads into its torchvision architecture
with load_state_dict(strict=True), and PyTorch's logits equal ours on the same inputs.

Usage: check_export_torch.py EXPORT OURS.safetensors
OURS holds `inputs` [N,3,H,W] and `logits` [N,classes] from our engine, as written by
`cargo run --example export_logits -- EXPORT OURS IMAGE...`. Exits 1 if the logits differ by
more than 1e-4.
"""
import sys

import torch
from safetensors.torch import load_file

from export_format import load_model

BOUND = 1e-4


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    model, metadata = load_model(sys.argv[1])
    ours = load_file(sys.argv[2])
    with torch.no_grad():
        logits = model(ours["inputs"])
    diff = (logits - ours["logits"]).abs().max().item()
    agree = (logits.argmax(1) == ours["logits"].argmax(1)).sum().item()
    n = logits.shape[0]
    print(f"export check: {metadata['architecture']}, {len(metadata['classes'])} classes, {n} images, "
          f"logits max abs diff {diff:.2e} (bound {BOUND:g}), top-1 agree {agree}/{n}")
    if diff > BOUND or agree != n:
        sys.exit(1)


if __name__ == "__main__":
    main()
