//! `glimpse train` (also `cargo run --release --features native train`): fine-tune the
//! captioner. Reads `train.toml` in the current folder when present (or `--config FILE`);
//! the options below override it.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Args;
use serde_json::json;

use super::common::print_json;
use crate::error::Result;
use crate::train::lock::release_if_ours;
use crate::train::{TrainConfig, train};

/// Arguments of `train`.
#[derive(Args, Debug)]
pub struct TrainArgs {
    /// TOML config file (default: ./train.toml when it exists).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Continue from OUT/checkpoints/last (weights, optimiser, schedule, data position).
    #[arg(long)]
    pub resume: bool,
    /// CLIP folder (encoder).
    #[arg(long)]
    pub encoder: Option<PathBuf>,
    /// GPT-2 folder (decoder).
    #[arg(long)]
    pub decoder: Option<PathBuf>,
    /// A published captioner (VisionEncoderDecoderModel folder) to start from, instead of
    /// --encoder/--decoder.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Training caption JSON (COCO / DLCV p2).
    #[arg(long)]
    pub train_captions: Option<PathBuf>,
    /// Training image folder.
    #[arg(long)]
    pub train_images: Option<PathBuf>,
    /// Validation caption JSON.
    #[arg(long)]
    pub val_captions: Option<PathBuf>,
    /// Validation image folder.
    #[arg(long)]
    pub val_images: Option<PathBuf>,
    /// CLIP folder for validation CLIPScore.
    #[arg(long)]
    pub clip: Option<PathBuf>,
    /// Output folder.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// PEFT method: none, adapter, lora, prefix.
    #[arg(long)]
    pub method: Option<String>,
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[arg(long)]
    pub grad_accum: Option<usize>,
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Stop after this many optimiser steps in total.
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// Turn augmentation off.
    #[arg(long)]
    pub no_augment: bool,
    /// Cache encoder outputs on disk (needs --no-augment).
    #[arg(long)]
    pub cache_encoder: bool,
    /// Compute backend: cpu, wgpu, auto.
    #[arg(long)]
    pub backend: Option<String>,
}

/// The config a command line resolves to.
pub fn resolve(a: &TrainArgs) -> Result<TrainConfig> {
    let mut c = match &a.config {
        Some(p) => TrainConfig::from_file(p)?,
        None if std::path::Path::new("train.toml").is_file() => TrainConfig::from_file(std::path::Path::new("train.toml"))?,
        None => TrainConfig::default(),
    };
    macro_rules! set {
        ($($f:ident),*) => { $( if let Some(v) = &a.$f { c.$f = v.clone().into(); } )* };
    }
    set!(encoder, decoder, train_captions, train_images, out, epochs, batch_size, grad_accum, lr, seed, max_steps, backend);
    if a.val_captions.is_some() {
        c.val_captions = a.val_captions.clone();
    }
    if a.val_images.is_some() {
        c.val_images = a.val_images.clone();
    }
    if a.clip.is_some() {
        c.clip = a.clip.clone();
    }
    if a.model.is_some() {
        c.model = a.model.clone();
    }
    if let Some(m) = &a.method {
        c.method = m.parse()?;
    }
    if a.no_augment {
        c.augment = false;
    }
    if a.cache_encoder {
        c.cache_encoder = true;
    }
    Ok(c)
}

/// Runs `train`.
pub fn run(a: TrainArgs) -> Result<()> {
    let cfg = resolve(&a)?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let out = cfg.out.clone();
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            eprintln!("\nsecond Ctrl-C: exiting without saving");
            // Exiting skips the lock's Drop.
            release_if_ours(&out);
            std::process::exit(130);
        }
        eprintln!("\nCtrl-C: saving a checkpoint at the next step (press again to quit now)");
    });
    let outcome = train(&cfg, a.resume, stop)?;
    print_json(&json!({
        "steps": outcome.steps,
        "last_loss": outcome.last_loss,
        "best_cider": outcome.best_cider,
        "interrupted": outcome.interrupted,
        "checkpoint": outcome.checkpoint.display().to_string(),
    }))?;
    if outcome.interrupted {
        std::process::exit(130);
    }
    Ok(())
}
