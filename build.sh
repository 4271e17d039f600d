#!/usr/bin/env bash
# browser-finetune: set-up, build, serve, test and benchmark, in one place.
#
#   ./build.sh serve [PORT]   build the app (release wasm) and serve it on http://127.0.0.1:PORT (8000)
#   ./build.sh test           run every test: native (cargo test), in headless Chromium (wasm-pack test)
#                             and the page end to end (playwright-core driving Chromium)
#   ./build.sh bench          ResNet18 forward images/s: native CPU, PyTorch, Chromium WebGPU and CPU
#
# Each command installs what it needs first (wasm target, wasm-bindgen-cli, wasm-pack, Chromium,
# chromedriver, npm packages) and skips what is already there. Cargo's target directory lives
# outside the checkout (~/.cache/browser-finetune/target) so that re-runs and fresh clones reuse it.
set -euo pipefail
cd "$(dirname "$0")"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/browser-finetune/target}"
export PATH="$HOME/.cargo/bin:$PATH"
# The headless-browser tests run a ResNet on a software WebGPU adapter: allow them time.
export WASM_BINDGEN_TEST_TIMEOUT="${WASM_BINDGEN_TEST_TIMEOUT:-900}"
export CHROMEDRIVER="${CHROMEDRIVER:-/usr/bin/chromedriver}"

step() { printf '\n== %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# The wasm-bindgen version pinned in Cargo.lock; the CLI must match it exactly.
wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

ensure_wasm_tools() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    step "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  local want
  want=$(wasm_bindgen_version)
  if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $want" ]; then
    step "installing wasm-bindgen-cli $want (once, about 7 minutes)"
    # Not --locked: the locked TLS roots crate is not served by the registry.
    cargo install wasm-bindgen-cli --version "$want" --force
  fi
  if ! command -v wasm-pack >/dev/null; then
    step "installing wasm-pack (once, about 6 minutes)"
    cargo install wasm-pack --version 0.15.1 --locked
  fi
}

ensure_chromium() {
  if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    step "installing Debian's Chromium and chromedriver"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver
  fi
}

ensure_node_modules() {
  if [ ! -d node_modules/playwright-core ]; then
    step "installing npm packages"
    npm ci --no-audit --no-fund
  fi
}

build_app() {
  ensure_wasm_tools
  step "building the wasm package (release)"
  wasm-pack build --release --target web --out-dir pkg --no-typescript --no-pack
}

cmd_serve() {
  local port="${1:-8000}"
  build_app
  step "serving on http://127.0.0.1:$port/"
  exec python3 scripts/serve.py "$port"
}

cmd_test() {
  ensure_wasm_tools
  ensure_chromium
  step "native tests"
  cargo test
  step "browser tests (headless Chromium, WebGPU and CPU)"
  wasm-pack test --headless --chrome
  step "end-to-end test of the page (headless Chromium)"
  ensure_node_modules
  # The debug build shares its dependencies with the browser tests above: minutes, not a
  # second full release build.
  wasm-pack build --dev --target web --out-dir pkg --no-typescript --no-pack
  node --test tests/e2e/
}

cmd_bench() {
  ensure_chromium
  ensure_node_modules
  build_app
  local results
  results=$(mktemp)
  step "native CPU (Burn flex)"
  cargo run --release --quiet --example bench_forward 1 8 | tee -a "$results"
  if python3 -c "import torch, torchvision" 2>/dev/null; then
    step "PyTorch (2 threads)"
    python3 scripts/bench_torch.py 1 8 | tee -a "$results"
  else
    step "PyTorch not installed: no reference figure (pip install torch torchvision)"
  fi
  step "headless Chromium (WebGPU, then the CPU fallback)"
  python3 scripts/serve.py 8765 >/dev/null 2>&1 &
  bench_server=$!
  trap 'kill "$bench_server" 2>/dev/null || true' EXIT
  sleep 1
  node scripts/bench_browser.mjs "http://127.0.0.1:8765/www/bench.html?batches=1,8" | tee -a "$results"
  kill "$bench_server"
  step "summary (images/s at 224×224; ratio = PyTorch / this)"
  python3 scripts/bench_summary.py "$results"
}

case "${1:-}" in
  serve) shift; cmd_serve "$@" ;;
  test) cmd_test ;;
  bench) cmd_bench ;;
  *) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
