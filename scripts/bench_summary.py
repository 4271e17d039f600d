#!/usr/bin/env python3
"""Tabulates the forward benchmark's `NAME model=M batch=B images_per_s=X` lines (older lines
without model= are ResNet18's): per backbone and batch size, every runtime's images/s and our
figures divided by each peer reference's (> 1: ours is faster). Ours run in the browser
(`browser-…`, compared with onnxruntime-web on as many threads, `ort-web-1t`/`ort-web-2t`) or
natively (`burn-…`, compared with `pytorch` and `onnxruntime`, both on 2 threads), or natively on
a GPU (`burn-gpu`, compared with `pytorch-gpu` on the same card).

Usage: bench_summary.py RESULTS_FILE
"""
import re
import sys

LINE = re.compile(r"(\S+) (?:model=(\S+) )?batch=(\d+) images_per_s=([\d.]+)")
# Which references each kind of our figures is held against: like with like.
# The first prefix that matches a name decides.
REFERENCES = {
    "browser-": ["ort-web-1t", "ort-web-2t"],
    "burn-gpu": ["pytorch-gpu"],
    "burn-": ["pytorch", "onnxruntime"],
}
ALL_REFERENCES = [name for names in REFERENCES.values() for name in names]


def references_for(name):
    return next((names for prefix, names in REFERENCES.items() if name.startswith(prefix)), [])


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    rates, errors = {}, []
    for line in open(sys.argv[1], encoding="utf-8"):
        if line.startswith("error"):
            errors.append(line.strip())
        elif m := LINE.match(line):
            name, model, batch, rate = m.group(1), m.group(2) or "resnet18", int(m.group(3)), float(m.group(4))
            rates.setdefault((model, batch), {})[name] = rate
    for (model, batch), by_name in rates.items():
        columns = [ref for ref in ALL_REFERENCES if ref in by_name]
        print(f"\n{model}, batch {batch}: images/s, and ours ÷ reference (> 1: ours faster)")
        print(f"  {'runtime':<16}{'images/s':>10}" + "".join(f"{'÷ ' + ref:>15}" for ref in columns))
        ours = [name for name in by_name if name not in ALL_REFERENCES]
        for name in ours + columns:
            cells = "".join(
                f"{by_name[name] / by_name[ref]:>14.2f}×" if ref in references_for(name) and by_name[ref] > 0 else " " * 15
                for ref in columns
            )
            print(f"  {name:<16}{by_name[name]:>10.2f}{cells}".rstrip())
    for error in errors:
        print(error)


if __name__ == "__main__":
    main()
