#!/usr/bin/env python3
"""Serves the repository root (index.html, www/, pkg/, weights/) on 127.0.0.1 for development.

Static files only, with the MIME types browsers insist on (`application/wasm` for streaming
compilation, `text/javascript` for modules). Usage: serve.py [PORT] [PREFIX] [--isolated] [--csp]
(default 8000, "/"; port 0 takes a free one): with a PREFIX such as /tools/finetune/ the site is
served under that path only, as on a host where it does not sit at the root. --isolated sends the two headers that make
pages cross-origin isolated (COOP same-origin, COEP require-corp), without which browsers give
no SharedArrayBuffer and so no multi-threaded WebAssembly (onnxruntime-web's threads, in the
benchmark); every file here is same-origin, so the pages work the same with them. --csp sends
the Content Security Policy that index.html declares in its <meta> tag as a header on every
response too, as a host that sets headers would: then the workers, whose scripts a <meta> tag does
not cover, run under it as well (the end-to-end tests serve so).
"""
import argparse
import functools
import http.server
import re
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
        ".onnx": "application/octet-stream",
    }

    def __init__(self, *args, prefix="/", isolated=False, policy=None, **kwargs):
        self.prefix = prefix
        self.isolated = isolated
        self.policy = policy
        super().__init__(*args, **kwargs)

    def translate_path(self, path):
        if not path.startswith(self.prefix):
            return str(Path(self.directory) / "does-not-exist")
        return super().translate_path("/" + path[len(self.prefix):])

    def end_headers(self):
        self.send_header("Cache-Control", "no-cache")
        if self.isolated:
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        if self.policy:
            self.send_header("Content-Security-Policy", self.policy)
        super().end_headers()

    def log_message(self, fmt, *args):  # keep test output readable
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", nargs="?", type=int, default=8000)
    parser.add_argument("prefix", nargs="?", default="")
    parser.add_argument("--isolated", action="store_true", help="send COOP/COEP: cross-origin isolated pages")
    parser.add_argument("--csp", action="store_true", help="send index.html's Content Security Policy as a header")
    args = parser.parse_args()
    prefix = ("/" + args.prefix.strip("/") + "/").replace("//", "/")
    root = Path(__file__).resolve().parent.parent
    policy = None
    if args.csp:
        declared = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', (root / "index.html").read_text())
        if not declared:
            raise SystemExit("index.html declares no Content-Security-Policy")
        policy = declared.group(1)
    handler = functools.partial(Handler, directory=str(root), prefix=prefix, isolated=args.isolated, policy=policy)
    with http.server.ThreadingHTTPServer(("127.0.0.1", args.port), handler) as server:
        isolated = " (cross-origin isolated)" if args.isolated else ""
        # Port 0 takes a free one: the line names the port bound (the tests read it).
        print(f"serving {root} at http://127.0.0.1:{server.server_address[1]}{prefix}{isolated}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
