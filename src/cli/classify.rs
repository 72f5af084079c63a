//! `glimpse classify`: zero-shot classification with prompt ensembles and per-template accuracy.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::common::{DeviceArgs, PredictArgs, embed_images, image_paths, names, print_json};
use crate::error::{Error, Result};
use crate::model::clip::Towers;
use crate::task::fewshot::head::{self, Head};
use crate::task::zeroshot::{self, DEFAULT_TEMPLATE, LabelSet};

/// Arguments of `classify`.
#[derive(Args, Debug)]
pub struct ClassifyArgs {
    /// HF CLIP model folder (config.json, model.safetensors, ...).
    #[arg(long)]
    pub model: PathBuf,
    /// Labels: one per line, a JSON array, or an id2label.json ({"0": "name", ...}). Optional
    /// with --head (which carries its labels); when both are given they must agree.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// A few-shot classifier saved by `glimpse fewshot --save`, used instead of zero-shot.
    #[arg(long)]
    pub head: Option<PathBuf>,
    /// Prompt template with `{}` for the label (repeatable: several form one ensemble).
    #[arg(long = "template")]
    pub templates: Vec<String>,
    /// Also score each template on its own (adds "per_template" accuracies).
    #[arg(long)]
    pub compare: bool,
    #[command(flatten)]
    pub out: PredictArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Image files or folders (searched recursively).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// Runs `classify`.
pub fn run(a: ClassifyArgs) -> Result<()> {
    let head = a.head.as_deref().map(read_head).transpose()?;
    let labels = match (&a.labels, &head) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
            LabelSet::parse(&text, &path.display().to_string())?
        }
        (None, Some(h)) => LabelSet::from_names(h.info.labels.clone())?,
        (None, None) => return Err(Error::usage("--labels FILE is needed (or --head FILE, which carries its labels)")),
    };
    if let Some(h) = &head {
        check_head(h, &labels, &a)?;
    }
    let templates = match &head {
        Some(h) => h.info.templates.clone(),
        None if a.templates.is_empty() => vec![DEFAULT_TEMPLATE.to_string()],
        None => a.templates.clone(),
    };
    let paths = image_paths(&a.paths)?;

    let device = a.device.device()?;
    let towers = if head.is_some() { Towers::Vision } else { Towers::Both };
    let clip = crate::load::native::clip(&a.model, &device, towers)?;
    let (kept, embeds) = embed_images(&clip, &paths, a.out.skip_bad, "classifying")?;
    let truth: Vec<Option<usize>> = kept.iter().map(|p| labels.truth_of(p)).collect();

    let out = match &head {
        Some(h) => {
            if let Some(bad) = embeds.first().filter(|e| e.len() != h.classifier.dim()) {
                return Err(Error::usage(format!(
                    "{}: the head takes {}-dimensional embeddings, {} gives {}: it was fitted on another CLIP ({})",
                    a.head.as_ref().map_or(String::new(), |p| p.display().to_string()),
                    h.classifier.dim(),
                    a.model.display(),
                    bad.len(),
                    h.info.model
                )));
            }
            let probs: Vec<Vec<f32>> = embeds.iter().map(|e| h.classifier.probabilities(e)).collect();
            let mut out = zeroshot::report(&templates, &labels, &names(&kept), &probs, &truth, a.out.top_k);
            out["head"] =
                json!({ "method": h.info.method, "file": a.head.as_ref().map(|p| p.display().to_string()), "shots": h.info.shots });
            out
        }
        None => {
            let prompts = zeroshot::prompts(&labels, &templates)?;
            let text = pollster::block_on(clip.embed_texts(&prompts))?;
            let scale = pollster::block_on(clip.logit_scale())?;
            let n = labels.names.len();
            let score = |tpl: &[usize]| zeroshot::score(&embeds, &text, n, tpl, scale);
            let all: Vec<usize> = (0..templates.len()).collect();
            let mut out = zeroshot::report(&templates, &labels, &names(&kept), &score(&all), &truth, a.out.top_k);
            if a.compare {
                out["per_template"] = templates
                    .iter()
                    .enumerate()
                    .map(|(i, t)| json!({ "template": t, "accuracy": zeroshot::accuracy(&score(&[i]), &truth) }))
                    .collect();
            }
            out
        }
    };
    print_json(&out)
}

fn read_head(path: &std::path::Path) -> Result<Head> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    head::from_bytes(&bytes, &path.display().to_string())
}

fn check_head(h: &Head, labels: &LabelSet, a: &ClassifyArgs) -> Result<()> {
    let file = a.head.as_ref().map_or(String::new(), |p| p.display().to_string());
    if !a.templates.is_empty() || a.compare {
        return Err(Error::usage(format!(
            "{file}: a head is a fitted classifier with its own templates ({}); --template and --compare do not apply to it",
            h.info.templates.join(" | ")
        )));
    }
    if labels.names != h.info.labels {
        return Err(Error::usage(format!(
            "{file}: the head was fitted for the labels [{}], the labels file gives [{}]",
            h.info.labels.join(", "),
            labels.names.join(", ")
        )));
    }
    Ok(())
}
