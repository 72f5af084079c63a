#!/usr/bin/env bash
# glimpse build entry point.
#   ./build.sh test    install what the tests need (Mesa's Vulkan driver for wgpu), run every test,
#                      and check that the library still compiles for wasm32 (the page's target)
#   ./build.sh bench   run the CPU benchmarks (see benches/; PyTorch counterpart: benches/embed_torch.py)
#   ./build.sh         build the native CLI (release)
set -euo pipefail
cd "$(dirname "$0")"

need_vulkan() {
  # wgpu tests need a Vulkan driver; on machines without a GPU that is Mesa's lavapipe.
  if ! ls /usr/share/vulkan/icd.d/*.json >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -q >/dev/null
      apt-get install -y -q mesa-vulkan-drivers libvulkan1 >/dev/null
    else
      echo "build.sh: no Vulkan driver found; install mesa-vulkan-drivers (or set GLIMPSE_SKIP_WGPU=1)" >&2
      exit 1
    fi
  fi
}

case "${1:-native}" in
  test)
    [ -n "${GLIMPSE_SKIP_WGPU:-}" ] || need_vulkan
    cargo test --release --features native
    # The same model code must keep compiling for the browser (WebGPU) target.
    rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || true
    cargo check --target wasm32-unknown-unknown --lib
    ;;
  bench)
    cargo bench --features native --bench embed_cpu
    cargo bench --features native --bench caption_cpu
    cargo bench --features native --bench train_cpu
    ;;
  native)
    cargo build --release --features native
    echo "built target/release/glimpse"
    ;;
  *)
    echo "usage: ./build.sh [test|bench|native]" >&2
    exit 2
    ;;
esac
