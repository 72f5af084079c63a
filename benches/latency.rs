//! Per-image latency of model folders on disk (the same files the browser benchmark serves):
//! CLIP image embedding and a greedy caption, on a chosen backend. The counterpart of
//! tests/browser/bench.mjs, which runs the same folders in headless Chromium.
//!
//!     cargo bench --features native --bench latency -- --backend wgpu --clip DIR \
//!         --encoder DIR --decoder DIR --image PNG [--tokens 10] [--runs 3]
//!     cargo bench --features native --bench latency -- --backend cpu --model DIR --image PNG
//!
//! `--model DIR`: a published captioner (HF `VisionEncoderDecoderModel`) instead of
//! `--encoder`/`--decoder`; benches/web/bench.mjs runs it so. Prints one JSON line: the medians,
//! the load time and the last caption's token ids.

use std::path::PathBuf;
use std::time::Instant;

use glimpse::load::native::folders as files;
use glimpse::model::clip::Towers;
use glimpse::task::caption::CaptionPipeline;
use glimpse::task::generate::GenerateConfig;
use glimpse::tokenize::{BUNDLED_GPT2_TOKENIZER, Gpt2Tokenizer};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let backend = arg("--backend").unwrap_or_else(|| "cpu".into());
    let runs: usize = arg("--runs").and_then(|r| r.parse().ok()).unwrap_or(3);
    let tokens: usize = arg("--tokens").and_then(|r| r.parse().ok()).unwrap_or(10);
    let image = glimpse::image::open(&PathBuf::from(arg("--image").expect("--image PNG"))).unwrap();
    let device = glimpse::device::init_named(&backend).unwrap();
    let mut out = serde_json::json!({ "backend": backend, "runs": runs, "tokens": tokens });
    if let Some(dir) = arg("--clip") {
        let clip = glimpse::load::native::clip(&PathBuf::from(dir), &device, Towers::Vision).unwrap();
        let _ = pollster::block_on(clip.embed_images(&[&image])).unwrap(); // warm-up (shader compilation)
        let times = (0..runs)
            .map(|_| {
                let t = Instant::now();
                let _ = pollster::block_on(clip.embed_images(&[&image])).unwrap();
                t.elapsed().as_secs_f64()
            })
            .collect();
        out["embed_s"] = median(times).into();
    }
    let t = Instant::now();
    let loaded = match (arg("--model"), arg("--encoder"), arg("--decoder")) {
        (Some(dir), _, _) => Some(files::load_pretrained(&PathBuf::from(dir), None, &device)),
        (None, Some(enc), Some(dec)) => Some(files::load(&PathBuf::from(enc), &PathBuf::from(dec), None, &device, false)),
        _ => None,
    }
    .map(|r| {
        r.unwrap_or_else(|e| {
            eprintln!("error: {e}"); // e.g. a tensor over the GPU's buffer limit: the caller reports it
            std::process::exit(1)
        })
    });
    if let Some((model, config)) = loaded {
        out["load_s"] = t.elapsed().as_secs_f64().into();
        let pipeline = CaptionPipeline::new(model, config, Gpt2Tokenizer::from_bytes(BUNDLED_GPT2_TOKENIZER).unwrap(), &device);
        // No stop token: every run generates exactly `tokens` tokens.
        let cfg = GenerateConfig { beams: 1, max_new_tokens: tokens, eos: u32::MAX, ..GenerateConfig::default() };
        let _ = pollster::block_on(pipeline.caption(&image, &cfg)).unwrap();
        let mut ids = vec![];
        let times = (0..runs)
            .map(|_| {
                let t = Instant::now();
                ids = pollster::block_on(pipeline.caption(&image, &cfg)).unwrap().tokens;
                t.elapsed().as_secs_f64()
            })
            .collect();
        out["caption_s"] = median(times).into();
        out["ids"] = ids.into();
    }
    println!("{out}");
}
