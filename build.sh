#!/usr/bin/env bash
# glimpse build entry point.
#   ./build.sh          build the page: the release wasm builds (same model code as native):
#                       www/pkg (WebGPU, and the CPU on one thread with SIMD128) and
#                       www/pkg-threads (the CPU on rayon over Web Workers: pinned nightly,
#                       build-std, +atomics), which the page loads when cross-origin isolated
#   ./build.sh serve [--models DIR]
#                       build the page if missing or older than the sources, then serve www/ on
#                       localhost (with the COOP/COEP headers of cross-origin isolation) and print
#                       the URL; --models DIR serves local model folders at /models/ and prints
#                       the page's address for each
#   ./build.sh test     install what the tests need, run every test: Rust (CPU + wgpu on Mesa's
#                       lavapipe), the wasm build, and the browser suite in headless Chromium
#   ./build.sh native   build the native CLI (release): target/release/glimpse
#   ./build.sh bench    run the CPU benchmarks (see benches/)
#   ./build.sh fuzz [SECS] [TARGET...]
#                       fuzz the readers of untrusted files with libFuzzer (cargo-fuzz, nightly),
#                       SECS seconds per target (default 600), every target unless named;
#                       GLIMPSE_FUZZ=tree runs the in-tree mutation harness instead (no nightly)
# Set GLIMPSE_WASM_OPT=0 to skip wasm-opt (it takes minutes; the page works without it), and
# GLIMPSE_THREADS=0 to skip the threaded build (the page then always runs the CPU on one thread).
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

# The nightly of the threaded wasm build (build-std needs one); rustup installs it on first use.
NIGHTLY=nightly-2026-05-20

wasm_bindgen_version() {
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

need_wasm_bindgen() {
  local want; want="$(wasm_bindgen_version)"
  if ! wasm-bindgen --version 2>/dev/null | grep -q " $want\$"; then
    echo "build.sh: installing wasm-bindgen-cli $want (matches Cargo.lock)"
    cargo install wasm-bindgen-cli --version "$want" --force
  fi
}

# wasm-bindgen's output for $1 (the cargo wasm) into www/$2, wasm-opt'ed unless told not to.
package_wasm() {
  local wasm="$1" out="www/$2"; shift 2
  rm -rf "$out"
  wasm-bindgen --target web --no-typescript --out-dir "$out" "$wasm"
  local opt=""
  if [ "${GLIMPSE_WASM_OPT:-1}" != 0 ]; then
    if command -v wasm-opt >/dev/null; then opt=wasm-opt; elif [ -x node_modules/.bin/wasm-opt ]; then opt=node_modules/.bin/wasm-opt; fi
  fi
  if [ -n "$opt" ]; then
    echo "build.sh: $opt -Oz on $out (a few minutes)"
    "$opt" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals \
      --enable-simd "$@" "$out/glimpse_bg.wasm" -o "$out/glimpse_bg.opt.wasm"
    mv "$out/glimpse_bg.opt.wasm" "$out/glimpse_bg.wasm"
  fi
  echo "built $out ($(du -sh "$out/glimpse_bg.wasm" | cut -f1) wasm)"
}

build_web() {
  rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || true
  need_wasm_bindgen
  # SIMD128 comes from .cargo/config.toml; `webgpu` picks wgpu's WGSL shaders for the browser.
  cargo rustc --release --lib --crate-type cdylib --target wasm32-unknown-unknown --features webgpu
  package_wasm target/wasm32-unknown-unknown/release/glimpse.wasm pkg
  # The tokenizers the page falls back to when a model folder has none (MIT, see assets/).
  for t in clip gpt2; do
    mkdir -p "www/pkg/vocab/$t"
    cp assets/$t/* "www/pkg/vocab/$t/"
  done
  if [ "${GLIMPSE_THREADS:-1}" != 0 ]; then build_web_threads; else rm -rf www/pkg-threads; fi
}

# The threaded CPU build: std rebuilt with atomics, no wgpu (its objects are not Send with
# atomics), its own target folder (other flags, other toolchain). The linker makes the memory
# shared and imported (each Web Worker instantiates the module on the same memory, up to 4 GiB)
# and exports the thread-local storage symbols wasm-bindgen's thread support sets up per worker;
# these link flags apply to this crate only (after `--`), so changing them rebuilds nothing else.
build_web_threads() {
  rustup toolchain list | grep -q "^$NIGHTLY" ||
    rustup toolchain install "$NIGHTLY" --profile minimal --component rust-src --target wasm32-unknown-unknown
  local link=(--shared-memory --import-memory --max-memory=4294967296
    --export=__wasm_init_tls --export=__tls_size --export=__tls_align --export=__tls_base)
  CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS="-C target-feature=+simd128,+atomics,+bulk-memory,+mutable-globals" \
    cargo "+$NIGHTLY" rustc --release --lib --crate-type cdylib --target wasm32-unknown-unknown \
    --no-default-features --features threads --target-dir target/threads -Z build-std=panic_abort,std \
    -- "${link[@]/#/-Clink-arg=}"
  package_wasm target/threads/wasm32-unknown-unknown/release/glimpse.wasm pkg-threads --enable-threads
}

case "${1:-web}" in
  web)
    build_web
    ;;
  serve)
    shift
    command -v node >/dev/null || { echo "build.sh: serve needs node (apt install nodejs)" >&2; exit 1; }
    if [ ! -f www/pkg/glimpse_bg.wasm ]; then
      echo "build.sh: building the page first. On a fresh 2-core machine this takes about 30 minutes"
      echo "  (wasm-bindgen-cli ~11 min once, the wasm builds ~19 min; later builds take a few minutes)."
      echo "  GLIMPSE_WASM_OPT=0 GLIMPSE_THREADS=0 ./build.sh serve builds only what the page needs most."
      build_web
    elif [ -n "$(find src assets Cargo.toml Cargo.lock -newer www/pkg/glimpse_bg.wasm -print -quit)" ]; then
      echo "build.sh: sources are newer than www/pkg: rebuilding the page (a few minutes)"
      build_web
    fi
    # --models DIR serves local model folders at /models/ (the page then needs no network).
    exec node tests/browser/serve.mjs www "${PORT:-8080}" "$@"
    ;;
  test)
    [ -n "${GLIMPSE_SKIP_WGPU:-}" ] || need_vulkan
    cargo test --release --features native
    build_web
    need_chromium
    node tests/browser/module.mjs
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
    targets="${*:-safetensors torch_zip pickle config tokenizer image captions preprocessor head}"
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
