//! Fine-tuning the captioner (feature `native`): only cross-attention, `enc_to_dec_proj` and the
//! PEFT parameters are trained; the CLIP encoder and GPT-2 stay frozen.
//!
//! - [`config`]: `train.toml` / command-line options, defaults = the seed report's recipe;
//! - [`data`]: the caption dataset, caption cleaning, augmentation, background loading;
//! - [`checkpoint`]: atomic checkpoints (PEFT folder + optimiser + progress) and resuming;
//! - [`lock`]: the lock on an output folder (one run at a time);
//! - [`runlog`]: `metrics.jsonl` (never repeating a step after a resume) and the plotted series;
//! - [`trainer`]: the loop (AdamW, StepLR with warm-up, gradient accumulation, validation with
//!   CIDEr-D and CLIPScore, best checkpoint, metrics log and plot).

pub mod checkpoint;
pub mod config;
pub mod data;
pub mod lock;
pub mod plot;
pub use crate::rng;
pub mod runlog;
pub mod trainer;

pub use config::TrainConfig;
pub use trainer::{TrainOutcome, train};
