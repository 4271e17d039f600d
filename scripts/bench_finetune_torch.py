#!/usr/bin/env python3
"""The fine-tuning strategies in plain PyTorch, the seed lesson's recipe, for the fine-tuning
benchmark (`./build.sh bench-finetune`): the reference our engine's figures stand beside.

Usage: bench_finetune_torch.py DATASET BACKBONE STRATEGY [SEEDS] [WEIGHTS_DIR]
  BACKBONE: resnet18 | mobilenet_v2 | efficientnet_lite0 (weights from WEIGHTS_DIR, default
            weights/; seeded random weights where the file is absent, and the line says so)
  STRATEGY: head_only | last_stages:K | full | progressive[:EVERY]  (as the page's menu)
  SEEDS:    how many seeds, 0..SEEDS-1 (default 5; from --first-seed N: N..N+SEEDS-1)

The recipe: ImageFolder train/ and val/; Resize 256 + CenterCrop 224 for validation and for
head-only training (our head-only run trains on the centre crop's cached features);
RandomResizedCrop 224 + RandomHorizontalFlip when the backbone trains; batch 32 shuffled, Adam
lr 1e-3, cross-entropy, 10 epochs; the frozen part's BatchNorm in eval mode. The stages are ours
(src/model/backbone.rs): ResNet's layer1–4, the inverted-residual networks' seven block groups with
their final 1×1 convolution in the last. The head is a new nn.Linear behind the Dropout that
torchvision's classifier has before it (MobileNetV2 0.2; EfficientNet-Lite0's package 0.2; ResNet
none), as the lesson's model keeps it; `--no-dropout` leaves it out, as our engine does (README,
"Fine-tuning"). Images are decoded once before
training: the images/s figure is forward + backward + Adam step (augmentation included, decoding
excluded), 2 threads.

Prints per seed `pytorch backbone=… strategy=… seed=… val_accuracy=… train_images_per_s=…` and
then `pytorch backbone=… strategy=… mean=… std=… min=… max=… runs=…`.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
import torchvision
from PIL import Image
from torchvision import transforms

sys.path.insert(0, str(Path(__file__).resolve().parent))
from export_onnx import BACKBONES, feature_extractor  # noqa: E402

EPOCHS, BATCH, LEARNING_RATE = 10, 32, 1e-3
# The seven block groups' first blocks (src/model/inverted_residual.rs, `stage_starts`).
STAGE_STARTS = {"mobilenet_v2": [0, 1, 3, 6, 10, 13, 16], "efficientnet_lite0": [0, 1, 3, 5, 8, 11, 15]}
DROPOUT = {"resnet18": 0.0, "mobilenet_v2": 0.2, "efficientnet_lite0": 0.2}
MAX_TRAINED_STAGES = 4


def normalisation(name):
    if name == "efficientnet_lite0":
        return transforms.Normalize([127 / 255] * 3, [128 / 255] * 3)
    return transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])


def stages(name, model):
    """The backbone's stages in order, each a list of modules (the stem belongs to none)."""
    if name == "resnet18":
        return [[model.layer1], [model.layer2], [model.layer3], [model.layer4]]
    if name == "mobilenet_v2":
        blocks, head = list(model.features)[1:18], [model.features[18]]
    else:
        blocks, head = list(model._blocks), [model._conv_head, model._bn1]
    starts = STAGE_STARTS[name] + [len(blocks)]
    groups = [blocks[a:b] for a, b in zip(starts, starts[1:])]
    groups[-1] += head
    return groups


def trained_stages(strategy, epoch):
    """Stages trained in `epoch` (1-based) besides the head; None: everything."""
    kind, _, value = strategy.partition(":")
    if kind == "head_only":
        return 0
    if kind == "last_stages":
        return int(value)
    if kind == "full":
        return None
    if kind == "progressive":
        return min((epoch - 1) // int(value or 2), MAX_TRAINED_STAGES)
    sys.exit(f"unknown strategy {strategy}")


def load_images(folder):
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    images = []
    for label, name in enumerate(classes):
        for path in sorted((folder / name).iterdir()):
            with Image.open(path) as image:
                images.append((image.convert("RGB"), label))
    return classes, images


def build(name, classes, dropout, weights_dir):
    backbone, source = feature_extractor(name, weights_dir)
    width = {"resnet18": 512}.get(name, 1280)
    head = torch.nn.Linear(width, classes)
    layers = [torch.nn.Dropout(DROPOUT[name])] if dropout and DROPOUT[name] else []
    return backbone, torch.nn.Sequential(*layers, head), source


def set_trainable(name, backbone, trained):
    """Freezes all but the last `trained` stages (None: nothing), BatchNorm there in eval mode."""
    groups = stages(name, backbone)
    backbone.train()
    for param in backbone.parameters():
        param.requires_grad = trained is None
    if trained is None:
        return
    backbone.eval()
    for group in groups[len(groups) - trained:] if trained else []:
        for module in group:
            module.train()
            for param in module.parameters():
                param.requires_grad = True


def run(args, seed, train_images, val_images, classes):
    torch.manual_seed(seed)
    backbone, head, source = build(args.backbone, len(classes), args.dropout, args.weights)
    model = torch.nn.Sequential(backbone, head)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    normalise = normalisation(args.backbone)
    evaluation = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(), normalise])
    augmented = transforms.Compose([transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip(), transforms.ToTensor(), normalise])
    val_inputs = torch.stack([evaluation(image) for image, _ in val_images])
    val_labels = torch.tensor([label for _, label in val_images])
    centre = torch.stack([evaluation(image) for image, _ in train_images])
    labels = torch.tensor([label for _, label in train_images])
    generator = torch.Generator().manual_seed(seed)
    seconds, images_trained = 0.0, 0
    for epoch in range(1, EPOCHS + 1):
        trained = trained_stages(args.strategy, epoch)
        set_trainable(args.backbone, backbone, trained)
        head.train()
        order = torch.randperm(len(train_images), generator=generator)
        for start in range(0, len(order), BATCH):
            picked = order[start:start + BATCH]
            began = time.perf_counter()
            if trained == 0 and args.strategy == "head_only":
                inputs = centre[picked]
            else:
                inputs = torch.stack([augmented(train_images[i][0]) for i in picked.tolist()])
            loss = torch.nn.functional.cross_entropy(model(inputs), labels[picked])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            seconds += time.perf_counter() - began
            images_trained += len(picked)
    model.eval()
    with torch.no_grad():
        predicted = torch.cat([model(val_inputs[i:i + 64]).argmax(1) for i in range(0, len(val_inputs), 64)])
    return float((predicted == val_labels).float().mean()), images_trained / seconds, source


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("backbone", choices=sorted(BACKBONES))
    parser.add_argument("strategy")
    parser.add_argument("seeds", nargs="?", type=int, default=5)
    parser.add_argument("weights", nargs="?", type=Path, default=Path(__file__).resolve().parent.parent / "weights")
    parser.add_argument("--no-dropout", dest="dropout", action="store_false", help="no Dropout before the new head (as ours)")
    parser.add_argument("--first-seed", type=int, default=0, help="seeds FIRST..FIRST+SEEDS-1 (to add seeds to a run)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    classes, train_images = load_images(args.dataset / "train")
    _, val_images = load_images(args.dataset / "val")
    accuracies = []
    tag = f"pytorch backbone={args.backbone} strategy={args.strategy} dropout={DROPOUT[args.backbone] if args.dropout else 0}"
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        accuracy, rate, source = run(args, seed, train_images, val_images, classes)
        accuracies.append(accuracy)
        print(f"{tag} seed={seed} val_accuracy={accuracy:.4f} train_images_per_s={rate:.2f} ({source})", flush=True)
    spread = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
    print(f"{tag} mean={statistics.mean(accuracies):.4f} std={spread:.4f} min={min(accuracies):.4f} "
          f"max={max(accuracies):.4f} runs={len(accuracies)}", flush=True)


if __name__ == "__main__":
    main()
