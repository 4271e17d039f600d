#!/usr/bin/env python3
"""Native references for the forward benchmark: backbone features (the head an Identity) of
ResNet18, MobileNetV2 and EfficientNet-Lite0 at 224×224, eval, 2 threads, in PyTorch and, when
onnxruntime is installed and export_onnx.py has written the files, in onnxruntime.

Usage: bench_torch.py [--onnx DIR] [--gpu] [BATCH ...] (default bench-models/, batches 1 8). Prints
`pytorch model=M batch=B images_per_s=X` (and `onnxruntime …`) lines, the benchmark's format.
With --gpu: PyTorch on the machine's CUDA (or ROCm) GPU instead, `pytorch-gpu …` lines, the
reference for `bench_forward --gpu`.
"""
import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from export_onnx import BACKBONES, ROOT, SIDE, feature_extractor  # noqa: E402

THREADS = 2


def images_per_second(forward, batch, synchronize=lambda: None):
    """After one warm-up run; more runs at batch 1, where one run is short. `synchronize` waits
    for a GPU's queued work, as reading the features back does in ours."""
    runs = 10 if batch == 1 else 4
    forward()
    synchronize()
    start = time.perf_counter()
    for _ in range(runs):
        forward()
    synchronize()
    return runs * batch / (time.perf_counter() - start)


def gpu_figures(batches):
    """PyTorch on the GPU (eval, no autograd, float32, cuDNN's default algorithm choice)."""
    if not torch.cuda.is_available():
        sys.exit("--gpu: PyTorch sees no CUDA/ROCm GPU here")
    print(f"adapter {torch.cuda.get_device_name(0)} (PyTorch {torch.__version__})", flush=True)
    for name in BACKBONES:
        model = feature_extractor(name)[0].cuda()
        for batch in batches:
            images = torch.ones(batch, 3, SIDE, SIDE, device="cuda")
            with torch.no_grad():
                rate = images_per_second(lambda: model(images).cpu(), batch, torch.cuda.synchronize)
            print(f"pytorch-gpu model={name} batch={batch} images_per_s={rate:.2f}", flush=True)


def onnxruntime_session(path):
    """A CPU session on THREADS threads, or None when onnxruntime or the file is missing."""
    try:
        import onnxruntime
    except ImportError:
        return None
    if not path.exists():
        return None
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("batches", nargs="*", type=int, default=[1, 8])
    parser.add_argument("--onnx", type=Path, default=ROOT / "bench-models", help="folder of export_onnx.py's files")
    parser.add_argument("--gpu", action="store_true", help="PyTorch on the GPU instead of the CPU")
    args = parser.parse_args()
    if args.gpu:
        gpu_figures(args.batches)
        return
    torch.set_num_threads(THREADS)
    for name in BACKBONES:
        model, _ = feature_extractor(name)
        session = onnxruntime_session(args.onnx / f"{name}.onnx")
        for batch in args.batches:
            images = torch.ones(batch, 3, SIDE, SIDE)
            with torch.no_grad():
                rate = images_per_second(lambda: model(images), batch)
            print(f"pytorch model={name} batch={batch} images_per_s={rate:.2f}", flush=True)
            if session is not None:
                feed = {"images": images.numpy()}
                rate = images_per_second(lambda: session.run(["features"], feed), batch)
                print(f"onnxruntime model={name} batch={batch} images_per_s={rate:.2f}", flush=True)


if __name__ == "__main__":
    main()
