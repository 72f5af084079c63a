//! Training throughput of the full-size captioner (CLIP ViT-L/14@336 + GPT-2 small, adapter,
//! random weights, nothing downloaded) on burn's CPU backend, batch 1: with the encoder run on
//! every image, and with its outputs taken from the cache (what `cache_encoder` does without
//! augmentation). Prints images/s and the process's peak memory.
//!
//!     cargo bench --features native --bench train_cpu [-- STEPS]

use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::{Device, Distribution, Tensor};
use glimpse::hf::{ClipConfig, EncoderConfig, Gpt2Config, Weights};
use glimpse::model::captioner::{Captioner, CaptionerConfig};
use glimpse::model::peft::{AdapterConfig, PeftCheckpoint, PeftMethod};
use glimpse::train::trainer::caption_loss;

#[path = "common/machine.rs"]
mod machine;

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok()))
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn main() {
    println!("machine: {}", machine::summary());
    let steps: usize = std::env::args().skip(1).find(|a| !a.starts_with("--")).and_then(|a| a.parse().ok()).unwrap_or(3);
    let device = Device::flex().autodiff();
    device.seed(0);
    let clip = ClipConfig::preset("openai/clip-vit-large-patch14-336").unwrap();
    let peft =
        PeftCheckpoint { method: PeftMethod::Adapter(AdapterConfig::default()), base_encoder: None, base_decoder: None, base_model: None };
    let cfg = CaptionerConfig::new(EncoderConfig::clip(clip.vision), None, Gpt2Config::gpt2_small(), None, Some(peft), true).unwrap();
    let mut model = Captioner::load(&mut Weights::random(&device, 0.02), &cfg, true);
    println!("trainable {} of {} parameters", model.trainable_params(), model.num_params());
    let tokens = vec![vec![64u32, 3290, 2491, 319, 257, 4417, 2214, 1474, 257, 7850, 13, 50256]];
    let pixels = Tensor::<4>::random([1, 3, 336, 336], Distribution::Normal(0.0, 1.0), &device);
    let cached = model.valid().encoder.forward(pixels.clone().inner(), false).last_hidden_state;
    let mut optim = AdamWConfig::new().with_weight_decay(1e-5).init();
    for cache in [false, true] {
        let mut times = Vec::new();
        for i in 0..=steps {
            let t = Instant::now();
            let enc = if cache { model.project(Tensor::from_inner(cached.clone())) } else { model.encode(pixels.clone()) };
            let loss = caption_loss(&model, enc, &tokens, 50256);
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(1e-4, model, grads);
            if i > 0 {
                times.push(t.elapsed().as_secs_f64());
            }
        }
        times.sort_by(f64::total_cmp);
        let med = times[times.len() / 2];
        println!(
            "{}: {:.2} s per step, {:.3} images/s (batch 1, {} caption tokens, median of {steps})",
            if cache { "with the encoder cache" } else { "encoder on every image" },
            med,
            1.0 / med,
            tokens[0].len()
        );
    }
    println!("peak memory (VmHWM): {:.0} MiB", peak_rss_mib());
}
