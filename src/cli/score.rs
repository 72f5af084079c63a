//! `glimpse score`: the CLIPScore of one image and one caption.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::common::{DeviceArgs, print_json};
use crate::error::Result;
use crate::image;
use crate::model::clip::Towers;
use crate::task::metrics::{CLIPSCORE_PREFIX, clip_scores};

/// Arguments of `score`.
#[derive(Args, Debug)]
pub struct ScoreArgs {
    /// CLIP model folder.
    #[arg(long)]
    pub clip: PathBuf,
    /// The image.
    #[arg(long)]
    pub image: PathBuf,
    /// The caption.
    #[arg(long)]
    pub caption: String,
    /// Text put before the caption ("" for the course variant).
    #[arg(long, default_value = CLIPSCORE_PREFIX)]
    pub prefix: String,
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// Runs `score`.
pub fn run(a: ScoreArgs) -> Result<()> {
    let img = image::open(&a.image)?;
    let device = a.device.device()?;
    let clip = crate::load::native::clip(&a.clip, &device, Towers::Both)?;
    let s = pollster::block_on(clip_scores(&clip, &[&img], &[a.caption.clone()], &a.prefix))?;
    print_json(&json!({ "CLIPScore": s[0] }))
}
