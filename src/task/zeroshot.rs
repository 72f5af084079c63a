//! Zero-shot classification: labels x prompt templates, prompt ensembles, accuracy.
//!
//! Everything after the embeddings is plain host arithmetic on small matrices, so the page can
//! re-score cached image embeddings instantly when a template or a label changes.

use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};

/// The seed report's prompt.
pub const DEFAULT_TEMPLATE: &str = "a photo of a {}";

/// Class names, in order, with the ids they have in an `id2label.json` (when read from one).
#[derive(Debug, Clone, PartialEq)]
pub struct LabelSet {
    /// Display names, in label order.
    pub names: Vec<String>,
    /// The id of each name in `id2label.json`, or its 0-based line number.
    pub ids: Vec<i64>,
}

impl LabelSet {
    /// From a list of names (ids are positions).
    pub fn from_names(names: Vec<String>) -> Result<Self> {
        if names.is_empty() {
            return Err(Error::usage("the label list is empty"));
        }
        let ids = (0..names.len() as i64).collect();
        Ok(Self { names, ids })
    }

    /// Parses a labels file: an `id2label.json` object (`{"0": "cat", ...}`, ordered by id), a JSON
    /// array of names, or plain text with one label per line (blank lines and `#` comments skipped).
    pub fn parse(text: &str, path: &str) -> Result<Self> {
        let trimmed = text.trim_start();
        let set = if trimmed.starts_with('{') {
            let map: std::collections::BTreeMap<String, String> = serde_json::from_str(text)
                .map_err(|e| Error::config(path, format!("expected an id2label object {{\"0\": \"name\", ...}}: {e}")))?;
            let mut pairs: Vec<(i64, String)> = map
                .into_iter()
                .map(|(k, v)| {
                    k.trim().parse::<i64>().map(|id| (id, v)).map_err(|_| Error::config(path, format!("id `{k}` is not an integer")))
                })
                .collect::<Result<_>>()?;
            pairs.sort_by_key(|p| p.0);
            Self { ids: pairs.iter().map(|p| p.0).collect(), names: pairs.into_iter().map(|p| p.1).collect() }
        } else if trimmed.starts_with('[') {
            let names: Vec<String> =
                serde_json::from_str(text).map_err(|e| Error::config(path, format!("expected a JSON array of names: {e}")))?;
            Self { ids: (0..names.len() as i64).collect(), names }
        } else {
            let names: Vec<String> =
                text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from).collect();
            Self { ids: (0..names.len() as i64).collect(), names }
        };
        if set.names.is_empty() {
            return Err(Error::config(path, "no labels in this file"));
        }
        if let Some(blank) = set.names.iter().position(|n| n.trim().is_empty()) {
            return Err(Error::config(path, format!("label {} is blank", set.ids[blank])));
        }
        Ok(set)
    }

    /// The ground-truth label of an image file, when its name or folder says it:
    /// DLCV-style `{label_id}_{n}.png`, or a parent folder named like a label.
    pub fn truth_of(&self, path: &Path) -> Option<usize> {
        self.truth_of_name(path).or_else(|| self.truth_of_folder(path))
    }

    /// The label a DLCV-style `{label_id}_{n}.png` name gives, by this set's ids.
    pub fn truth_of_name(&self, path: &Path) -> Option<usize> {
        let stem = path.file_stem()?.to_str()?;
        let (id, rest) = stem.split_once('_')?;
        let id = id.parse::<i64>().ok().filter(|_| !rest.is_empty())?;
        self.ids.iter().position(|&x| x == id)
    }

    /// The label a parent folder named like one gives (`city street` or `city_street`).
    pub fn truth_of_folder(&self, path: &Path) -> Option<usize> {
        let folder = path.parent()?.file_name()?.to_str()?;
        self.names.iter().position(|n| n == folder || n.replace(' ', "_") == folder)
    }
}

/// Puts `label` into every `{}` of `template`; a template without `{}` is an error.
pub fn fill(template: &str, label: &str) -> Result<String> {
    if !template.contains("{}") {
        return Err(Error::usage(format!("template {template:?} has no `{{}}` slot for the label")));
    }
    Ok(template.replace("{}", label))
}

/// Checks templates up front (non-empty list, each with a slot).
pub fn check_templates(templates: &[String]) -> Result<()> {
    if templates.is_empty() {
        return Err(Error::usage("no prompt template given"));
    }
    templates.iter().try_for_each(|t| fill(t, "x").map(drop))
}

/// All prompts, template-major: `prompts[t * labels + c]`.
pub fn prompts(labels: &LabelSet, templates: &[String]) -> Result<Vec<String>> {
    check_templates(templates)?;
    let mut out = Vec::with_capacity(labels.names.len() * templates.len());
    for t in templates {
        for l in &labels.names {
            out.push(fill(t, l)?);
        }
    }
    Ok(out)
}

fn normalized(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
    v
}

/// Class embeddings of a prompt ensemble (CLIP paper): per class, the mean of its prompts'
/// L2-normalised embeddings over `templates` (indices into the template-major `text_embeds`),
/// renormalised.
pub fn class_embeddings(text_embeds: &[Vec<f32>], num_labels: usize, templates: &[usize]) -> Vec<Vec<f32>> {
    (0..num_labels)
        .map(|c| {
            let dim = text_embeds[c].len();
            let mut m = vec![0f32; dim];
            for &t in templates {
                for (a, b) in m.iter_mut().zip(&text_embeds[t * num_labels + c]) {
                    *a += b;
                }
            }
            m.iter_mut().for_each(|a| *a /= templates.len() as f32);
            normalized(m)
        })
        .collect()
}

/// `softmax(scale * cos(image, class))` over classes; `image` and `classes` are normalised.
pub fn probabilities(image: &[f32], classes: &[Vec<f32>], scale: f32) -> Vec<f32> {
    let logits: Vec<f32> = classes.iter().map(|c| scale * c.iter().zip(image).map(|(a, b)| a * b).sum::<f32>()).collect();
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.iter().map(|e| e / sum).collect()
}

/// Index of the largest value (first on ties).
pub fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().fold(0, |best, (i, &x)| if x > v[best] { i } else { best })
}

/// A label and its probability.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Ranked {
    /// Label name.
    pub label: String,
    /// Probability.
    pub prob: f32,
}

/// The `k` most probable labels, best first.
pub fn top_k(probs: &[f32], labels: &LabelSet, k: usize) -> Vec<Ranked> {
    let mut idx: Vec<usize> = (0..probs.len()).collect();
    idx.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
    idx.into_iter().take(k).map(|i| Ranked { label: labels.names[i].clone(), prob: probs[i] }).collect()
}

/// Zero-shot probabilities of each image over the ensemble of `templates` (indices into the
/// template-major `text_embeds`).
pub fn score(images: &[Vec<f32>], text_embeds: &[Vec<f32>], num_labels: usize, templates: &[usize], scale: f32) -> Vec<Vec<f32>> {
    let classes = class_embeddings(text_embeds, num_labels, templates);
    images.iter().map(|e| probabilities(e, &classes, scale)).collect()
}

/// How many images with a known label are right, of how many.
pub fn counts(probs: &[Vec<f32>], truth: &[Option<usize>]) -> (usize, usize) {
    let known: Vec<(usize, &Vec<f32>)> = truth.iter().zip(probs).filter_map(|(t, p)| t.map(|t| (t, p))).collect();
    (known.iter().filter(|(t, p)| argmax(p) == *t).count(), known.len())
}

/// Fraction of images whose argmax equals their known label; `None` when no image has one.
pub fn accuracy(probs: &[Vec<f32>], truth: &[Option<usize>]) -> Option<f64> {
    let (right, n) = counts(probs, truth);
    (n > 0).then(|| right as f64 / n as f64)
}

/// `classify`'s JSON (the CLI prints it, the page exports it): templates, labels, each image's
/// probabilities and top `k` labels, and the accuracy over the images with a known label
/// (`null` when none has one).
pub fn report(
    templates: &[String],
    labels: &LabelSet,
    images: &[String],
    probs: &[Vec<f32>],
    truth: &[Option<usize>],
    k: usize,
) -> serde_json::Value {
    let predictions: Vec<_> = images
        .iter()
        .zip(probs)
        .map(|(image, pr)| serde_json::json!({ "image": image, "probs": pr, "top": top_k(pr, labels, k) }))
        .collect();
    serde_json::json!({
        "templates": templates,
        "labels": labels.names,
        "predictions": predictions,
        "accuracy": accuracy(probs, truth),
    })
}

/// Which prompts a row of the accuracy table scores.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(untagged)]
pub enum Prompts {
    /// One template, by index.
    Template(usize),
    /// All templates together (`"ensemble"`).
    Ensemble(&'static str),
}

/// One row of the accuracy table.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AccuracyRow {
    /// The template, or the ensemble.
    pub template: Prompts,
    /// Images classified right.
    pub right: usize,
    /// Images with a known label.
    pub n: usize,
}

/// Accuracy per template, then of the ensemble of all (when there are several), over the
/// images with a known label; empty when none has one.
pub fn accuracy_table(
    images: &[Vec<f32>],
    text_embeds: &[Vec<f32>],
    num_labels: usize,
    num_templates: usize,
    truth: &[Option<usize>],
    scale: f32,
) -> Vec<AccuracyRow> {
    if truth.iter().all(Option::is_none) {
        return Vec::new();
    }
    let row = |template: Prompts, tpl: &[usize]| {
        let (right, n) = counts(&score(images, text_embeds, num_labels, tpl, scale), truth);
        AccuracyRow { template, right, n }
    };
    let mut rows: Vec<AccuracyRow> = (0..num_templates).map(|t| row(Prompts::Template(t), &[t])).collect();
    if num_templates > 1 {
        rows.push(row(Prompts::Ensemble("ensemble"), &(0..num_templates).collect::<Vec<_>>()));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_from_id2label_are_ordered_by_id() {
        let l = LabelSet::parse(r#"{"10": "ten", "2": "two", "0": "zero"}"#, "x").unwrap();
        assert_eq!(l.names, ["zero", "two", "ten"]);
        assert_eq!(l.truth_of(Path::new("data/10_3.png")), Some(2));
        assert_eq!(l.truth_of(Path::new("data/7_3.png")), None);
    }

    #[test]
    fn labels_from_lines_and_folders() {
        let l = LabelSet::parse("# animals\ncat\n\ngolden retriever\n", "x").unwrap();
        assert_eq!(l.names, ["cat", "golden retriever"]);
        assert_eq!(l.truth_of(Path::new("photos/golden_retriever/img.jpg")), Some(1));
        assert_eq!(l.truth_of(Path::new("photos/cat/1_2.jpg")), Some(1), "ids win over folders");
        assert!(LabelSet::parse("\n# nothing\n", "labels.txt").unwrap_err().to_string().contains("no labels"));
    }

    #[test]
    fn template_needs_slot() {
        assert_eq!(fill("a photo of a {}", "cat").unwrap(), "a photo of a cat");
        assert!(fill("a photo", "cat").unwrap_err().to_string().contains("no `{}` slot"));
    }

    #[test]
    fn ensemble_and_softmax() {
        let e = vec![vec![1.0, 0.0], vec![0.0, 1.0], vec![0.0, 1.0], vec![1.0, 0.0]];
        let c = class_embeddings(&e, 2, &[0, 1]);
        let s = 0.5f32.sqrt();
        assert!((c[0][0] - s).abs() < 1e-6 && (c[0][1] - s).abs() < 1e-6);
        let p = probabilities(&[1.0, 0.0], &e[..2], 10.0);
        assert!((p[0] + p[1] - 1.0).abs() < 1e-6 && p[0] > 0.99);
        assert_eq!(accuracy(&[p.clone(), p], &[Some(0), None]), Some(1.0));
    }
}
