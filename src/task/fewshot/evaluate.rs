//! One few-shot evaluation, as `glimpse fewshot` prints it and the page shows it: zero-shot and
//! the cache model on each template and the ensemble, the linear probe on the ensemble, each
//! method's accuracy and confusion on the scored images, and every fitted classifier with its
//! predictions. The CLI and the page both call [`evaluate`], so their numbers are the same.

use burn::tensor::Device;
use serde_json::{Map, Value, json};

use super::probe::{self, LinearProbe};
use super::{Classifier, Method, cache};
use crate::error::{Error, Result};
use crate::task::zeroshot;

/// What one evaluation fits and scores.
#[derive(Debug, Clone, Copy)]
pub struct Setting<'a> {
    /// Text embeddings of every prompt, template-major: `text[t * classes + c]`, each `[d]`.
    pub text: &'a [Vec<f32>],
    /// The templates (their texts name the rows of the table).
    pub templates: &'a [String],
    /// The number of classes (labels).
    pub classes: usize,
    /// CLIP's logit scale (`exp(logit_scale)`).
    pub scale: f32,
    /// The labelled images fitted on (the shots): normalised embeddings `[n][d]`.
    pub keys: &'a [Vec<f32>],
    /// The class of each key.
    pub y: &'a [usize],
    /// The images predicted: normalised embeddings `[m][d]`.
    pub images: &'a [Vec<f32>],
    /// Their known classes (`None`: unlabelled, predicted but not scored).
    pub truth: &'a [Option<usize>],
    /// The methods to fit, in order (the first is the one predictions use); none repeated.
    pub methods: &'a [Method],
    /// The linear probe's `C`; `None`: chosen by cross-validation.
    pub probe_c: Option<f64>,
}

/// A fitted classifier and what it gives.
#[derive(Debug, Clone)]
pub struct Fitted {
    /// Which method.
    pub method: Method,
    /// The classifier (on the ensemble of all templates).
    pub classifier: Classifier,
    /// How it was fitted and its accuracy (`glimpse fewshot`'s `fewshot.methods[method]`).
    pub info: Value,
    /// Its class probabilities of every image `[m][classes]`.
    pub probs: Vec<Vec<f32>>,
}

/// What [`evaluate`] found.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// Zero-shot probabilities (ensemble of all templates) of every image `[m][classes]`.
    pub zero_shot: Vec<Vec<f32>>,
    /// Zero-shot accuracy on the labelled images (`None`: none is labelled).
    pub zero_shot_accuracy: Option<f64>,
    /// The table: one row per template, then the ensemble (when there are several):
    /// `{template, zero_shot, tip?: {accuracy, alpha, beta, loo_accuracy}}`.
    pub per_template: Vec<Value>,
    /// The fitted classifiers, in the order of [`Setting::methods`].
    pub fitted: Vec<Fitted>,
}

/// Counts of (true class, predicted class) over the images with a known class: `m[t][p]`.
pub fn confusion(probs: &[Vec<f32>], truth: &[Option<usize>], classes: usize) -> Vec<Vec<usize>> {
    let mut m = vec![vec![0usize; classes]; classes];
    for (p, t) in probs.iter().zip(truth) {
        if let Some(t) = t.filter(|&t| t < classes) {
            m[t][zeroshot::argmax(p).min(classes - 1)] += 1;
        }
    }
    m
}

impl Evaluation {
    /// `glimpse fewshot`'s `fewshot.methods`: each method's fit and accuracy.
    pub fn methods_json(&self) -> Map<String, Value> {
        self.fitted.iter().map(|f| (f.method.to_string(), f.info.clone())).collect()
    }

    /// Confusion counts of zero-shot and of each method (`{zero_shot: m, tip: m, ...}`, rows
    /// the true class, columns the predicted one).
    pub fn confusion_json(&self, truth: &[Option<usize>], classes: usize) -> Value {
        let mut out = Map::new();
        out.insert("zero_shot".into(), json!(confusion(&self.zero_shot, truth, classes)));
        for f in &self.fitted {
            out.insert(f.method.to_string(), json!(confusion(&f.probs, truth, classes)));
        }
        Value::Object(out)
    }
}

/// Fits `s.methods` on the shots and scores them with zero-shot on `s.images`; the linear
/// probe's loss and gradient run on `device` (its autodiff). `progress(done, total)` follows the
/// probe's cross-validation.
pub async fn evaluate(device: &Device, s: &Setting<'_>, progress: &mut dyn FnMut(usize, usize)) -> Result<Evaluation> {
    let (n, nt) = (s.classes, s.templates.len());
    if n == 0 || nt == 0 || s.text.len() != n * nt {
        return Err(Error::usage(format!("few-shot: {} text embeddings for {n} labels x {nt} templates", s.text.len())));
    }
    if s.keys.len() != s.y.len() || s.images.len() != s.truth.len() {
        return Err(Error::usage(format!(
            "few-shot: {} shots with {} labels, {} images with {} truths",
            s.keys.len(),
            s.y.len(),
            s.images.len(),
            s.truth.len()
        )));
    }
    if s.keys.is_empty() {
        return Err(Error::usage("few-shot needs at least one labelled image to fit on"));
    }
    let dim = s.text[0].len();
    if let Some(bad) = s.keys.iter().chain(s.images).chain(s.text).position(|e| e.len() != dim) {
        return Err(Error::usage(format!("few-shot: embedding {bad} does not have the text embeddings' {dim} values")));
    }
    if let Some(&bad) = s.y.iter().find(|&&c| c >= n) {
        return Err(Error::usage(format!("few-shot: class {bad} is out of range for {n} labels")));
    }
    let accuracy = |probs: &[Vec<f32>]| zeroshot::accuracy(probs, s.truth);
    let predict = |c: &Classifier| -> Vec<Vec<f32>> { s.images.iter().map(|e| c.probabilities(e)).collect() };
    let all: Vec<usize> = (0..nt).collect();
    let fit_tip = |tpl: &[usize]| cache::fit(zeroshot::class_embeddings(s.text, n, tpl), s.scale, s.keys.to_vec(), s.y.to_vec());

    // One row per template, then the ensemble: zero-shot and the cache model on its classifier.
    let mut rows: Vec<(Value, Vec<usize>)> = s.templates.iter().enumerate().map(|(i, t)| (json!(t), vec![i])).collect();
    if nt > 1 {
        rows.push((json!("ensemble"), all.clone()));
    }
    let mut per_template = Vec::with_capacity(rows.len());
    let mut ensemble_tip = None; // the last row's cache model: the Tip-Adapter that is fitted below
    for (name, tpl) in &rows {
        let mut row = json!({ "template": name, "zero_shot": accuracy(&zeroshot::score(s.images, s.text, n, tpl, s.scale)) });
        if s.methods.contains(&Method::Tip) {
            let (model, search) = fit_tip(tpl);
            let tip = Classifier::Tip(model);
            row["tip"] = json!({ "accuracy": accuracy(&predict(&tip)), "alpha": search.alpha,
                                 "beta": search.beta, "loo_accuracy": search.loo_accuracy });
            if *tpl == all {
                ensemble_tip = Some((tip, search));
            }
        }
        per_template.push(row);
    }

    let mut fitted: Vec<Fitted> = Vec::new();
    for &method in s.methods {
        if fitted.iter().any(|f| f.method == method) {
            continue;
        }
        let (classifier, mut info) = match method {
            Method::Tip => {
                let (tip, search) = ensemble_tip.take().ok_or_else(|| Error::Internal("the table's last row fits the ensemble".into()))?;
                (tip, serde_json::to_value(search).unwrap_or_default())
            }
            Method::Probe => {
                let start = LinearProbe::zero_shot(&zeroshot::class_embeddings(s.text, n, &all), s.scale);
                match s.probe_c {
                    Some(c) => {
                        let (p, r) = probe::fit(device, s.keys, s.y, &start, c).await?;
                        progress(1, 1);
                        (Classifier::Linear(p), json!({ "c": c, "chosen_by": "--probe-c", "fit": r }))
                    }
                    None => {
                        let (p, r, cv) = probe::fit_cross_validated(device, s.keys, s.y, &start, progress).await?;
                        let chosen_by = if cv.folds >= 2 {
                            "cross-validation"
                        } else {
                            "one shot per class: nothing to cross-validate, sklearn's default"
                        };
                        (Classifier::Linear(p), json!({ "c": cv.c, "chosen_by": chosen_by, "folds": cv.folds, "cv": cv.grid, "fit": r }))
                    }
                }
            }
        };
        let probs = predict(&classifier);
        info["accuracy"] = json!(accuracy(&probs));
        fitted.push(Fitted { method, classifier, info, probs });
    }
    let zero_shot = zeroshot::score(s.images, s.text, n, &all, s.scale);
    Ok(Evaluation { zero_shot_accuracy: accuracy(&zero_shot), zero_shot, per_template, fitted })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confusion_counts_true_rows_and_predicted_columns() {
        let probs = vec![vec![0.9, 0.1], vec![0.2, 0.8], vec![0.6, 0.4], vec![0.5, 0.5]];
        let truth = [Some(0), Some(0), Some(1), None];
        assert_eq!(confusion(&probs, &truth, 2), [[1, 1], [1, 0]]);
    }
}
