//! The page's engine-free functions: pure computations on what the page already holds
//! (embeddings, probabilities, attention rows), answered by the worker at once, even while the
//! engine loads or captions.

use std::path::Path;

use js_sys::{Float32Array, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;

use super::{js, rows, to_js, truths, usage};
use crate::error::Error;
use crate::task::heatmap;
use crate::task::metrics::clipscore;
use crate::task::zeroshot::{self, LabelSet};

/// CLIPScore of a normalised image and text embedding.
#[wasm_bindgen(js_name = clipScore)]
pub fn clip_score(image: &[f32], text: &[f32]) -> f64 {
    clipscore::clip_score(image, text)
}

/// The cosine CLIPScore clamps (`2.5 * max(cosine, 0)`).
#[wasm_bindgen(js_name = clipCosine)]
pub fn clip_cosine(image: &[f32], text: &[f32]) -> f64 {
    clipscore::cosine(image, text)
}

/// Parses a label list (one per line, a JSON array, or an id2label.json), as the CLI does.
#[wasm_bindgen(js_name = parseLabels)]
pub fn parse_labels(text: &str, name: &str) -> Result<Vec<String>, JsValue> {
    Ok(LabelSet::parse(text, name).map_err(js)?.names)
}

/// The label index of an image path (`{id}_{n}.png` with id2label ids, or a folder named after
/// a label), as the CLI reads it; `undefined` when unknown. `folder_only`: only a folder named
/// after a label counts (labels the user did not give, whose ids mean nothing for their files).
#[wasm_bindgen(js_name = truthOf)]
pub fn truth_of(labels_text: &str, path: &str, folder_only: bool) -> Option<usize> {
    let labels = LabelSet::parse(labels_text, "labels").ok()?;
    let path = Path::new(path);
    if folder_only { labels.truth_of_folder(path) } else { labels.truth_of(path) }
}

/// Prompts of every label under every template, template-major (`prompts[t * labels + c]`);
/// an error names a template without a `{}` slot.
#[wasm_bindgen(js_name = fillTemplates)]
pub fn fill_templates(templates: Vec<String>, labels: Vec<String>) -> Result<Vec<String>, JsValue> {
    let labels = LabelSet::from_names(labels).map_err(js)?;
    zeroshot::prompts(&labels, &templates).map_err(js)
}

/// Zero-shot over the page's photos: `{probs, accuracy}`, where `probs` (`images x labels`) is
/// the ensemble of all `templates` and `accuracy` the table per template then the ensemble
/// (`[{template: index | 'ensemble', right, n}]`, empty when no image has a known label).
/// `images`/`texts` are concatenated normalised embeddings of width `dim` (`texts`
/// template-major), `truth` the label index per image or -1.
#[wasm_bindgen(js_name = zeroShotReport)]
pub fn zero_shot_report(
    images: &[f32],
    texts: &[f32],
    dim: usize,
    labels: usize,
    templates: usize,
    truth: &[i32],
    scale: f32,
) -> Result<JsValue, JsValue> {
    let (images, texts) = (rows(images, dim), rows(texts, dim));
    if texts.len() != labels * templates || truth.len() != images.len() {
        return Err(usage(format!(
            "zero-shot: {} text embeddings for {labels} labels x {templates} templates, {} truths for {} images",
            texts.len(),
            truth.len(),
            images.len()
        )));
    }
    let truth = truths(truth, labels);
    let all: Vec<usize> = (0..templates).collect();
    let probs: Vec<f32> = zeroshot::score(&images, &texts, labels, &all, scale).concat();
    let accuracy = zeroshot::accuracy_table(&images, &texts, labels, templates, &truth, scale);
    let out = to_js(&serde_json::json!({ "accuracy": accuracy }))?;
    Reflect::set(&out, &"probs".into(), &Float32Array::from(&probs[..]).into())?;
    Ok(out)
}

/// `glimpse classify --compare`'s JSON text for the page's photos (what the page exports):
/// `images` their paths, `probs` concatenated (`images x labels`), `truth` the label index per
/// image or -1, `top_k` the labels listed per image, `per_template` each template's accuracy
/// (`null` where no photo has a known label).
#[wasm_bindgen(js_name = classifyReport)]
pub fn classify_report(
    templates: Vec<String>,
    labels: Vec<String>,
    images: Vec<String>,
    probs: &[f32],
    truth: &[i32],
    top_k: usize,
    per_template: JsValue,
) -> Result<String, JsValue> {
    let n = labels.len();
    if n == 0 || probs.len() != images.len() * n || truth.len() != images.len() {
        return Err(usage(format!(
            "report: {} probabilities, {} truths for {} images x {n} labels",
            probs.len(),
            truth.len(),
            images.len()
        )));
    }
    let labels = LabelSet::from_names(labels).map_err(js)?;
    let probs = rows(probs, n);
    let truth = truths(truth, n);
    let per: Vec<Option<f64>> = serde_wasm_bindgen::from_value(per_template).map_err(|e| usage(format!("per_template: {e}")))?;
    if per.len() != templates.len() {
        return Err(usage(format!("report: {} accuracies for {} templates", per.len(), templates.len())));
    }
    let mut out = zeroshot::report(&templates, &labels, &images, &probs, &truth, top_k);
    out["per_template"] = templates.iter().zip(&per).map(|(t, a)| serde_json::json!({ "template": t, "accuracy": a })).collect();
    serde_json::to_string_pretty(&out).map_err(|e| js(Error::Internal(e.to_string())))
}

/// A caption's attention figure as PNG bytes, drawn as `glimpse caption --attention-dir` draws
/// it: `seen` the RGBA image the encoder saw (`size x size`), `words` and `attention` the
/// caption's (`attention[word][layer][1 + grid*grid]`).
#[wasm_bindgen(js_name = attentionFigure)]
pub fn attention_figure(seen: &[u8], size: u32, words: Vec<String>, attention: JsValue, grid: usize) -> Result<Uint8Array, JsValue> {
    let attention: Vec<Vec<Vec<f32>>> = serde_wasm_bindgen::from_value(attention).map_err(|e| usage(format!("attention: {e}")))?;
    let rgb: Vec<u8> = seen.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
    let seen = image::RgbImage::from_raw(size, size, rgb).ok_or_else(|| usage(format!("the image seen is not {size} x {size} RGBA")))?;
    let cells = grid * grid + 1;
    if words.len() != attention.len() || attention.iter().flatten().any(|l| l.len() != cells) {
        return Err(usage(format!("figure: {} words, {} attention rows of {cells} positions each expected", words.len(), attention.len())));
    }
    let fig = crate::task::figure::attention_figure(&seen, &words, &attention, grid);
    let mut png = Vec::new();
    image::DynamicImage::ImageRgb8(fig)
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| js(Error::Internal(format!("figure PNG: {e}"))))?;
    Ok(Uint8Array::from(&png[..]))
}

/// One word's attention heat map, RGBA (`rows x cols` cells, opaque): `attention` is the
/// word's `[layer][1 + rows*cols]` rows as the caption gives them, `layer` an index or -1 for
/// the mean over layers; CLS is dropped, the map min-max scaled and coloured by viridis.
#[wasm_bindgen(js_name = attentionHeat)]
pub fn attention_heat(attention: JsValue, rows: usize, cols: usize, layer: i32) -> Result<Uint8Array, JsValue> {
    let layers: Vec<Vec<f32>> = serde_wasm_bindgen::from_value(attention).map_err(|e| usage(format!("attention: {e}")))?;
    let map = heatmap::token_map(&layers, rows * cols, usize::try_from(layer).ok());
    Ok(Uint8Array::from(&heatmap::rgba(&map)[..]))
}
