"""The model export format of browser-finetune, on the PyTorch side: read an export, build its
architecture, write one back. See README.md, "Keep what you trained", for the format."""
import datetime
import json
import os
import sys
import tempfile
from pathlib import Path

import torch
import torchvision
from safetensors import safe_open
from safetensors.torch import load_file, save_file

FORMAT = "browser-finetune"
FORMAT_VERSION = 1


def read_export(path):
    """(state_dict as float32, metadata with classes/preprocess/training parsed from JSON)."""
    with safe_open(str(path), "pt") as f:
        metadata = dict(f.metadata() or {})
    if metadata.get("format") != FORMAT:
        sys.exit(f"{path}: not a browser-finetune export (no format={FORMAT} in its metadata)")
    version = int(metadata.get("format_version", "0"))
    if version > FORMAT_VERSION:
        sys.exit(f"{path}: format version {version} is newer than this script reads ({FORMAT_VERSION}): update it")
    for key in ("classes", "preprocess", "training"):
        if key in metadata:
            metadata[key] = json.loads(metadata[key])
    state_dict = {key: value.float() for key, value in load_file(str(path)).items()}
    return state_dict, metadata


# The export's architecture names and torchvision's constructors of the same state_dict keys.
TORCHVISION = {
    "ResNet18": "resnet18",
    "ResNet34": "resnet34",
    "ResNet50": "resnet50",
    "MobileNetV2": "mobilenet_v2",
    "MobileNetV3Small": "mobilenet_v3_small",
    "MobileNetV3Large": "mobilenet_v3_large",
    "EfficientNetB0": "efficientnet_b0",
    "Vgg11Bn": "vgg11_bn",
    "Vgg16": "vgg16",
    "AlexNet": "alexnet",
    "DenseNet121": "densenet121",
    "InceptionV3": "inception_v3",
}

# Constructor options the exported state_dict needs: Inception v3 without its auxiliary classifier
# (the export has none) and with transform_input off (the card's normalisation includes it).
OPTIONS = {"InceptionV3": {"aux_logits": False, "transform_input": False, "init_weights": False}}


def build_model(architecture, num_classes):
    """The torch module whose state_dict names the export uses."""
    if architecture in TORCHVISION:
        options = OPTIONS.get(architecture, {})
        return getattr(torchvision.models, TORCHVISION[architecture])(num_classes=num_classes, **options)
    if architecture == "EfficientNetLite0":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from make_fixtures import EfficientNetLite0

        return EfficientNetLite0(num_classes=num_classes)
    sys.exit(f"unknown architecture {architecture!r}: {', '.join([*TORCHVISION, 'EfficientNetLite0'])}")


def load_model(path):
    """The export as an eval-mode module loaded with strict=True, and its metadata."""
    state_dict, metadata = read_export(path)
    model = build_model(metadata["architecture"], len(metadata["classes"]))
    model.load_state_dict(state_dict, strict=True)
    return model.eval(), metadata


def write_export(path, model, metadata, training):
    """Writes `model` in the export format, atomically (a temporary file, then a rename)."""
    state_dict = {
        key: value.detach().float().contiguous().cpu()
        for key, value in model.state_dict().items()
        if not key.endswith("num_batches_tracked")
    }
    entries = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "architecture": metadata["architecture"],
        "classes": json.dumps(metadata["classes"]),
        "preprocess": json.dumps(metadata["preprocess"]),
        "training": json.dumps({**training, "date": datetime.datetime.now(datetime.timezone.utc).isoformat()}),
    }
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent or ".", suffix=".part")
    os.close(handle)
    try:
        save_file(state_dict, temporary, metadata=entries)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def torch_version():
    return f"PyTorch {torch.__version__}"
