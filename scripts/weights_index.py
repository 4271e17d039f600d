#!/usr/bin/env python3
"""Writes FOLDER/index.json: the weights files in FOLDER, which the page's backbone menu reads.

Usage: weights_index.py [FOLDER] (default weights/)

The page learns which backbones' files sit beside it from this one list instead of asking the
server for each file (on a plain static host, every absent file was a 404 in the console). Run it
again after adding or removing a file by hand; ./build.sh writes it on every serve and test.
"""
import json
import sys
from pathlib import Path

WEIGHTS_SUFFIXES = {".pth", ".pt", ".safetensors"}


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "weights")
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        path.name: path.stat().st_size
        for path in sorted(folder.iterdir())
        if path.suffix in WEIGHTS_SUFFIXES and path.is_file() and not path.name.startswith(".")
    }
    (folder / "index.json").write_text(json.dumps({"files": files}, indent=1) + "\n")


if __name__ == "__main__":
    main()
