#!/usr/bin/env python3
"""Writes the PyTorch references for the backbones added after the first three (ResNet34,
ResNet50, MobileNetV3-Small and -Large, VGG11-BN, VGG16, AlexNet, EfficientNet-B0, DenseNet121, Inception v3),
on the inputs make_fixtures.py wrote:

- <arch>_keys.json: torchvision's state_dict keys, shapes and dtypes, in order;
- seeded_family_logits.safetensors: for each architecture, the logits of torchvision's model
  whose weights come from make_fixtures.py's deterministic generator (mirrored in
  tests/common/mod.rs), on the photos of transforms.safetensors in the manifest's order;
- bicubic_resize.safetensors: Pillow's bicubic resize (EfficientNet-B0's transforms) of a 40×30
  crop of coffee.png down to 17×13 and up to 59×44, with the crop itself (RGB values as float32).

Run from the repository root:  python3 scripts/make_family_fixtures.py
Needs: torch, torchvision, safetensors, numpy.
"""
import json
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image
from safetensors.numpy import load_file, save_file

from make_fixtures import OUT, key_specs, parameter

ARCHITECTURES = [
    "resnet34",
    "resnet50",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "vgg11_bn",
    "vgg16",
    "alexnet",
    "efficientnet_b0",
    "densenet121",
    "inception_v3",
]


def seeded(model: torch.nn.Module) -> torch.nn.Module:
    state = {
        key: torch.zeros((), dtype=torch.int64) if key.endswith("num_batches_tracked")
        else torch.from_numpy(parameter(key, tuple(value.shape), "seeded"))
        for key, value in model.state_dict().items()
    }
    model.load_state_dict(state)
    return model.eval()


def main() -> None:
    torch.manual_seed(0)
    names = json.loads((OUT / "resnet18_keys.json").read_text())["images"]
    inputs = load_file(OUT / "transforms.safetensors")
    batch = torch.from_numpy(np.stack([inputs[name].astype(np.float32) for name in names]))
    logits = {}
    for arch in ARCHITECTURES:
        # Inception v3 as torchvision builds it without weights: transform_input off, with its
        # auxiliary classifier (in the keys; unused in evaluation mode).
        options = {"init_weights": False} if arch == "inception_v3" else {}
        model = getattr(torchvision.models, arch)(weights=None, **options)
        (OUT / f"{arch}_keys.json").write_text(json.dumps({"keys": key_specs(model.state_dict())}, indent=1) + "\n")
        with torch.no_grad():
            logits[arch] = seeded(model)(batch).numpy()
        print(f"{arch}: logits up to {np.abs(logits[arch]).max():.1f}")
    save_file(logits, OUT / "seeded_family_logits.safetensors")
    source = Image.open(OUT / "images" / "coffee.png").convert("RGB").crop((100, 80, 140, 110))
    resized = {
        "source": source,
        "down": source.resize((17, 13), Image.BICUBIC),
        "up": source.resize((59, 44), Image.BICUBIC),
    }
    save_file({name: np.asarray(image, dtype=np.float32) for name, image in resized.items()}, OUT / "bicubic_resize.safetensors")


if __name__ == "__main__":
    main()
