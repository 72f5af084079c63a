//! `glimpse caption`: captions with greedy or beam search, details with per-token attention.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::common::{DeviceArgs, image_paths, progress};
use crate::error::{Error, Result};
use crate::image;
use crate::load::native;
use crate::load::{CaptionerSpec, LoadedCaptioner};
use crate::task::caption::CaptionPipeline;
use crate::task::generate::{GenerateConfig, Overrides, unwatched};

/// Arguments of `caption`.
#[derive(Args, Debug)]
pub struct CaptionArgs {
    /// A published captioner: a HF VisionEncoderDecoderModel folder (ViT or CLIP + GPT-2),
    /// instead of --encoder/--decoder.
    #[arg(long, conflicts_with_all = ["encoder", "decoder"])]
    pub model: Option<PathBuf>,
    /// Image encoder folder: a CLIP model (its vision tower is used) or a ViT.
    #[arg(long, requires = "decoder")]
    pub encoder: Option<PathBuf>,
    /// GPT-2 folder (config.json, model.safetensors).
    #[arg(long, requires = "encoder")]
    pub decoder: Option<PathBuf>,
    /// PEFT checkpoint folder (adapter_config.json, adapter_model.safetensors). Given alone,
    /// the base model its adapter_config.json names is loaded (a local folder, or a hub id
    /// found in the local Hugging Face cache).
    #[arg(long)]
    pub peft: Option<PathBuf>,
    /// Beam width (1 = greedy; default: the model's generation_config.json, else 1).
    #[arg(long)]
    pub beams: Option<usize>,
    /// Tokens generated at most (default: the model's max_length - 1, else 30).
    #[arg(long)]
    pub max_tokens: Option<usize>,
    /// Beam length penalty (score / length^penalty; default: the model's, else 1).
    #[arg(long)]
    pub length_penalty: Option<f64>,
    /// Forbid repeated n-grams of this size (0 = off; default: the model's, else 0).
    #[arg(long)]
    pub no_repeat_ngram: Option<usize>,
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
    let text = serde_json::to_string_pretty(v).map_err(|e| Error::Internal(e.to_string()))?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// Runs `caption`.
pub fn run(a: CaptionArgs) -> Result<()> {
    if a.beams == Some(0) {
        return Err(Error::usage("--beams must be at least 1"));
    }
    let paths = image_paths(&a.paths)?;
    if let Some(d) = &a.attention_dir {
        std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
    }
    let device = a.device.device()?;
    let at = |p: &Option<PathBuf>| p.as_deref().map(native::at);
    let spec =
        CaptionerSpec { model: at(&a.model), encoder: at(&a.encoder), decoder: at(&a.decoder), peft: at(&a.peft), ..Default::default() };
    let LoadedCaptioner { model, config, tokenizer } = native::captioner(spec, &device)?;
    let overrides = Overrides {
        beams: a.beams,
        max_tokens: a.max_tokens,
        length_penalty: a.length_penalty,
        no_repeat_ngram: a.no_repeat_ngram,
        no_stop: false,
    };
    let cfg = GenerateConfig::resolve(&config.generation, &overrides);
    let pipeline = CaptionPipeline::new(model, config, tokenizer, &device);

    let bar = progress(paths.len(), "captioning");
    let mut captions = BTreeMap::new();
    let mut details = BTreeMap::new();
    for p in &paths {
        let seen = pipeline.seen(&image::open(p)?);
        let out = pollster::block_on(pipeline.caption_seen(&seen, &cfg, &mut unwatched()))?;
        let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("image").to_string();
        if let Some(d) = &a.attention_dir {
            let fig = crate::task::figure::attention_figure(&seen, &out.words, &out.attention, out.grid[0]);
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
