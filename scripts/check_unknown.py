#!/usr/bin/env python3
"""The "not one of my classes" figures of scripts/bench_unknown.sh.

  check_unknown.py EXPORT KNOWN UNKNOWN   KNOWN / UNKNOWN: logits our engine wrote (export_logits);
                                          prints the AUROC of the top-class probability (known
                                          high, unknown low; at the temperature EXPORT's card
                                          stores, as the engine computes it) and, at the threshold
                                          the card stores (training.unknown_below), the share of
                                          known photos kept and of unknown ones caught.
  check_unknown.py --crops SOURCE OUT     writes each photo of SOURCE and four crops of it (its
                                          corners, 60 % of each side) to OUT as PNG.
Needs: safetensors, numpy (and Pillow for --crops).
"""
import json
import sys
from pathlib import Path

import numpy as np


def crops(source, out):
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.iterdir()):
        image = Image.open(path).convert("RGB")
        width, height = image.size
        w, h = int(width * 0.6), int(height * 0.6)
        stem = path.name.replace(".", "-")  # cat.jpg and cat.gif stay apart
        image.save(out / f"{stem}.png")
        for name, (x, y) in {"tl": (0, 0), "tr": (width - w, 0), "bl": (0, height - h), "br": (width - w, height - h)}.items():
            image.crop((x, y, x + w, y + h)).save(out / f"{stem}-{name}.png")


def top_probability(path, temperature):
    from safetensors.numpy import load_file

    logits = load_file(str(path))["logits"] / temperature
    exp = np.exp(logits - logits.max(1, keepdims=True))
    return (exp / exp.sum(1, keepdims=True)).max(1)


def auroc(known, unknown):
    """P(a known photo scores above an unknown one), ties counting half (Mann–Whitney)."""
    above = (known[:, None] > unknown[None, :]).sum() + 0.5 * (known[:, None] == unknown[None, :]).sum()
    return above / (len(known) * len(unknown))


def main():
    if sys.argv[1] == "--crops":
        crops(Path(sys.argv[2]), Path(sys.argv[3]))
        return
    from safetensors import safe_open

    export, known_path, unknown_path = sys.argv[1:4]
    with safe_open(export, "np") as f:
        training = json.loads(f.metadata()["training"])
    threshold, temperature = training["unknown_below"], training.get("temperature") or 1.0
    known, unknown = top_probability(known_path, temperature), top_probability(unknown_path, temperature)
    print(
        f"unknown: threshold {threshold:.4f} (top-class probability at temperature {temperature:.3f}), AUROC {auroc(known, unknown):.4f}, "
        f"known kept {100 * (known >= threshold).mean():.1f} % of {len(known)}, "
        f"unknown caught {100 * (unknown < threshold).mean():.1f} % of {len(unknown)}"
    )


main()
