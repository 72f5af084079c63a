//! Training options. `glimpse train` reads `train.toml` from the current folder when present
//! (or the file given with `--config`); command-line options override it. The defaults are the
//! seed report's recipe for its best model (adapter): 10 epochs, batch 1, AdamW lr 1e-4 and weight
//! decay 1e-5, StepLR every half epoch with gamma 0.8, colour jitter 0.2, horizontal flips and
//! rotations up to 15 degrees.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::peft::{AdapterConfig, LoraConfig, PeftMethod, PrefixConfig};

/// Which PEFT method to train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Cross-attention only.
    None,
    /// Bottleneck adapters (the seed report's best).
    #[default]
    Adapter,
    /// LoRA.
    Lora,
    /// Prefix tuning.
    Prefix,
}

impl std::str::FromStr for Method {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(Self::None),
            "adapter" => Ok(Self::Adapter),
            "lora" => Ok(Self::Lora),
            "prefix" | "prefix_tuning" => Ok(Self::Prefix),
            other => Err(Error::usage(format!("unknown method `{other}` (none, adapter, lora, prefix)"))),
        }
    }
}

/// Everything a training run needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// CLIP model folder (its vision tower is the frozen encoder).
    pub encoder: PathBuf,
    /// GPT-2 folder (frozen decoder).
    pub decoder: PathBuf,
    /// A published captioner (HF VisionEncoderDecoderModel folder, e.g. ViT + GPT-2): its encoder
    /// and decoder, cross-attention included, start the run instead of `encoder` / `decoder`.
    pub model: Option<PathBuf>,
    /// Training captions (COCO / DLCV p2 JSON).
    pub train_captions: PathBuf,
    /// Training image folder.
    pub train_images: PathBuf,
    /// Validation captions; no validation when empty.
    pub val_captions: Option<PathBuf>,
    /// Validation image folder.
    pub val_images: Option<PathBuf>,
    /// Validate on at most this many images (0 = all).
    pub val_limit: usize,
    /// CLIP folder for CLIPScore during validation (none = no CLIPScore).
    pub clip: Option<PathBuf>,
    /// Prefix for CLIPScore ("A photo depicts " as Hessel et al.; "" for the course variant).
    pub clipscore_prefix: String,
    /// Output folder: checkpoints, metrics.jsonl, plot.png, validation captions.
    pub out: PathBuf,
    /// The PEFT method.
    pub method: Method,
    /// Adapter options (method = "adapter").
    pub adapter: AdapterConfig,
    /// LoRA options (method = "lora").
    pub lora: LoraConfig,
    /// Prefix options (method = "prefix").
    pub prefix: PrefixConfig,
    /// Passes over the training captions.
    pub epochs: usize,
    /// Captions per forward pass.
    pub batch_size: usize,
    /// Forward passes per optimiser step.
    pub grad_accum: usize,
    /// AdamW learning rate.
    pub lr: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// StepLR period in optimiser steps (0 = half an epoch, the seed report's).
    pub lr_step: usize,
    /// StepLR factor.
    pub lr_gamma: f64,
    /// Linear warm-up, in optimiser steps.
    pub warmup_steps: usize,
    /// Seed of initialisation, data order, augmentation and dropout.
    pub seed: u64,
    /// Colour jitter (0.2), horizontal flips and rotations (15 degrees) on training images.
    pub augment: bool,
    /// Keep encoder outputs in memory and on disk (only without augmentation: the encoder is
    /// frozen, so it then runs once per image instead of once per epoch).
    pub cache_encoder: bool,
    /// Compute backend: cpu, wgpu or auto.
    pub backend: String,
    /// Save a checkpoint every this many optimiser steps (0 = only at epoch ends).
    pub checkpoint_every: usize,
    /// Stop after this many optimiser steps in total (0 = no limit).
    pub max_steps: usize,
    /// Tokens generated at most for validation captions.
    pub max_tokens: usize,
    /// Longest training caption in tokens (longer ones are cut).
    pub max_caption_tokens: usize,
    /// Image decoding threads.
    pub workers: usize,
}

/// Most passes over the training set.
pub const MAX_EPOCHS: usize = 100_000;
/// Largest batch (and gradient accumulation): captions in one forward pass.
pub const MAX_BATCH: usize = 4096;
/// Longest caption, in tokens, trained on or generated (GPT-2's positions are 1024).
pub const MAX_TOKENS: usize = 65_536;
/// Most image-decoding threads.
pub const MAX_WORKERS: usize = 256;

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            encoder: "clip-vit-large-patch14-336".into(),
            decoder: "gpt2".into(),
            model: None,
            train_captions: "hw3_data/p2_data/train.json".into(),
            train_images: "hw3_data/p2_data/images/train".into(),
            val_captions: None,
            val_images: None,
            val_limit: 0,
            clip: None,
            clipscore_prefix: crate::task::metrics::CLIPSCORE_PREFIX.into(),
            out: "runs/captioner".into(),
            method: Method::Adapter,
            adapter: AdapterConfig::default(),
            lora: LoraConfig::default(),
            prefix: PrefixConfig::default(),
            epochs: 10,
            batch_size: 1,
            grad_accum: 1,
            lr: 1e-4,
            weight_decay: 1e-5,
            lr_step: 0,
            lr_gamma: 0.8,
            warmup_steps: 0,
            seed: 42,
            augment: true,
            cache_encoder: false,
            backend: "auto".into(),
            checkpoint_every: 1000,
            max_steps: 0,
            max_tokens: 30,
            max_caption_tokens: 60,
            workers: 2,
        }
    }
}

impl TrainConfig {
    /// Parses TOML; `path` names the file in errors.
    pub fn from_toml(text: &str, path: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| Error::config(path, e.to_string()))
    }

    /// Reads a TOML file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// The PEFT method with its options.
    pub fn peft(&self) -> PeftMethod {
        match self.method {
            Method::None => PeftMethod::None,
            Method::Adapter => PeftMethod::Adapter(self.adapter.clone()),
            Method::Lora => PeftMethod::Lora(self.lora.clone()),
            Method::Prefix => PeftMethod::Prefix(self.prefix.clone()),
        }
    }

    /// Checks values that would only fail later.
    pub fn check(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::usage(format!("train config: {m}")));
        if self.epochs == 0 {
            return bad("epochs must be at least 1");
        }
        if self.batch_size == 0 || self.grad_accum == 0 {
            return bad("batch_size and grad_accum must be at least 1");
        }
        // Values past these would only allocate without bound or run for ever.
        for (name, value, max) in [
            ("epochs", self.epochs, MAX_EPOCHS),
            ("batch_size", self.batch_size, MAX_BATCH),
            ("grad_accum", self.grad_accum, MAX_BATCH),
            ("max_caption_tokens", self.max_caption_tokens, MAX_TOKENS),
            ("max_tokens", self.max_tokens, MAX_TOKENS),
            ("workers", self.workers, MAX_WORKERS),
        ] {
            if value > max {
                return bad(&format!("{name} is {value}, more than the limit of {max}"));
            }
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad("lr must be positive");
        }
        if self.cache_encoder && self.augment {
            return bad("cache_encoder needs augment = false (augmented images change every epoch)");
        }
        if self.val_captions.is_some() != self.val_images.is_some() {
            return bad("val_captions and val_images go together");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_seed_recipe_and_toml_overrides() {
        let d = TrainConfig::default();
        assert_eq!((d.epochs, d.batch_size, d.lr, d.weight_decay, d.lr_gamma, d.method), (10, 1, 1e-4, 1e-5, 0.8, Method::Adapter));
        let c =
            TrainConfig::from_toml("method = \"lora\"\nepochs = 3\n[lora]\nr = 4\nlora_alpha = 8.0\ntarget_modules = [\"c_attn\"]\n", "t")
                .unwrap();
        assert_eq!((c.method, c.epochs, c.lora.r), (Method::Lora, 3, 4));
        let e = TrainConfig::from_toml("epoch = 3\n", "train.toml").unwrap_err();
        assert!(e.to_string().contains("train.toml") && e.to_string().contains("epoch"), "{e}");
    }

    #[test]
    fn sizes_past_their_limits_are_refused_by_name() {
        for (edit, needle) in [
            (TrainConfig { batch_size: 1 << 40, ..Default::default() }, "batch_size is 1099511627776, more than the limit of 4096"),
            (TrainConfig { grad_accum: usize::MAX, ..Default::default() }, "grad_accum is"),
            (TrainConfig { epochs: 1 << 30, ..Default::default() }, "epochs is 1073741824"),
            (TrainConfig { max_caption_tokens: 1 << 20, ..Default::default() }, "max_caption_tokens is 1048576"),
        ] {
            let e = edit.check().unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        }
        TrainConfig::default().check().unwrap();
    }
}
