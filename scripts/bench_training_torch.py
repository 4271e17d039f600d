#!/usr/bin/env python3
"""Fine-tuning throughput in PyTorch on the same 2 threads: the reference beside
`examples/bench_training.rs` (`./build.sh bench-training`).

Usage: bench_training_torch.py [--gpu] DATASET [BACKBONE ...]
  BACKBONE: resnet18 | mobilenet_v2 | efficientnet_lite0 (default: all three), seeded random
            weights (throughput does not depend on their values)
  BENCH_STRATEGIES: as the native benchmark's (default "last_stages:1 full")
  BENCH_STEPS: steps timed after one untimed warm-up step (default 3)

The photos of DATASET/train are decoded once; each timed step is what the native figure times:
RandomResizedCrop 224 + horizontal flip, forward, cross-entropy, backward, Adam step, batch 32,
the frozen part's BatchNorm in eval mode (bench_finetune_torch.py's stages). Prints
`pytorch model=M strategy=S batch=32 train_images_per_s=X` (`pytorch-gpu` with `--gpu`: the
model on CUDA, the augmentation still on the CPU as ours, each step synchronised).
"""
import os
import sys
import time
from pathlib import Path

import torch
from torchvision import transforms

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_finetune_torch import BATCH, LEARNING_RATE, build, normalisation, set_trainable, trained_stages  # noqa: E402
from PIL import Image  # noqa: E402


def photos(folder, count):
    """Up to `count` photos, taken in turn from each class folder (as the native benchmark)."""
    classes = [sorted(p.iterdir()) for p in sorted(folder.iterdir()) if p.is_dir()]
    taken = []
    for position in range(max(len(files) for files in classes)):
        for files in classes:
            if position < len(files) and len(taken) < count:
                with Image.open(files[position]) as image:
                    taken.append(image.convert("RGB"))
    return taken


def main():
    arguments = [argument for argument in sys.argv[1:] if argument != "--gpu"]
    gpu = len(arguments) < len(sys.argv) - 1
    if gpu and not torch.cuda.is_available():
        sys.exit("--gpu: PyTorch sees no CUDA device here")
    device, runtime = ("cuda", "pytorch-gpu") if gpu else ("cpu", "pytorch")
    dataset = Path(arguments[0])
    names = arguments[1:] or ["resnet18", "mobilenet_v2", "efficientnet_lite0"]
    steps = int(os.environ.get("BENCH_STEPS", 3))
    strategies = os.environ.get("BENCH_STRATEGIES", "last_stages:1 full").split()
    torch.set_num_threads(2)
    images = photos(dataset / "train", (steps + 1) * BATCH)
    missing = Path("/nonexistent")  # seeded random weights, as the native benchmark's
    for name in names:
        augmented = transforms.Compose([
            transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip(), transforms.ToTensor(),
            normalisation(name)])
        for strategy in strategies:
            torch.manual_seed(0)
            backbone, head, _ = build(name, 2, True, missing)
            model = torch.nn.Sequential(backbone, head).to(device)
            optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
            set_trainable(name, backbone, trained_stages(strategy, 1))
            head.train()
            seconds = 0.0
            for step in range(steps + 1):
                batch = images[step * BATCH:(step + 1) * BATCH]
                labels = (torch.arange(len(batch)) % 2).to(device)
                began = time.perf_counter()
                inputs = torch.stack([augmented(image) for image in batch]).to(device)
                loss = torch.nn.functional.cross_entropy(model(inputs), labels)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                if gpu:
                    torch.cuda.synchronize()
                if step:
                    seconds += time.perf_counter() - began
            print(f"{runtime} model={name} strategy={strategy} batch={BATCH} "
                  f"train_images_per_s={steps * BATCH / seconds:.2f}", flush=True)


if __name__ == "__main__":
    main()
