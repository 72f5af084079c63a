//! `glimpse classify`: zero-shot classification with prompt ensembles and per-template accuracy.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::common::{DeviceArgs, image_paths, print_json, progress};
use crate::error::{Error, Result};
use crate::image;
use crate::model::clip::Towers;
use crate::task::embed::IMAGE_BATCH;
use crate::task::zeroshot::{self, DEFAULT_TEMPLATE, LabelSet};

/// Arguments of `classify`.
#[derive(Args, Debug)]
pub struct ClassifyArgs {
    /// HF CLIP model folder (config.json, model.safetensors, ...).
    #[arg(long)]
    pub model: PathBuf,
    /// Labels: one per line, a JSON array, or an id2label.json ({"0": "name", ...}).
    #[arg(long)]
    pub labels: PathBuf,
    /// Prompt template with `{}` for the label (repeatable: several form one ensemble).
    #[arg(long = "template")]
    pub templates: Vec<String>,
    /// Also score each template on its own (adds "per_template" accuracies).
    #[arg(long)]
    pub compare: bool,
    /// How many labels to list under "top" per image.
    #[arg(long, default_value_t = 5)]
    pub top_k: usize,
    /// Skip images that cannot be decoded (with a warning) instead of stopping.
    #[arg(long)]
    pub skip_bad: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Image files or folders (searched recursively).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// Runs `classify`.
pub fn run(a: ClassifyArgs) -> Result<()> {
    let labels_text = std::fs::read_to_string(&a.labels).map_err(|e| Error::io(&a.labels, e))?;
    let labels = LabelSet::parse(&labels_text, &a.labels.display().to_string())?;
    let templates = if a.templates.is_empty() { vec![DEFAULT_TEMPLATE.to_string()] } else { a.templates.clone() };
    let prompts = zeroshot::prompts(&labels, &templates)?;
    let paths = image_paths(&a.paths)?;

    let device = a.device.device()?;
    let clip = crate::load::native::clip(&a.model, &device, Towers::Both)?;
    let text = pollster::block_on(clip.embed_texts(&prompts))?;
    let scale = pollster::block_on(clip.logit_scale())?;

    let bar = progress(paths.len(), "classifying");
    let mut kept = Vec::with_capacity(paths.len());
    let mut embeds = Vec::with_capacity(paths.len());
    for chunk in paths.chunks(IMAGE_BATCH) {
        let mut imgs = Vec::with_capacity(chunk.len());
        for p in chunk {
            match image::open(p) {
                Ok(img) => {
                    imgs.push(img);
                    kept.push(p.clone());
                }
                Err(e) if a.skip_bad => bar.suspend(|| eprintln!("warning: skipped {e}")),
                Err(e) => return Err(e),
            }
        }
        let refs: Vec<_> = imgs.iter().collect();
        embeds.extend(pollster::block_on(clip.embed_images(&refs))?);
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();

    let n = labels.names.len();
    let truth: Vec<Option<usize>> = kept.iter().map(|p| labels.truth_of(p)).collect();
    let score = |tpl: &[usize]| zeroshot::score(&embeds, &text, n, tpl, scale);
    let all: Vec<usize> = (0..templates.len()).collect();
    let probs = score(&all);
    let predictions: Vec<_> = kept
        .iter()
        .zip(&probs)
        .map(|(p, pr)| json!({ "image": p.display().to_string(), "probs": pr, "top": zeroshot::top_k(pr, &labels, a.top_k) }))
        .collect();
    let mut out = json!({
        "templates": templates,
        "labels": labels.names,
        "predictions": predictions,
        "accuracy": zeroshot::accuracy(&probs, &truth),
    });
    if a.compare {
        out["per_template"] = templates
            .iter()
            .enumerate()
            .map(|(i, t)| json!({ "template": t, "accuracy": zeroshot::accuracy(&score(&[i]), &truth) }))
            .collect();
    }
    print_json(&out)
}
