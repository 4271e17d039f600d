#!/usr/bin/env python3
"""Downloads a torchvision weights file into a folder and checks it as torchvision does.

Usage: fetch_weights.py URL FOLDER

torchvision's file names carry the first hex digits of the file's sha256 (`resnet18-f37072fd.pth`);
`torch.hub.load_state_dict_from_url(..., check_hash=True)` refuses a file whose hash does not start
with them, and so does this. The file is streamed to a temporary name beside its destination and
renamed only once it checks out, so an interrupted or wrong download leaves nothing behind.
Redirects are followed. Exit status: 0 when the file is there (downloaded now or before), 1 with
a one-line reason when it could not be had (offline, refused, wrong hash).
"""
import hashlib
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path

# torchvision's HASH_REGEX: the hex digits after the last '-' of the name, before the extension.
HASH_PREFIX = re.compile(r"-([a-f0-9]*)\.")
CONNECT_SECONDS = 15


def fetch(url: str, folder: Path) -> str:
    name = url.rsplit("/", 1)[-1]
    match = HASH_PREFIX.search(name)
    if not match or not match.group(1):
        raise ValueError(f"{name} carries no sha256 prefix in its name to check it against")
    prefix = match.group(1)
    destination = folder / name
    if destination.exists():
        return f"{destination} is already there"
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f".{name}.part"
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=CONNECT_SECONDS) as response, open(partial, "wb") as out:
            while chunk := response.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if not digest.hexdigest().startswith(prefix):
            raise ValueError(f"{url} has sha256 {digest.hexdigest()[:16]}…, not {prefix}… as its name says")
        partial.rename(destination)
    finally:
        partial.unlink(missing_ok=True)
    return f"{destination}: downloaded, sha256 starts with {prefix} as its name says"


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.splitlines()[2], file=sys.stderr)
        return 2
    url, folder = sys.argv[1], Path(sys.argv[2])
    try:
        print(fetch(url, folder))
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = err.reason if isinstance(err, urllib.error.URLError) else err
        print(f"could not fetch {url}: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
