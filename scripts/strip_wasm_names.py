#!/usr/bin/env python3
"""Removes the `name` and `producers` custom sections from a WebAssembly file, in place.

The name section only names functions in stack traces, yet is a fifth of the release download.
Cargo's `strip = true` removes it too, but also the `target_features` section wasm-bindgen reads;
Debian's wasm-opt (binaryen 108) mishandles wasm-bindgen's reference-typed tables. Sections are
length-prefixed, so dropping two of them is exact. Usage: strip_wasm_names.py FILE.wasm
"""
import sys
from pathlib import Path

DROPPED = {b"name", b"producers"}


def leb128(data: bytes, pos: int) -> tuple[int, int]:
    """An unsigned LEB128 integer at `pos`, and the position after it."""
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def main() -> None:
    path = Path(sys.argv[1])
    data = path.read_bytes()
    if data[:4] != b"\0asm":
        sys.exit(f"{path}: not a WebAssembly module")
    kept, pos = [data[:8]], 8
    while pos < len(data):
        start = pos
        section_id = data[pos]
        size, body = leb128(data, pos + 1)
        end = body + size
        name = None
        if section_id == 0:
            name_length, name_start = leb128(data, body)
            name = data[name_start:name_start + name_length]
        if name not in DROPPED:
            kept.append(data[start:end])
        pos = end
    path.write_bytes(b"".join(kept))


if __name__ == "__main__":
    main()
