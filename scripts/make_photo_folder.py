"""Writes a folder of COUNT real-sized JPEG photos in CLASSES class folders, made from the real
photos under SOURCE, for the scale benchmark (scripts/bench_scale.mjs).

Usage: python3 scripts/make_photo_folder.py SOURCE OUT COUNT CLASSES [LONG_SIDE]

Each class draws on its own few source photos (so that classes differ; with fewer photos than
classes, classes share them, which suits a test of memory and time); every output is a random
crop (60–100 % of the area) of one of them, mirrored half of the time, resized so that its longer
side is LONG_SIDE (default 1024) ±20 %, and saved as a JPEG at quality 85–92: sizes and contents
like a phone's photos after sharing, none identical. Deterministic (seed 0). An existing OUT with
the expected number of files is reused.
"""

import os
import random
import sys
from multiprocessing import Pool

from PIL import Image, ImageOps

EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")


def sources(root):
    found = []
    for folder, _, files in os.walk(root):
        found.extend(os.path.join(folder, name) for name in files if name.lower().endswith(EXTENSIONS))
    return sorted(found)


def write_one(task):
    path, source, seed, long_side = task
    rng = random.Random(seed)
    with Image.open(source) as opened:
        image = ImageOps.exif_transpose(opened).convert("RGB")
    width, height = image.size
    area = rng.uniform(0.6, 1.0)
    crop_w, crop_h = max(1, int(width * area**0.5)), max(1, int(height * area**0.5))
    left, top = rng.randint(0, width - crop_w), rng.randint(0, height - crop_h)
    image = image.crop((left, top, left + crop_w, top + crop_h))
    if rng.random() < 0.5:
        image = ImageOps.mirror(image)
    target = long_side * rng.uniform(0.8, 1.2)
    scale = target / max(crop_w, crop_h)
    image = image.resize((max(1, round(crop_w * scale)), max(1, round(crop_h * scale))), Image.BILINEAR)
    image.save(path, "JPEG", quality=rng.randint(85, 92))


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    source_root, out, count, classes = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    long_side = int(sys.argv[5]) if len(sys.argv) > 5 else 1024
    existing = sum(len(files) for _, _, files in os.walk(out)) if os.path.isdir(out) else 0
    if existing == count:
        print(f"{out}: {count} photos already there")
        return
    photos = sources(source_root)
    if not photos:
        sys.exit(f"{source_root} holds no photos")
    rng = random.Random(0)
    rng.shuffle(photos)
    tasks = []
    for i in range(count):
        label = i % classes
        own = photos[label::classes] or [photos[label % len(photos)]]  # the class's own source photos
        folder = os.path.join(out, f"class_{label:03d}")
        os.makedirs(folder, exist_ok=True)
        tasks.append((os.path.join(folder, f"photo_{i:05d}.jpg"), own[rng.randrange(len(own))], i, long_side))
    with Pool() as pool:
        for done, _ in enumerate(pool.imap_unordered(write_one, tasks, chunksize=16), 1):
            if done % 1000 == 0:
                print(f"{done} of {count} photos written", flush=True)
    print(f"{out}: {count} photos in {classes} classes")


if __name__ == "__main__":
    main()
