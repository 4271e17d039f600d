#!/usr/bin/env python3
"""The fine-tuning benchmark's table: our engine's mean accuracy and spread over the seeds beside
PyTorch's same recipe (scripts/bench_finetune_torch.py), per backbone and strategy, from the lines
both printed into one results file. Usage: bench_finetune_summary.py RESULTS

A strategy matches when our mean is within 1 point of PyTorch's or inside PyTorch's seed range.
Training images/s are medians over the seeds (forward + backward + optimiser step, decoding
excluded), with ours ÷ PyTorch's.
"""
import json
import re
import statistics
import sys
from collections import defaultdict

BACKBONES = {"ResNet18": "resnet18", "MobileNetV2": "mobilenet_v2", "EfficientNetLite0": "efficientnet_lite0"}


def short_strategy(strategy: str) -> str:
    """`{"kind":"last_stages","stages":1}` → `last_stages:1`, as the torch script names it."""
    if not strategy.startswith("{"):
        return strategy
    value = json.loads(strategy)
    extra = value.get("stages", value.get("every"))
    return value["kind"] + (f":{extra}" if extra is not None else "")


def fields(line: str) -> dict:
    return dict(re.findall(r"(\w+)=(\S+)", line))


def main() -> None:
    runs = defaultdict(lambda: {"ours": [], "torch": [], "ours_rate": [], "torch_rate": []})
    for line in open(sys.argv[1], encoding="utf8"):
        values = fields(line)
        if line.startswith("native-cpu seed="):
            key = (BACKBONES.get(values["backbone"], values["backbone"]), short_strategy(values["strategy"]))
            runs[key]["ours"].append(float(values["val_accuracy"]))
            runs[key]["ours_rate"].append(float(values["train_images_per_s"]))
        elif line.startswith("pytorch backbone=") and "seed" in values:
            # torchvision's recipe keeps the classifier's Dropout; without it the network is ours.
            dropout = float(values.get("dropout", 0))
            key = (values["backbone"], values["strategy"] + (f" (PyTorch with Dropout {dropout:g})" if dropout else ""))
            runs[key]["torch"].append(float(values["val_accuracy"]))
            runs[key]["torch_rate"].append(float(values["train_images_per_s"]))
    print(f"{'backbone':<18} {'strategy':<40} {'ours (mean ± sd, n)':>22} {'PyTorch (mean ± sd, n)':>24} "
          f"{'ours − PyTorch':>15} {'match':>6} {'train img/s ours / PyTorch':>28}")

    def describe(values):
        if not values:
            return "–"
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{100 * statistics.mean(values):.2f} ± {100 * spread:.2f} ({len(values)})"

    for (backbone, strategy), run in sorted(runs.items()):
        # A row of PyTorch with Dropout stands beside our runs of the same strategy.
        ours = run["ours"] or runs.get((backbone, strategy.split(" (")[0]), {}).get("ours", [])
        torch = run["torch"]
        difference = match = "–"
        if ours and torch:
            gap = statistics.mean(ours) - statistics.mean(torch)
            difference = f"{100 * gap:+.2f}"
            match = "yes" if abs(gap) <= 0.01 or min(torch) <= statistics.mean(ours) <= max(torch) else "NO"
        rates = "–"
        ours_rate = run["ours_rate"] or runs.get((backbone, strategy.split(" (")[0]), {}).get("ours_rate", [])
        if ours_rate and run["torch_rate"]:
            mine, theirs = statistics.median(ours_rate), statistics.median(run["torch_rate"])
            rates = f"{mine:.2f} / {theirs:.2f} = {mine / theirs:.2f}×"
        print(f"{backbone:<18} {strategy:<40} {describe(ours):>22} {describe(torch):>24} {difference:>15} {match:>6} {rates:>28}")


if __name__ == "__main__":
    main()
