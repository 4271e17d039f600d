#!/usr/bin/env python3
"""Continues training a browser-finetune export in PyTorch, when a model outgrows the tab.

Same architecture, transforms (the export's preprocess), head and class order; an ImageFolder
DATA/train (+ DATA/val), or DATA/<class>/ alone (then no validation). Defaults are the seed
recipe: Adam lr 1e-3, cross-entropy, batch 32 shuffled, 10 epochs. The result is written in the
export format, so the page opens it again.

  python3 scripts/continue_training.py --export in.safetensors --data DIR --out out.safetensors
  torchrun --nproc_per_node=4 scripts/continue_training.py --export … --data … --out …

Under torchrun it uses DistributedDataParallel (NCCL on GPUs, else Gloo); the batch size is per
process, and only rank 0 prints and writes.
"""
import argparse
import os
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler
from torchvision import datasets, transforms

from export_format import load_model, torch_version, write_export

RESNET_STAGES = ["layer1", "layer2", "layer3", "layer4"]


def arguments():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export", required=True, help="a .safetensors downloaded from the page")
    parser.add_argument("--data", required=True, help="ImageFolder: DATA/train and DATA/val, or DATA/<class>")
    parser.add_argument("--out", required=True, help="where to write the trained export")
    parser.add_argument("--strategy", choices=["head_only", "last_stages", "full"])
    parser.add_argument("--stages", type=int, default=1, help="last_stages: how many of ResNet18's layer1–4")
    parser.add_argument("--optimizer", choices=["adam", "sgd"], default="adam")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def folder(path, transform, classes):
    """An ImageFolder whose targets follow the export's class order; other classes are an error."""
    data = datasets.ImageFolder(path, transform=transform)
    missing, extra = sorted(set(classes) - set(data.classes)), sorted(set(data.classes) - set(classes))
    if missing or extra:
        raise SystemExit(f"{path}: the classes must be the model's {classes}; missing {missing}, extra {extra}")
    order = {name: i for i, name in enumerate(classes)}
    data.target_transform = lambda target: order[data.classes[target]]
    return data


def trained_parameters(model, architecture, strategy, stages):
    """Freezes what the strategy does not train (BatchNorm there stays in eval mode in `train_mode`)."""
    head = {"ResNet18": "fc", "MobileNetV2": "classifier", "EfficientNetLite0": "_fc"}[architecture]
    if strategy == "full":
        prefixes = [""]
    elif strategy == "head_only":
        prefixes = [head + "."]
    elif architecture == "ResNet18":
        prefixes = [head + "."] + [stage + "." for stage in RESNET_STAGES[4 - stages:]]
    else:
        raise SystemExit(f"last_stages is supported for ResNet18 here; use head_only or full for {architecture}")
    for name, parameter in model.named_parameters():
        parameter.requires_grad = any(name.startswith(p) for p in prefixes)
    return prefixes


def train_mode(model, prefixes):
    """Training mode only for the trained modules, so frozen BatchNorm keeps its statistics."""
    model.eval()
    for name, module in model.named_modules():
        if name and any((name + ".").startswith(p) for p in prefixes):
            module.train()
    if prefixes == [""]:
        model.train()


def main():
    args = arguments()
    distributed = "WORLD_SIZE" in os.environ
    if distributed:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(args.seed)
    log = print if rank == 0 else (lambda *a, **k: None)

    model, metadata = load_model(args.export)
    classes, pre, architecture = metadata["classes"], metadata["preprocess"], metadata["architecture"]
    strategy = args.strategy or (metadata.get("training") or {}).get("strategy", {}).get("kind", "head_only")
    normalize = [transforms.ToTensor(), transforms.Normalize(pre["mean"], pre["std"])]
    # The card's resampling filter (bilinear unless it says otherwise: EfficientNet-B0's is bicubic).
    interpolation = transforms.InterpolationMode(pre.get("interpolation", "bilinear"))
    resize = transforms.Resize(pre["resize_shorter"], interpolation=interpolation)
    evaluation = transforms.Compose([resize, transforms.CenterCrop(pre["crop"]), *normalize])
    augmented = transforms.Compose([transforms.RandomResizedCrop(pre["crop"]), transforms.RandomHorizontalFlip(), *normalize])
    root = Path(args.data)
    split = (root / "train").is_dir()
    train_set = folder(root / "train" if split else root, evaluation if strategy == "head_only" else augmented, classes)
    val_set = folder(root / "val", evaluation, classes) if split and (root / "val").is_dir() else None

    prefixes = trained_parameters(model, architecture, strategy, args.stages)
    model.to(device)
    net = torch.nn.parallel.DistributedDataParallel(model) if distributed else model
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = (torch.optim.Adam(parameters, lr=args.lr) if args.optimizer == "adam"
                 else torch.optim.SGD(parameters, lr=args.lr, momentum=args.momentum))
    sampler = DistributedSampler(train_set, shuffle=True, seed=args.seed) if distributed else None
    loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=sampler is None, sampler=sampler)
    loss_fn = torch.nn.CrossEntropyLoss()
    log(f"{architecture}, classes {classes}, strategy {strategy}, {len(train_set)} training images, "
        f"{len(val_set) if val_set else 0} validation, {world} process(es) on {device}")

    val_accuracy = None
    for epoch in range(1, args.epochs + 1):
        if sampler:
            sampler.set_epoch(epoch)
        train_mode(model, prefixes)
        totals = torch.zeros(3, device=device)  # loss sum, correct, seen
        for images, targets in loader:
            images, targets = images.to(device), targets.to(device)
            logits = net(images)
            loss = loss_fn(logits, targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            totals += torch.stack([loss.detach() * len(targets), (logits.argmax(1) == targets).sum(), torch.tensor(len(targets), device=device)])
        if val_set:
            model.eval()
            val_sampler = DistributedSampler(val_set, shuffle=False) if distributed else None
            correct = torch.zeros(2, device=device)
            with torch.no_grad():
                for images, targets in DataLoader(val_set, batch_size=args.batch_size, sampler=val_sampler):
                    predicted = model(images.to(device)).argmax(1)
                    correct += torch.stack([(predicted == targets.to(device)).sum(), torch.tensor(len(targets), device=device)])
        if distributed:
            dist.all_reduce(totals)
            if val_set:
                dist.all_reduce(correct)
        if val_set:
            val_accuracy = (correct[0] / correct[1]).item()
        log(f"epoch {epoch}: train loss {(totals[0] / totals[2]).item():.4f}, train accuracy {(totals[1] / totals[2]).item():.4f}, "
            f"val accuracy {'–' if val_accuracy is None else f'{val_accuracy:.4f}'}")

    if rank == 0:
        optimizer_entry = {"kind": args.optimizer, **({"momentum": args.momentum} if args.optimizer == "sgd" else {})}
        strategy_entry = {"kind": strategy, **({"stages": args.stages} if strategy == "last_stages" else {})}
        training = {"strategy": strategy_entry, "epochs": args.epochs, "batch_size": args.batch_size,
                    "learning_rate": args.lr, "optimizer": optimizer_entry, "shuffle": True, "seed": args.seed,
                    "epochs_completed": args.epochs, "val_accuracy": val_accuracy,
                    "trained_with": f"{torch_version()}, {world} process(es)"}
        write_export(args.out, model.cpu(), metadata, training)
        log(f"wrote {args.out}")
    if distributed:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
