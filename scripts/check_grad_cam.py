#!/usr/bin/env python3
"""Grad-CAM parity: our engine's heat maps (examples/grad_cam.rs) against Grad-CAM computed with
PyTorch hooks on the same exported model, the same inputs and classes: the target layer's
activations A and the class logit's gradient G captured by hooks, map = ReLU(sum_k mean(G_k) A_k),
scaled to [0, 1] by (m - min) / (max - min) as pytorch-grad-cam scales it.

Usage: check_grad_cam.py OUT_DIR   (every <name>-cam.safetensors there, beside <name>.safetensors)
Prints the largest difference per model; exits 1 above 1e-3.
"""
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

from export_format import load_model

BOUND = 1e-3
# The output of each backbone's last stage, under torchvision's (and the Lite0 package's) names.
TARGETS = {
    "ResNet18": lambda m: m.layer4, "ResNet34": lambda m: m.layer4, "ResNet50": lambda m: m.layer4,
    "MobileNetV2": lambda m: m.features[17],
    "EfficientNetLite0": lambda m: m._blocks[-1],
}


def grad_cam(model, target, image, cls):
    captured = {}

    def keep(_module, _inputs, output):
        captured["a"] = output
        output.register_hook(lambda gradient: captured.update(g=gradient))

    handle = target.register_forward_hook(keep)
    try:
        logits = model(image)
        model.zero_grad()
        logits[0, cls].backward()
    finally:
        handle.remove()
    weights = captured["g"].mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((weights * captured["a"]).sum(1))[0].detach()
    low, high = cam.min(), cam.max()
    return (cam - low) / (high - low) if high > low else torch.zeros_like(cam)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    failed = False
    for cams in sorted(Path(sys.argv[1]).glob("*-cam.safetensors")):
        name = cams.name.removesuffix("-cam.safetensors")
        model, metadata = load_model(str(cams.with_name(f"{name}.safetensors")))
        ours = load_file(str(cams))
        target = TARGETS[metadata["architecture"]](model)
        largest = 0.0
        for image, ours_map, cls in zip(ours["inputs"], ours["maps"], ours["classes"]):
            theirs = grad_cam(model, target, image[None], int(cls))
            largest = max(largest, (theirs - ours_map).abs().max().item())
        print(f"grad-cam {name}: {len(ours['maps'])} maps of {tuple(ours['maps'].shape[1:])}, largest difference {largest:.2e} (bound {BOUND:g})")
        failed |= largest > BOUND
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
