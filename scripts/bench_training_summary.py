#!/usr/bin/env python3
"""Ours ÷ PyTorch for the training-throughput lines of `bench_training` and
`bench_training_torch.py` (`./build.sh bench-training`, `./build.sh bench-gpu`): each of our
runtimes beside PyTorch's on the same hardware (native-cpu beside pytorch, burn-gpu beside
pytorch-gpu). Usage: bench_training_summary.py RESULTS
"""
import re
import sys

REFERENCE = {"native-cpu": "pytorch", "burn-gpu": "pytorch-gpu"}

rates = {}
with open(sys.argv[1]) as results:
    for line in results:
        found = re.match(r"(\S+) model=(\S+) strategy=(\S+) .*train_images_per_s=([\d.]+)", line)
        if found:
            runtime, model, strategy, rate = found.groups()
            rates[runtime, model, strategy] = float(rate)
for (runtime, model, strategy), rate in rates.items():
    reference = rates.get((REFERENCE.get(runtime), model, strategy))
    if reference:
        print(f"{runtime:10} {model:20} {strategy:14} ours {rate:7.2f}  {REFERENCE[runtime]} {reference:7.2f}  "
              f"ratio {rate / reference:.2f}")
