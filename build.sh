#!/usr/bin/env bash
# glimpse build entry point.
#   ./build.sh          build the page: the release wasm (same model code as native) + www/pkg
#   ./build.sh serve    build the page if needed, then serve www/ on localhost and print the URL
#   ./build.sh test     install what the tests need, run every test: Rust (CPU + wgpu on Mesa's
#                       lavapipe), the wasm build, and the browser suite in headless Chromium
#   ./build.sh native   build the native CLI (release): target/release/glimpse
#   ./build.sh bench    run the CPU benchmarks (see benches/)
#   ./build.sh fuzz [SECS] [TARGET...]
#                       fuzz the readers of untrusted files with libFuzzer (cargo-fuzz, nightly),
#                       SECS seconds per target (default 600), every target unless named;
#                       GLIMPSE_FUZZ=tree runs the in-tree mutation harness instead (no nightly)
# Set GLIMPSE_WASM_OPT=0 to skip wasm-opt (it takes minutes; the page works without it).
set -euo pipefail
cd "$(dirname "$0")"

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "build.sh: needs root to run: $*" >&2; exit 1; fi
}

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -q >/dev/null
  as_root apt-get install -y -q "$@" >/dev/null
}

need_vulkan() {
  # wgpu tests need a Vulkan driver; on machines without a GPU that is Mesa's lavapipe.
  ls /usr/share/vulkan/icd.d/*.json >/dev/null 2>&1 || apt_install mesa-vulkan-drivers libvulkan1
}

need_chromium() {
  command -v chromium >/dev/null || apt_install chromium
  command -v node >/dev/null || apt_install nodejs npm
  (cd tests/browser && [ -d node_modules/playwright-core ] || npm install --no-audit --no-fund --silent)
}

wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

build_web() {
  rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || true
  local want; want="$(wasm_bindgen_version)"
  if ! wasm-bindgen --version 2>/dev/null | grep -q " $want\$"; then
    echo "build.sh: installing wasm-bindgen-cli $want (matches Cargo.lock)"
    cargo install wasm-bindgen-cli --version "$want" --force
  fi
  cargo rustc --release --lib --crate-type cdylib --target wasm32-unknown-unknown
  rm -rf www/pkg
  wasm-bindgen --target web --no-typescript --out-dir www/pkg target/wasm32-unknown-unknown/release/glimpse.wasm
  local opt=""
  if [ "${GLIMPSE_WASM_OPT:-1}" != 0 ]; then
    if command -v wasm-opt >/dev/null; then opt=wasm-opt; elif [ -x node_modules/.bin/wasm-opt ]; then opt=node_modules/.bin/wasm-opt; fi
  fi
  if [ -n "$opt" ]; then
    echo "build.sh: $opt -Oz (a few minutes)"
    "$opt" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals \
      www/pkg/glimpse_bg.wasm -o www/pkg/glimpse_bg.opt.wasm
    mv www/pkg/glimpse_bg.opt.wasm www/pkg/glimpse_bg.wasm
  fi
  # The tokenizers the page falls back to when a model folder has none (MIT, see assets/).
  for t in clip gpt2; do
    mkdir -p "www/pkg/vocab/$t"
    cp assets/$t/* "www/pkg/vocab/$t/"
  done
  echo "built www/pkg ($(du -sh www/pkg/glimpse_bg.wasm | cut -f1) wasm)"
}

case "${1:-web}" in
  web)
    build_web
    ;;
  serve)
    [ -f www/pkg/glimpse_bg.wasm ] || build_web
    command -v node >/dev/null || { echo "build.sh: serve needs node (apt install nodejs)" >&2; exit 1; }
    exec node tests/browser/serve.mjs www "${PORT:-8080}"
    ;;
  test)
    [ -n "${GLIMPSE_SKIP_WGPU:-}" ] || need_vulkan
    cargo test --release --features native
    build_web
    need_chromium
    node tests/browser/transport.mjs
    node tests/browser/run.mjs
    ;;
  bench)
    cargo bench --features native --bench embed_cpu
    cargo bench --features native --bench caption_cpu
    cargo bench --features native --bench train_cpu
    ;;
  fuzz)
    shift
    secs="${1:-600}"; [ $# -gt 0 ] && shift
    targets="${*:-safetensors torch_zip pickle config tokenizer image captions preprocessor}"
    if [ "${GLIMPSE_FUZZ:-libfuzzer}" = tree ]; then
      for t in $targets; do
        GLIMPSE_FUZZ_SECS="$secs" GLIMPSE_FUZZ_TARGET="$t" \
          cargo test --release --features native --test it fuzz_targets -- --nocapture
      done
      exit 0
    fi
    rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
    command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
    # Seeds: the in-tree harness's corpora (fixture files and small crafted ones).
    GLIMPSE_FUZZ_EXPORT="$PWD/fuzz/corpus" cargo test --release --features native --test it export_seed_corpora
    for t in $targets; do
      echo "build.sh: fuzzing $t for $secs s"
      (cd fuzz && cargo +nightly fuzz run --sanitizer none "$t" "corpus/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 -max_len=1048576 -print_final_stats=1)
    done
    ;;
  native)
    cargo build --release --features native
    echo "built target/release/glimpse"
    ;;
  *)
    echo "usage: ./build.sh [web|serve|test|native|bench|fuzz]" >&2
    exit 2
    ;;
esac
