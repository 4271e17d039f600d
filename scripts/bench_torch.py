#!/usr/bin/env python3
"""PyTorch reference for the forward benchmark: torchvision resnet18, eval, 224×224, 2 threads.

Prints `pytorch batch=B images_per_s=X` per batch size, the same format as the other benchmarks.
"""
import sys
import time

import torch
import torchvision

torch.set_num_threads(2)
model = torchvision.models.resnet18(weights=None).eval()
for batch in [int(b) for b in sys.argv[1:]] or [1, 8]:
    x = torch.ones(batch, 3, 224, 224)
    runs = 10 if batch == 1 else 4
    with torch.no_grad():
        model(x)
        start = time.perf_counter()
        for _ in range(runs):
            model(x)
        seconds = time.perf_counter() - start
    print(f"pytorch batch={batch} images_per_s={runs * batch / seconds:.2f}", flush=True)
