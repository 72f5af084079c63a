//! The machine a CPU benchmark ran on, printed first: figures from different CPUs (AVX2 only,
//! AVX-512, Apple) are not comparable, and the kernels gemm picks depend on these features.

/// "CPU model; N threads; features", as far as this platform tells.
pub fn summary() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split(':').nth(1)).map(|m| m.trim().to_string()))
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{model}; {threads} threads; {}", features().join(" "))
}

#[cfg(target_arch = "x86_64")]
fn features() -> Vec<&'static str> {
    let mut f = Vec::new();
    macro_rules! probe {
        ($($name:tt),*) => { $( if std::arch::is_x86_feature_detected!($name) { f.push($name); } )* };
    }
    probe!("sse4.2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512vnni", "avx512bf16", "avx512fp16");
    if f.is_empty() {
        f.push("baseline x86-64");
    }
    f
}

#[cfg(target_arch = "aarch64")]
fn features() -> Vec<&'static str> {
    let mut f = vec!["neon"];
    if std::arch::is_aarch64_feature_detected!("fp16") {
        f.push("fp16");
    }
    f
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn features() -> Vec<&'static str> {
    Vec::new()
}
