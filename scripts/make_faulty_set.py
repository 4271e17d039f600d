"""Copies an ImageFolder dataset (train/<class>/…, val/<class>/…) with planted faults, for the
data check's benchmark (examples/bench_doctor.rs), and writes what was planted to
OUT/faults.json.

Usage: python3 scripts/make_faulty_set.py SOURCE OUT

Planted, deterministically (seed 0), all in train/ (val/ stays as it was, so that accuracies are
comparable with the clean set's):
- 5 % of the training images moved to another class's folder (`flipped`);
- 10 exact copies (`exact`) and 10 copies resized to 75 % and re-encoded as JPEG quality 70
  (`resized`), each half of a training image and half of a validation image (those leak);
- 10 photos of other subjects (`outsiders`), spread over the classes: scikit-image's and
  scikit-learn's sample photos (astronaut, cat, coffee, rocket, galaxies, tissue, retina,
  motorcycle, a Chinese temple, a flower), installed with those packages.
Names are relative to OUT, e.g. "train/bees/planted-exact-3.jpg". The validation images are
never flipped, copied over or removed.
"""

import json
import os
import random
import shutil
import sys

from PIL import Image, ImageOps

EXTENSIONS = (".jpg", ".jpeg", ".png")


def images(root, subset):
    found = []
    for cls in sorted(os.listdir(os.path.join(root, subset))):
        folder = os.path.join(root, subset, cls)
        for name in sorted(os.listdir(folder)):
            if name.lower().endswith(EXTENSIONS):
                found.append((cls, f"{subset}/{cls}/{name}"))
    return found


def outsider_photos():
    import skimage
    import sklearn

    skimage_data = os.path.join(os.path.dirname(skimage.__file__), "data")
    sklearn_data = os.path.join(os.path.dirname(sklearn.__file__), "datasets", "images")
    named = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "hubble_deep_field.jpg", "ihc.png",
             "retina.jpg", "motorcycle_left.png"]
    return [os.path.join(skimage_data, n) for n in named] + [
        os.path.join(sklearn_data, n) for n in ("china.jpg", "flower.jpg")]


def main(source, out):
    if os.path.exists(out):
        shutil.rmtree(out)
    shutil.copytree(source, out)
    rng = random.Random(0)
    train, val = images(out, "train"), images(out, "val")
    classes = sorted({cls for cls, _ in train})
    faults = {"flipped": [], "exact": [], "resized": [], "outsiders": []}

    shuffled = train[:]
    rng.shuffle(shuffled)
    flips, shuffled = shuffled[:round(0.05 * len(train))], shuffled[round(0.05 * len(train)):]
    for cls, path in flips:
        other = rng.choice([c for c in classes if c != cls])
        moved = f"train/{other}/{os.path.basename(path)}"
        os.rename(os.path.join(out, path), os.path.join(out, moved))
        faults["flipped"].append({"name": moved, "given": other, "true": cls})

    val_sources = rng.sample(val, 10)
    train_sources = shuffled[:10]
    for k, (kind, (cls, original)) in enumerate(
            [("exact", s) for s in train_sources[:5] + val_sources[:5]]
            + [("resized", s) for s in train_sources[5:] + val_sources[5:]]):
        copy = f"train/{cls}/planted-{kind}-{k}.jpg"
        if kind == "exact":
            shutil.copyfile(os.path.join(out, original), os.path.join(out, copy))
        else:
            with Image.open(os.path.join(out, original)) as image:
                # As the page sees the photo: turned upright by its EXIF orientation.
                image = ImageOps.exif_transpose(image).convert("RGB")
                size = (round(image.width * 0.75), round(image.height * 0.75))
                image.resize(size, Image.BICUBIC).save(os.path.join(out, copy), quality=70)
        faults[kind].append({"original": original, "copy": copy, "leaks": original.startswith("val/")})

    for k, photo in enumerate(outsider_photos()):
        cls = classes[k % len(classes)]
        name = f"train/{cls}/planted-outsider-{k}.jpg"
        with Image.open(photo) as image:
            image.convert("RGB").save(os.path.join(out, name), quality=92)
        faults["outsiders"].append({"name": name, "source": os.path.basename(photo)})

    with open(os.path.join(out, "faults.json"), "w") as f:
        json.dump(faults, f, indent=1)
    print(f"{out}: {len(faults['flipped'])} flipped of {len(train)} training images, "
          f"{len(faults['exact'])} exact and {len(faults['resized'])} resized copies, "
          f"{len(faults['outsiders'])} outsiders")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
