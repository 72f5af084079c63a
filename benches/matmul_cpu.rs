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

/// The output's column blocks computed in parallel over the pool (one task per block), joined.
fn split(x: &Tensor<2>, blocks: &[Tensor<2>]) -> Tensor<2> {
    use rayon::prelude::*;
    let parts: Vec<Tensor<2>> = blocks.par_iter().map(|w| x.clone().matmul(w.clone())).collect(); // [m, n/p] each
    Tensor::cat(parts, 1) // [m, n]
}

fn main() {
    let threads = rayon::current_num_threads();
    println!("machine: {}; rayon pool {threads}", machine::summary());
    let d = Device::flex();
    println!("| rows x in x out | gemm | GFLOP/s | contiguous blocks | strided views | blocked batch (4) |");
    println!("|---|---|---|---|---|---|");
    let shapes = [
        (1, 768, 2304),
        (1, 768, 3072),
        (1, 3072, 768),
        (50, 768, 768),
        (50, 768, 3072),
        (50, 3072, 768),
        (257, 1024, 1024),
        (257, 1024, 4096),
        (257, 4096, 1024),
    ];
    for (m, k, n) in shapes {
        let x = Tensor::<2>::random([m, k], Distribution::Normal(0.0, 1.0), &d); // [m, k]
        let w = Tensor::<2>::random([k, n], Distribution::Normal(0.0, 1.0), &d); // [k, n]
        let cols = |i: usize, p: usize| i * n / p..(i + 1) * n / p;
        let own = |r: std::ops::Range<usize>| Tensor::<2>::from_data(w.clone().slice([0..k, r]).into_data(), &d); // [k, n/p], own buffer
        let contiguous: Vec<_> = (0..threads).map(|i| own(cols(i, threads))).collect();
        let views: Vec<_> = (0..threads).map(|i| w.clone().slice([0..k, cols(i, threads)])).collect(); // [k, n/p], strided
        let nb = 4;
        let blocked = w.clone().reshape([k, nb, n / nb]).swap_dims(0, 1); // [nb, k, n/nb]
        let blocked = Tensor::<3>::from_data(blocked.into_data(), &d); // own buffer, contiguous
        let batch = || {
            let y = x.clone().unsqueeze_dim::<3>(0).matmul(blocked.clone()); // [nb, m, n/nb]
            y.swap_dims(0, 1).reshape([m, n]) // [m, n]
        };
        let plain = || x.clone().matmul(w.clone()); // [m, n]
        let v = |t: Tensor<2>| t.into_data().try_to_vec::<f32>().unwrap();
        let p = v(plain());
        assert_eq!(p, v(split(&x, &contiguous)), "the split product differs");
        assert_eq!(p, v(split(&x, &views)), "the strided split differs");
        assert_eq!(p, v(batch()), "the blocked product differs");
        let tp = time(30, || drop(plain().into_data()));
        let tc = time(30, || drop(split(&x, &contiguous).into_data()));
        let tv = time(30, || drop(split(&x, &views).into_data()));
        let tb = time(30, || drop(batch().into_data()));
        let gf = |t: f64| 2.0 * (m * k * n) as f64 / t / 1e9;
        let ms = |t: f64| format!("{:.3} ms", t * 1e3);
        println!("| {m} x {k} x {n} | {} | {:.0} | {} | {} | {} |", ms(tp), gf(tp), ms(tc), ms(tv), ms(tb));
    }
}
