#!/usr/bin/env python3
"""Serves the repository root (index.html, www/, pkg/, weights/) on 127.0.0.1 for development.

Static files only, with the MIME types browsers insist on (`application/wasm` for streaming
compilation, `text/javascript` for modules). Usage: serve.py [PORT] [PREFIX] (default 8000, "/"):
with a PREFIX such as /tools/finetune/ the site is served under that path only, as on a host
where it does not sit at the root.
"""
import functools
import http.server
import sys
from pathlib import Path


class Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm",
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".json": "application/json",
        ".pth": "application/octet-stream",
        ".safetensors": "application/octet-stream",
    }

    def __init__(self, *args, prefix="/", **kwargs):
        self.prefix = prefix
        super().__init__(*args, **kwargs)

    def translate_path(self, path):
        if not path.startswith(self.prefix):
            return str(Path(self.directory) / "does-not-exist")
        return super().translate_path("/" + path[len(self.prefix):])

    def end_headers(self):
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, fmt, *args):  # keep test output readable
        pass


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    prefix = "/" + (sys.argv[2] if len(sys.argv) > 2 else "").strip("/") + "/"
    prefix = prefix.replace("//", "/")
    root = Path(__file__).resolve().parent.parent
    handler = functools.partial(Handler, directory=str(root), prefix=prefix)
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        print(f"serving {root} at http://127.0.0.1:{port}{prefix}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
