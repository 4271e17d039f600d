#!/usr/bin/env python3
"""The training-throughput lines of `./build.sh bench-training` (and `bench-gpu`) side by side:
for each backbone and strategy, every runtime's images/s through the training steps, then each of
ours divided by the references measured in the same run: natively by PyTorch on the same
hardware; in the browser by PyTorch, by TensorFlow.js in the same browser and by our native build.
> 1: ours faster. Lines with an error or a skip are repeated as they are.
Usage: bench_training_summary.py RESULTS
"""
import re
import sys

BROWSER_REFERENCES = ("pytorch", "native-cpu", "tfjs-")
REFERENCES = {
    "native-cpu": ("pytorch",),
    # Engines of one thread each sharing every batch (bench_data_parallel), as the page's workers.
    "native-engines": ("native-1-thread", "native-cpu", "pytorch"),
    "browser-cpu": BROWSER_REFERENCES,
    "browser-cpu-plain": BROWSER_REFERENCES,
    "browser-webgpu": BROWSER_REFERENCES,
    "burn-gpu": ("pytorch-gpu",),
}

rates, notes = {}, []
with open(sys.argv[1]) as results:
    for line in results:
        found = re.match(r"(\S+) model=(\S+) strategy=(\S+) .*?train_images_per_s=([\d.]+)(.*)", line)
        if found:
            runtime, model, strategy, rate, rest = found.groups()
            rates.setdefault((model, strategy), {})[runtime] = (float(rate), "first_step_only=1" in rest)
        elif re.match(r"(tfjs|browser)-\S+ (error|skipped)=", line):
            notes.append(line.strip())

for (model, strategy), by_runtime in rates.items():
    shown = "  ".join(f"{runtime} {rate:.3g}{' (first step)' if first else ''}" for runtime, (rate, first) in by_runtime.items())
    print(f"{model} {strategy}: {shown}")
    for ours in (runtime for runtime in REFERENCES if runtime in by_runtime):
        compared = [runtime for runtime in by_runtime if runtime != ours and runtime.startswith(REFERENCES[ours])]
        ratios = [f"÷ {reference} {by_runtime[ours][0] / by_runtime[reference][0]:.3g}" for reference in compared]
        if ratios:
            print(f"    {ours}: " + ", ".join(ratios))
for note in notes:
    print(note)
