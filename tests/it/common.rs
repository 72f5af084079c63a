//! Fixture paths, reference tensors and comparisons.

use std::collections::HashMap;
use std::path::PathBuf;

use burn::tensor::Device;
use glimpse::device::{self, Backend};
use glimpse::hf::weights::to_f32;

pub const TOL: f32 = 1e-4;

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn model_dir(name: &str) -> PathBuf {
    fixtures().join(name)
}

pub const MODELS: [&str; 2] = ["clip_a", "clip_b"];

/// A reference tensor: shape and values.
pub struct Ref {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

pub fn references(model: &str) -> HashMap<String, Ref> {
    let bytes = std::fs::read(model_dir(model).join("reference.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors().into_iter().map(|(k, v)| (k, Ref { shape: v.shape().to_vec(), data: to_f32(v.dtype(), v.data()).unwrap() })).collect()
}

pub fn reference_json(model: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(model_dir(model).join("reference.json")).unwrap()).unwrap()
}

/// The backends under test: CPU always, wgpu unless GLIMPSE_SKIP_WGPU is set (machines without
/// a Vulkan driver; CI installs Mesa's lavapipe).
pub fn devices() -> Vec<(Backend, Device)> {
    let mut out = vec![(Backend::Cpu, device::init(Backend::Cpu).unwrap())];
    if std::env::var_os("GLIMPSE_SKIP_WGPU").is_none() {
        let d = device::init(Backend::Wgpu).expect("wgpu device (install mesa-vulkan-drivers, or set GLIMPSE_SKIP_WGPU=1)");
        out.push((Backend::Wgpu, d));
    }
    out
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length differs");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[track_caller]
pub fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32) {
    let d = max_abs_diff(got, want);
    assert!(d <= tol, "{what}: max abs difference {d:e} > {tol:e}");
}

pub fn flat(rows: &[Vec<f32>]) -> Vec<f32> {
    rows.iter().flatten().copied().collect()
}

/// A temporary folder removed on drop (the tests need no dev-dependency, so `cargo test` and
/// `cargo build` share one feature set and one build of the dependencies).
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh temporary folder.
pub fn tempdir() -> TempDir {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let p = std::env::temp_dir().join(format!("glimpse-test-{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst)));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    TempDir(p)
}
