//! `glimpse caption`: captions with greedy or beam search, details with per-token attention.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::common::{DeviceArgs, image_paths, progress};
use crate::error::{Error, Result};
use crate::image;
use crate::model::captioner::files;
use crate::task::caption::CaptionPipeline;
use crate::task::generate::GenerateConfig;
use crate::tokenize::Gpt2Tokenizer;

/// Arguments of `caption`.
#[derive(Args, Debug)]
pub struct CaptionArgs {
    /// CLIP model folder whose vision tower encodes the images.
    #[arg(long)]
    pub encoder: PathBuf,
    /// GPT-2 folder (config.json, model.safetensors).
    #[arg(long)]
    pub decoder: PathBuf,
    /// PEFT checkpoint folder (adapter_config.json, adapter_model.safetensors).
    #[arg(long)]
    pub peft: Option<PathBuf>,
    /// Beam width (1 = greedy).
    #[arg(long, default_value_t = 1)]
    pub beams: usize,
    /// Tokens generated at most.
    #[arg(long, default_value_t = 30)]
    pub max_tokens: usize,
    /// Beam length penalty (score / length^penalty).
    #[arg(long, default_value_t = 1.0)]
    pub length_penalty: f64,
    /// Forbid repeated n-grams of this size (0 = off).
    #[arg(long, default_value_t = 0)]
    pub no_repeat_ngram: usize,
    /// Write {"<image stem>": "caption"} here (the DLCV format) instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Write token ids, text, patch grid and per-token cross-attention here.
    #[arg(long)]
    pub details: Option<PathBuf>,
    /// Write one PNG per image here: the image, then each token's attention map over it.
    #[arg(long)]
    pub attention_dir: Option<PathBuf>,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Image files or folders.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

fn write_json(path: &std::path::Path, v: &serde_json::Value) -> Result<()> {
    let text = serde_json::to_string_pretty(v).map_err(|e| Error::invalid(e.to_string()))?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// Runs `caption`.
pub fn run(a: CaptionArgs) -> Result<()> {
    let cfg = GenerateConfig {
        beams: a.beams,
        max_new_tokens: a.max_tokens,
        length_penalty: a.length_penalty,
        no_repeat_ngram_size: a.no_repeat_ngram,
        ..GenerateConfig::default()
    };
    if cfg.beams == 0 {
        return Err(Error::invalid("--beams must be at least 1"));
    }
    let paths = image_paths(&a.paths)?;
    if let Some(d) = &a.attention_dir {
        std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
    }
    let device = a.device.device()?;
    let (model, config) = files::load(&a.encoder, &a.decoder, a.peft.as_deref(), &device, false)?;
    let pipeline = CaptionPipeline::new(model, config, Gpt2Tokenizer::from_dir_or_bundled(&a.decoder)?, &device);

    let bar = progress(paths.len(), "captioning");
    let mut captions = BTreeMap::new();
    let mut details = BTreeMap::new();
    for p in &paths {
        let img = image::open(p)?;
        let out = pollster::block_on(pipeline.caption(&img, &cfg))?;
        let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("image").to_string();
        if let Some(d) = &a.attention_dir {
            let fig = super::figure::attention_figure(&pipeline.seen(&img), &out.words, &out.attention, out.grid[0]);
            let file = d.join(format!("{stem}.png"));
            fig.save(&file).map_err(|e| Error::image(file.display().to_string(), e.to_string()))?;
        }
        captions.insert(stem.clone(), out.text.clone());
        details.insert(stem, json!(out));
        bar.inc(1);
    }
    bar.finish_and_clear();
    if let Some(d) = &a.details {
        write_json(d, &json!(details))?;
    }
    match &a.out {
        Some(o) => write_json(o, &json!(captions)),
        None => super::common::print_json(&json!(captions)),
    }
}
