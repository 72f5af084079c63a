//! The linear layers of CLIP's vision towers as bare products on burn's CPU backend (gemm), by
//! shape, and the same products split by output columns over the pool: where gemm's own
//! threading leaves cores idle. Compare with `python3 benches/matmul_torch.py` on the same machine.
//!
//!     cargo bench --features native --bench matmul_cpu
//!
//! Rows are tokens: 50 for ViT-B/32 at 224 px, 257 for ViT-L/14. "split" computes the output's
//! column halves in parallel (`rayon::join`), each from a contiguous half of the weight, each
//! half again with gemm's own threading, and joins them; its result is bit-identical.

use std::time::Instant;

use burn::tensor::{Device, Distribution, Tensor};

#[path = "common/machine.rs"]
mod machine;

fn time(reps: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm-up
    let mut v: Vec<f64> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    println!("machine: {}; rayon pool {}", machine::summary(), rayon::current_num_threads());
    let d = Device::flex();
    println!("| rows x in x out | gemm | GFLOP/s | split over 2 | GFLOP/s |");
    println!("|---|---|---|---|---|");
    for (m, k, n) in [(50, 768, 768), (50, 768, 3072), (50, 3072, 768), (257, 1024, 1024), (257, 1024, 4096), (257, 4096, 1024)] {
        let x = Tensor::<2>::random([m, k], Distribution::Normal(0.0, 1.0), &d); // [m, k]
        let w = Tensor::<2>::random([k, n], Distribution::Normal(0.0, 1.0), &d); // [k, n]
        let half = |r: std::ops::Range<usize>| Tensor::<2>::from_data(w.clone().slice([0..k, r]).into_data(), &d); // [k, n/2], own buffer
        let (w1, w2) = (half(0..n / 2), half(n / 2..n));
        let plain = || x.clone().matmul(w.clone()); // [m, n]
        let split = || {
            let (a, b) = rayon::join(|| x.clone().matmul(w1.clone()), || x.clone().matmul(w2.clone())); // [m, n/2] each
            Tensor::cat(vec![a, b], 1) // [m, n]
        };
        let (p, s) = (plain().into_data().try_to_vec::<f32>().unwrap(), split().into_data().try_to_vec::<f32>().unwrap());
        assert_eq!(p, s, "the split product differs");
        let tp = time(30, || drop(plain().into_data()));
        let ts = time(30, || drop(split().into_data()));
        let gf = |t: f64| 2.0 * (m * k * n) as f64 / t / 1e9;
        println!("| {m} x {k} x {n} | {:.3} ms | {:.0} | {:.3} ms | {:.0} |", tp * 1e3, gf(tp), ts * 1e3, gf(ts));
    }
}
