//! Caption latency of the full-size captioner (CLIP ViT-L/14@336 + GPT-2 small, random weights,
//! nothing downloaded) on burn's CPU backend: greedy and beam 3, with the share of the encoder
//! and the decoder.
//!
//!     cargo bench --features native --bench caption_cpu [-- TOKENS]

use std::time::Instant;

use burn::tensor::{Device, Distribution, Tensor};
use glimpse::hf::{ClipConfig, EncoderConfig, Gpt2Config, Weights};
use glimpse::model::captioner::{Captioner, CaptionerConfig};
use glimpse::task::embed::read_vec;
use glimpse::task::generate::{GenerateConfig, generate, unwatched};

#[path = "common/machine.rs"]
mod machine;

fn main() {
    println!("machine: {}", machine::summary());
    let tokens: usize = std::env::args().skip(1).find(|a| !a.starts_with("--")).and_then(|a| a.parse().ok()).unwrap_or(20);
    let device = Device::flex();
    let clip = ClipConfig::preset("openai/clip-vit-large-patch14-336").unwrap();
    let cfg = CaptionerConfig::new(EncoderConfig::clip(clip.vision), None, Gpt2Config::gpt2_small(), None, None, true).unwrap();
    let model = Captioner::load(&mut Weights::random(&device, 0.02), &cfg, true);
    let pixels = Tensor::<4>::random([1, 3, 336, 336], Distribution::Normal(0.0, 1.0), &device);
    // Warm-up.
    let enc = model.encode(pixels.clone());
    let _ = pollster::block_on(read_vec(enc.clone()));
    for beams in [1usize, 3] {
        let g = GenerateConfig { beams, max_new_tokens: tokens, eos: u32::MAX, ..Default::default() };
        let runs = 3;
        let (mut te, mut td) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            let t = Instant::now();
            let enc = model.encode(pixels.clone());
            let _ = pollster::block_on(read_vec(enc.clone())).unwrap();
            te.push(t.elapsed().as_secs_f64());
            let t = Instant::now();
            let cap = pollster::block_on(generate(&model.decoder, enc, &g, &mut unwatched())).unwrap();
            assert_eq!(cap.tokens.len(), tokens + 1);
            td.push(t.elapsed().as_secs_f64());
        }
        let med = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (e, d) = (med(te), med(td));
        println!(
            "{}: {:.2} s per caption ({tokens} tokens): encoder {:.2} s ({:.0}%), decoder {:.2} s ({:.0}%, {:.0} ms/token incl. attention maps)",
            if beams == 1 { "greedy".to_string() } else { format!("beam {beams}") },
            e + d,
            e,
            100.0 * e / (e + d),
            d,
            100.0 * d / (e + d),
            1000.0 * d / tokens as f64
        );
    }
}
