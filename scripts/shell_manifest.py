#!/usr/bin/env python3
"""Prints sw-manifest.js: the app shell the service worker (sw.js) precaches, and a build version.
(The embed example keeps itself offline with a service worker of its own, examples/embed/sw.js.)

The version is a hash of the shell's contents, so every build that changes a file gives the service
worker a new cache name (and the browser a changed script, which makes it install the new one).
Run from the repository root after building pkg/; build.sh does.
"""
import hashlib
import json
from pathlib import Path

PATTERNS = [
    "index.html",
    "www/*.js",
    "www/*.css",
    "pkg/browser_finetune.js",
    "pkg/browser_finetune_bg.wasm",
    "pkg/browser_finetune_relaxed_bg.wasm",
]


def is_benchmark(name: str) -> bool:
    """The benchmark pages (www/bench*.js) are tools, not part of the app."""
    return name.startswith("www/bench")


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    files = sorted(
        str(path.relative_to(root))
        for pattern in PATTERNS
        for path in root.glob(pattern)
        if not is_benchmark(str(path.relative_to(root)))
    )
    missing = [p for p in PATTERNS if p.startswith("pkg/") and p not in files]
    if missing:
        raise SystemExit(f"build the wasm package first: {', '.join(missing)} missing")
    digest = hashlib.sha256()
    for name in files:
        digest.update(name.encode())
        digest.update((root / name).read_bytes())
    shell = {"version": digest.hexdigest()[:16], "files": files}
    print("// Written by scripts/shell_manifest.py at build time: the app shell sw.js precaches.")
    print(f"self.SHELL = {json.dumps(shell, indent=1)};")


if __name__ == "__main__":
    main()
