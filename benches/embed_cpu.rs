//! Image-embedding time per image for full-size CLIP vision towers with random weights
//! (generated, not downloaded) on burn's CPU backend. Compare with `benches/embed_torch.py` on
//! the same machine.
//!
//!     cargo bench --features native --bench embed_cpu [-- [--runs N] MODEL...]

use std::time::Instant;

use burn::tensor::{Device, Distribution, Tensor};
use glimpse::hf::{ClipConfig, Weights};
use glimpse::model::clip::{ClipModel, Towers};
use glimpse::task::embed::read_vec;

#[path = "common/machine.rs"]
mod machine;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn bench(name: &str, device: &Device, runs: usize) {
    let cfg = ClipConfig::preset(name).expect("preset");
    let mut w = Weights::random(device, 0.02);
    let model = ClipModel::load(&mut w, &cfg, Towers::Vision);
    let s = cfg.vision.image_size;
    let pixels = Tensor::<4>::random([1, 3, s, s], Distribution::Normal(0.0, 1.0), device);
    let mut times = Vec::new();
    for i in 0..=runs {
        let t = Instant::now();
        let e = glimpse::pool::run(|| model.image_embeds(pixels.clone())).unwrap();
        let v = pollster::block_on(read_vec(e)).unwrap();
        assert!(v.iter().all(|x| x.is_finite()));
        if i > 0 {
            times.push(t.elapsed().as_secs_f64()); // the first run is a warm-up
        }
    }
    println!("{name}: {:.3} s per image (median of {runs}, batch 1, {s}px, burn Flex CPU, {} threads)", median(times), rayon_threads());
}

fn rayon_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn main() {
    println!("machine: {}", machine::summary());
    let all: Vec<String> = std::env::args().skip(1).collect();
    let runs = all.iter().position(|a| a == "--runs").and_then(|i| all.get(i + 1)?.parse().ok()).unwrap_or(5);
    let args: Vec<String> = all
        .iter()
        .enumerate()
        .filter(|&(i, a)| !a.starts_with("--") && (i == 0 || all[i - 1] != "--runs"))
        .map(|(_, a)| a.clone())
        .collect();
    let models =
        if args.is_empty() { vec!["openai/clip-vit-base-patch32".to_string(), "openai/clip-vit-large-patch14".to_string()] } else { args };
    let device = Device::flex();
    for m in models {
        bench(&m, &device, runs);
    }
}
