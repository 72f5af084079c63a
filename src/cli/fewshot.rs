//! `glimpse fewshot`: fit few-shot classifiers (Tip-Adapter's cache model, CLIP's linear probe)
//! on k labelled images per class, and report them next to zero-shot on a test set.

use std::path::PathBuf;

use clap::Args;
use serde_json::{Value, json};

use super::common::{DeviceArgs, PredictArgs, embed_images, image_paths, names, print_json, progress};
use crate::error::{Error, Result};
use crate::model::clip::Towers;
use crate::task::fewshot::evaluate::{Setting, evaluate};
use crate::task::fewshot::head::{self, HeadInfo};
use crate::task::fewshot::{Method, pick_shots, probe};
use crate::task::zeroshot::{self, DEFAULT_TEMPLATE, LabelSet};

/// Arguments of `fewshot`.
#[derive(Args, Debug)]
pub struct FewshotArgs {
    /// HF CLIP model folder (config.json, model.safetensors, ...).
    #[arg(long)]
    pub model: PathBuf,
    /// Labels: one per line, a JSON array, or an id2label.json ({"0": "name", ...}).
    #[arg(long)]
    pub labels: PathBuf,
    /// Labelled training images or folders (labels from `{id}_{n}` file names or folders named
    /// for a label); `--shots` of each class are picked from them.
    #[arg(long, num_args = 1.., required = true)]
    pub train: Vec<PathBuf>,
    /// Test images or folders: predicted with the few-shot classifier; those whose label is
    /// known are scored.
    #[arg(long, num_args = 1.., required = true)]
    pub test: Vec<PathBuf>,
    /// Labelled images per class to fit on, picked at random (see --seed) from --train.
    #[arg(long)]
    pub shots: usize,
    /// Few-shot method: tip (Tip-Adapter's cache model) or probe (linear probe); repeatable.
    /// The first one gives "predictions" and is what --save writes. Default: tip, then probe.
    #[arg(long = "method")]
    pub methods: Vec<Method>,
    /// Prompt template with `{}` for the label (repeatable: several form one ensemble, and each
    /// is also scored on its own).
    #[arg(long = "template")]
    pub templates: Vec<String>,
    /// Seed of the pick of shots.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The linear probe's inverse regularisation strength C (as scikit-learn's); default:
    /// chosen by cross-validation on the labelled images.
    #[arg(long = "probe-c")]
    pub probe_c: Option<f64>,
    /// Write the first method's classifier (on the ensemble of templates) here, for
    /// `classify --head` and the page.
    #[arg(long)]
    pub save: Option<PathBuf>,
    #[command(flatten)]
    pub out: PredictArgs,
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// Runs `fewshot`.
pub fn run(a: FewshotArgs) -> Result<()> {
    let labels_text = std::fs::read_to_string(&a.labels).map_err(|e| Error::io(&a.labels, e))?;
    let labels = LabelSet::parse(&labels_text, &a.labels.display().to_string())?;
    let templates = if a.templates.is_empty() { vec![DEFAULT_TEMPLATE.to_string()] } else { a.templates.clone() };
    let methods = if a.methods.is_empty() { vec![Method::Tip, Method::Probe] } else { a.methods.clone() };
    let prompts = zeroshot::prompts(&labels, &templates)?;
    let (train_paths, test_paths) = (image_paths(&a.train)?, image_paths(&a.test)?);

    let device = a.device.device()?;
    let clip = crate::load::native::clip(&a.model, &device, Towers::Both)?;
    let text = pollster::block_on(clip.embed_texts(&prompts))?;
    let scale = pollster::block_on(clip.logit_scale())?;
    let (train_kept, train_embeds) = embed_images(&clip, &train_paths, a.out.skip_bad, "embedding the training images")?;
    let (test_kept, test_embeds) = embed_images(&clip, &test_paths, a.out.skip_bad, "embedding the test images")?;

    let pool_truth: Vec<Option<usize>> = train_kept.iter().map(|p| labels.truth_of(p)).collect();
    if let Some(i) = pool_truth.iter().position(Option::is_none) {
        return Err(Error::usage(format!(
            "{}: a training image must say its label: name it `{{id}}_{{n}}` with an id of {} or put it in a folder named for its label",
            train_kept[i].display(),
            a.labels.display()
        )));
    }
    let picked = pick_shots(&pool_truth, &labels.names, a.shots, a.seed)?;
    let keys: Vec<Vec<f32>> = picked.iter().map(|&i| train_embeds[i].clone()).collect();
    let y: Vec<usize> = picked.iter().map(|&i| pool_truth[i].expect("checked above")).collect();
    let truth: Vec<Option<usize>> = test_kept.iter().map(|p| labels.truth_of(p)).collect();
    let setting = Setting {
        text: &text,
        templates: &templates,
        classes: labels.names.len(),
        scale,
        keys: &keys,
        y: &y,
        images: &test_embeds,
        truth: &truth,
        methods: &methods,
        probe_c: a.probe_c,
    };
    let fits_probe = methods.contains(&Method::Probe) && a.probe_c.is_none();
    let bar = progress(if fits_probe { probe::C_GRID.len() * 5 + 1 } else { 1 }, "fitting");
    let mut tick = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    let eval = pollster::block_on(evaluate(&device, &setting, &mut tick))?;
    bar.finish_and_clear();

    let first = &eval.fitted[0];
    let mut out = zeroshot::report(&templates, &labels, &names(&test_kept), &first.probs, &truth, a.out.top_k);
    out["zero_shot_accuracy"] = json!(eval.zero_shot_accuracy);
    out["fewshot"] = json!({
        "method": first.method.to_string(),
        "shots": a.shots,
        "seed": a.seed,
        "train": picked.iter().map(|&i| train_kept[i].display().to_string()).collect::<Vec<_>>(),
        "methods": eval.methods_json(),
        "confusion": eval.confusion_json(&truth, labels.names.len()),
    });
    out["per_template"] = Value::Array(eval.per_template.clone());
    if let Some(path) = &a.save {
        let model = a.model.file_name().map_or_else(|| a.model.display().to_string(), |f| f.to_string_lossy().into_owned());
        let info = HeadInfo::new(labels.names.clone(), templates.clone(), a.shots, a.seed, model);
        let bytes = head::to_bytes(&first.classifier, info)?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
        out["fewshot"]["saved"] = json!(path.display().to_string());
    }
    print_json(&out)
}
