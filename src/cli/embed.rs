//! `glimpse embed`.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::common::{DeviceArgs, image_paths, print_json, progress};
use crate::error::{Error, Result};
use crate::image;
use crate::model::clip::Towers;
use crate::task::embed::IMAGE_BATCH;

/// Arguments of `embed`.
#[derive(Args, Debug)]
pub struct EmbedArgs {
    /// HF CLIP model folder (config.json, model.safetensors, ...).
    #[arg(long)]
    pub model: PathBuf,
    /// An image file or folder to embed (repeatable).
    #[arg(long = "image")]
    pub images: Vec<PathBuf>,
    /// A text to embed (repeatable).
    #[arg(long = "text")]
    pub texts: Vec<String>,
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// Runs `embed`.
pub fn run(a: EmbedArgs) -> Result<()> {
    let towers = match (a.images.is_empty(), a.texts.is_empty()) {
        (true, true) => {
            return Err(Error::usage("nothing to embed: give --image and/or --text"));
        }
        (false, true) => Towers::Vision,
        (true, false) => Towers::Text,
        (false, false) => Towers::Both,
    };
    let paths = if a.images.is_empty() { vec![] } else { image_paths(&a.images)? };
    let device = a.device.device()?;
    let clip = crate::load::native::clip(&a.model, &device, towers)?;
    let bar = progress(paths.len(), "embedding");
    let mut image_embeds = Vec::with_capacity(paths.len());
    for chunk in paths.chunks(IMAGE_BATCH) {
        let imgs = chunk.iter().map(|p| image::open(p)).collect::<Result<Vec<_>>>()?;
        let refs: Vec<_> = imgs.iter().collect();
        image_embeds.extend(pollster::block_on(clip.embed_images(&refs))?);
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    let text_embeds = if a.texts.is_empty() { vec![] } else { pollster::block_on(clip.embed_texts(&a.texts))? };
    print_json(&json!({ "image_embeds": image_embeds, "text_embeds": text_embeds }))
}
