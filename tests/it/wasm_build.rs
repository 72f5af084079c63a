//! The page's two wasm builds get the CPU kernels they are meant to: checked from cargo's own
//! feature resolution (`cargo tree -e features`), so a feature dropped from Cargo.toml (as `simd`
//! once was for the wasm target, leaving every matmul of the page on gemm's scalar kernel) fails
//! here rather than only showing as a slower page. The flags the builds compile with are checked
//! in the browser suite (`buildInfo()`: SIMD128, threads).

use std::process::Command;

/// The features cargo resolves for `gemm` and `burn-flex` on the wasm target with `args`.
fn wasm_features(args: &[&str]) -> String {
    let mut out = String::new();
    for krate in ["gemm", "burn-flex"] {
        let o = Command::new(env!("CARGO"))
            .args(["tree", "--target", "wasm32-unknown-unknown", "-e", "features", "-i", krate, "--prefix", "none"])
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("cargo runs");
        assert!(o.status.success(), "cargo tree {args:?} -i {krate} failed: {}", String::from_utf8_lossy(&o.stderr));
        out += &String::from_utf8_lossy(&o.stdout);
    }
    out
}

fn has(tree: &str, line: &str) -> bool {
    tree.lines().any(|l| l.trim_start().starts_with(line))
}

#[test]
fn the_webgpu_build_has_simd_cpu_kernels() {
    let tree = wasm_features(&["--features", "webgpu"]);
    assert!(has(&tree, r#"gemm feature "wasm-simd128-enable""#), "gemm without SIMD128 in the page's build:\n{tree}");
    assert!(has(&tree, r#"burn-flex feature "simd""#), "burn-flex without SIMD in the page's build:\n{tree}");
}

#[test]
fn the_threaded_build_has_simd_and_rayon_and_no_wgpu() {
    let tree = wasm_features(&["--no-default-features", "--features", "threads"]);
    assert!(has(&tree, r#"gemm feature "wasm-simd128-enable""#), "gemm without SIMD128 in the threaded build:\n{tree}");
    assert!(has(&tree, r#"gemm feature "rayon""#), "gemm not threaded in the threaded build:\n{tree}");
    assert!(has(&tree, r#"burn-flex feature "rayon""#), "burn-flex not threaded in the threaded build:\n{tree}");
    let o = Command::new(env!("CARGO"))
        .args(["tree", "--target", "wasm32-unknown-unknown", "--no-default-features", "--features", "threads", "-i", "wgpu"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    // `-i wgpu` prints nothing when the package is not in the graph: what the threaded build needs.
    let tree = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && !tree.contains("wgpu v"),
        "wgpu is in the threaded build (its objects are not Send with atomics):\n{tree}"
    );
}
