"""Writes a folder of hostile and awkward image files, in class folders, for the page's end-to-end
test (tests/e2e/hostile.test.mjs), with `manifest.json` beside it: for every case, its path, what
must happen to it and the words the page's reason must contain.

Usage: python3 scripts/make_hostile_corpus.py OUT

Outcomes: "trains" (used for training), "refused" (listed as skipped when dropped: files, and class
folders without an image), "fails" (passes the header check, listed as skipped when the run
decodes it), "ignored" (hidden files, never listed). A case whose data is None is a class folder,
created empty unless other cases put files in it (only a drop lists a folder: a folder picker
passes files alone). Everything is generated from the real photos in tests/fixtures/images.
"""

import io
import json
import os
import struct
import sys
import zlib

from PIL import Image

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "images")


def photo(name="rocket.jpg", size=None):
    with Image.open(os.path.join(FIXTURES, name)) as opened:
        image = opened.convert("RGB")
    return image.resize(size, Image.BILINEAR) if size else image


def encoded(image, fmt, **options):
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bomb(width, height):
    """A valid PNG header declaring `width`×`height` grey pixels, all zero, deflated to a few KB."""
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    compressor = zlib.compressobj(9)
    row = b"\0" * (width + 1)
    data = b"".join(compressor.compress(row) for _ in range(min(height, 64))) + compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + header + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b"")


def jpeg_claiming(width, height):
    """A real JPEG whose frame header (SOF0) is rewritten to claim `width`×`height`."""
    data = bytearray(encoded(photo(size=(64, 48)), "JPEG"))
    at = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, at + 5, height, width)
    return bytes(data)


def ycck_jpeg():
    """A YCCK JPEG, as Photoshop writes CMYK: libjpeg's CMYK → YCCK conversion (jccolor.c) of the
    inverted samples Adobe files hold, K kept, and the Adobe marker's transform set to 2 (YCCK).
    PIL writes only plain CMYK, whose samples it inverts on the way out, so the YCCK values go in
    inverted too and the marker is patched."""
    cmyk = photo().convert("CMYK")
    stored = [255 - value for value in cmyk.tobytes()]  # C, M, Y, K as an Adobe file holds them
    ycck = bytearray()
    for at in range(0, len(stored), 4):
        r, g, b = (255 - sample for sample in stored[at : at + 3])
        y = 0.299 * r + 0.587 * g + 0.114 * b
        cb = -0.168735892 * r - 0.331264108 * g + 0.5 * b + 128
        cr = 0.5 * r - 0.418687589 * g - 0.081312411 * b + 128
        ycck += bytes(255 - min(255, max(0, round(v))) for v in (y, cb, cr, stored[at + 3]))
    data = bytearray(encoded(Image.frombytes("CMYK", cmyk.size, bytes(ycck)), "JPEG", quality=90))
    adobe = data.index(b"Adobe\0")
    assert data[adobe + 11] == 0, "PIL no longer writes an Adobe marker with transform 0"
    data[adobe + 11] = 2
    return bytes(data)


def exif_rotated(orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encoded(photo("cat.jpg"), "JPEG", exif=exif.tobytes())


def animated(fmt):
    frames = [photo(size=(96, 64)), photo("cat.jpg", size=(96, 64))]
    return encoded(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def cases():
    good = encoded(photo(), "JPEG", quality=90)
    png = encoded(photo("coffee.png"), "PNG")
    webp = encoded(photo("cat.jpg"), "WEBP")
    yield "good/rocket.jpg", good, "trains", ""
    yield "good/coffee.png", png, "trains", ""
    yield "good/cat.webp", webp, "trains", ""
    yield "good/cat.bmp", encoded(photo("cat.jpg"), "BMP"), "trains", ""
    yield "good/UPPER.JPG", good, "trains", ""
    yield "good/png_named.jpg", png, "trains", ""
    yield "good/garbage_after_end.jpg", good + b"\0trailing bytes after the image" * 10, "trains", ""
    yield "good/cmyk.jpg", encoded(photo().convert("CMYK"), "JPEG"), "trains", ""
    yield "good/ycck.jpg", ycck_jpeg(), "trains", ""
    yield "good/deep_16bit.png", encoded(Image.new("I;16", (80, 60), 40000), "PNG"), "trains", ""
    yield "good/palette.png", encoded(photo().convert("P", palette=Image.ADAPTIVE), "PNG"), "trains", ""
    yield "good/gray_alpha.png", encoded(photo().convert("LA"), "PNG"), "trains", ""
    yield "good/gray.jpg", encoded(photo().convert("L"), "JPEG"), "trains", ""
    yield "good/animated.gif", animated("GIF"), "trains", ""
    yield "good/animated.webp", animated("WEBP"), "trains", ""
    for orientation in range(1, 9):
        yield f"rotated/exif_{orientation}.jpg", exif_rotated(orientation), "trains", ""
    yield "rotated/one_pixel.png", encoded(Image.new("RGB", (1, 1), (200, 10, 10)), "PNG"), "trains", ""
    yield "rotated/nested/deeper/still_rotated.jpg", exif_rotated(6), "trains", ""
    yield "rotated/emoji 🐜🐝.jpg", good, "trains", ""
    yield "rotated/עברית ومرحبا.jpg", good, "trains", ""
    yield "rotated/<script>alert(1)</script><img src=x onerror=alert(2)>.jpg", good, "trains", ""
    yield "rotated/quotes \"double\" 'single' `back`.jpg", good, "trains", ""
    yield "rotated/" + "long_name_" * 24 + ".jpg", good, "trains", ""
    # The same file names as in good/: names include their folder, so both are kept.
    yield "rotated/rocket.jpg", good, "trains", ""
    yield "single/only_one.jpg", encoded(photo("cat.jpg"), "JPEG"), "trains", ""

    yield "bad/empty.jpg", b"", "refused", "empty"
    yield "bad/text.jpg", b"These are my holiday notes, not a photo.\n" * 20, "refused", "not a known image format"
    yield "bad/page.jpg", b"<!doctype html><html><body><h1>Not Found</h1></body></html>", "refused", "HTML"
    yield "bad/drawing.svg", b'<svg xmlns="http://www.w3.org/2000/svg"/>', "refused", "SVG"
    yield "bad/svg_named.jpg", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "refused", "SVG"
    yield "bad/phone.heic", b"\0\0\0\x18ftypheic\0\0\0\0mif1heic", "refused", "HEIC"
    yield "bad/heic_named.jpg", b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + b"\0" * 64, "refused", "HEIC"
    yield "bad/avif_named.jpg", b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf" + b"\0" * 64, "refused", "AVIF"
    yield "bad/scan.tiff", encoded(photo(), "TIFF"), "refused", "TIFF"
    yield "bad/no_extension", good, "refused", "no extension"
    yield "bad/png_bomb.png", png_bomb(30000, 30000), "refused", "megapixels"
    yield "bad/jpeg_bomb.jpg", jpeg_claiming(40000, 40000), "refused", "megapixels"
    yield "bad/hundred_megapixels.jpg", encoded(Image.new("RGB", (10000, 10000), (90, 120, 150)), "JPEG"), "refused", "megapixels"
    yield "bad/sixty_mb.jpg", good + os.urandom(60 * 1024 * 1024 - len(good)), "refused", "too large"
    yield "bad/sliver_10000x1.png", encoded(Image.new("RGB", (10000, 1), (10, 200, 10)), "PNG"), "refused", "too elongated"
    yield "bad/truncated.jpg", good[: len(good) // 2], "fails", "could not be decoded"
    yield "bad/truncated.png", png[: len(png) // 2], "fails", "could not be decoded"
    yield "bad/truncated.webp", webp[: len(webp) // 2], "fails", "could not be decoded"
    bad_crc = bytearray(png)
    bad_crc[len(png) // 2] ^= 0xFF
    yield "bad/bit_flipped.png", bytes(bad_crc), "fails", "could not be decoded"
    # Class folders without an image: empty, only a hidden file, only files that are not images,
    # only files whose header is refused.
    yield "empty_class", None, "refused", "empty folder: no images, so it is not a class"
    yield "mac_folder/.DS_Store", b"\0\0\0\1Bud1", "ignored", ""
    yield "mac_folder", None, "refused", "empty folder: no images, so it is not a class"
    yield "notes_only/readme.txt", b"Photos go in the other folders.\n", "refused", "not an image"
    yield "notes_only/labels.csv", b"name,label\n", "refused", "not an image"
    yield "notes_only", None, "refused", "no images among its 2 file"
    yield "saved_pages/gallery.jpg", b"<!doctype html><html><body>a gallery</body></html>", "refused", "HTML"
    yield "saved_pages/notes.png", b"Not a picture after all.\n" * 8, "refused", "not a known image format"
    yield "saved_pages", None, "refused", "none of its files could be read as an image, so it is not a class"
    yield "bad/.DS_Store", b"\0\0\0\1Bud1", "ignored", ""
    yield "bad/.hidden_photo.jpg", good, "ignored", ""
    yield ".thumbnails/hidden_folder.jpg", good, "ignored", ""
    yield "__MACOSX/good/._rocket.jpg", b"\0\5\26\7\0\2\0\0Mac OS X", "ignored", ""


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    manifest = []
    for path, data, outcome, reason in cases():
        full = os.path.join(out, "corpus", path)
        if data is None:
            os.makedirs(full, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "wb") as file:
                file.write(data)
        manifest.append({"name": "corpus/" + path, "outcome": outcome, "reason": reason})
    with open(os.path.join(out, "manifest.json"), "w") as file:
        json.dump(manifest, file, indent=1, ensure_ascii=False)
    print(f"{len(manifest)} cases in {out}/corpus")


if __name__ == "__main__":
    main()
