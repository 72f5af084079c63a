//! The page's two wasm builds get the CPU kernels they are meant to: checked from cargo's own
//! feature resolution (`cargo tree -e features`), so a feature dropped from Cargo.toml (as `simd`
//! once was for the wasm target, leaving every matmul of the page on gemm's scalar kernel) fails
//! here rather than only showing as a slower page. The flags the builds compile with are checked
//! in the browser suite (`buildInfo()`: SIMD128, threads).

use std::process::{Command, Output};

/// `cargo tree --target wasm32-unknown-unknown` with `args`.
fn cargo_tree(args: &[&str]) -> Output {
    null_is_a_device();
    Command::new(env!("CARGO"))
        .args(["tree", "--target", "wasm32-unknown-unknown"])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs")
}

/// cargo learns the target's cfg by running `rustc -` with its stdin opened on `/dev/null`. On a
/// machine whose `/dev/null` is a regular file (the CI machine's was: other processes' discarded
/// stderr piles up in it) rustc compiles that text and every `cargo tree` here fails with
/// "unknown start of token". Said plainly rather than as rustc's puzzle; `.ci/run` repairs it.
fn null_is_a_device() {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let kind = std::fs::metadata("/dev/null").map(|m| m.file_type());
        assert!(
            kind.as_ref().is_ok_and(|k| k.is_char_device()),
            "/dev/null is not the null device on this machine ({kind:?}): cargo's target probe reads it \
             as source. Recreate it as root: rm /dev/null && mknod -m 666 /dev/null c 1 3"
        );
    }
}

/// The features cargo resolves for `gemm` and `burn-flex` on the wasm target with `args`.
fn wasm_features(args: &[&str]) -> String {
    let mut out = String::new();
    for krate in ["gemm", "burn-flex"] {
        let o = cargo_tree(&[&["-e", "features", "-i", krate, "--prefix", "none"], args].concat());
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
    let o = cargo_tree(&["--no-default-features", "--features", "threads", "-i", "wgpu"]);
    // `-i wgpu` prints nothing when the package is not in the graph: what the threaded build needs.
    let tree = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && !tree.contains("wgpu v"),
        "wgpu is in the threaded build (its objects are not Send with atomics):\n{tree}"
    );
}
