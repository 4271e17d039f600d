#!/usr/bin/env python3
"""Tabulates `NAME batch=B images_per_s=X` lines, with PyTorch's figure of the same run as the
reference (ratio = PyTorch images/s ÷ this backend's images/s)."""
import re
import sys

rows = []
for line in open(sys.argv[1]):
    m = re.match(r"(\S+) batch=(\d+) images_per_s=([\d.]+)", line)
    if m:
        rows.append((m.group(1), int(m.group(2)), float(m.group(3))))
reference = {batch: rate for name, batch, rate in rows if name == "pytorch"}
print(f"{'backend':<16}{'batch':>6}{'images/s':>12}{'PyTorch ÷ this':>16}")
for name, batch, rate in rows:
    ratio = f"{reference[batch] / rate:.1f}×" if batch in reference and rate > 0 else "n/a"
    print(f"{name:<16}{batch:>6}{rate:>12.3f}{ratio:>16}")
