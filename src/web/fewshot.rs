//! The page's few-shot functions: picking the shots, fitting and scoring the classifiers (the
//! same [`crate::task::fewshot::evaluate`] as `glimpse fewshot`, the linear probe's gradients by
//! burn's autodiff on the CPU backend in this module), and loading a saved head (`glimpse
//! fewshot --save`).

use burn::tensor::Device;
use js_sys::{Float32Array, Promise, Reflect, Uint8Array};
use serde::Deserialize;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::{Engine, js, rows, to_js, truths, usage};
use crate::task::fewshot::evaluate::{Setting, evaluate};
use crate::task::fewshot::head::{self, HeadInfo};
use crate::task::fewshot::{Method, pick_shots};
use crate::task::zeroshot;

/// `k` photos per class picked at random with `seed` among those with a known label (`truth`,
/// -1 for none), as `glimpse fewshot --shots k --seed seed` picks from its `--train` images in
/// the same order; an error names every class with fewer than `k`.
#[wasm_bindgen(js_name = pickShots)]
pub fn pick_shots_js(truth: &[i32], labels: Vec<String>, k: usize, seed: u32) -> Result<Vec<u32>, JsValue> {
    let picked = pick_shots(&truths(truth, labels.len()), &labels, k, u64::from(seed)).map_err(js)?;
    Ok(picked.into_iter().map(|i| i as u32).collect())
}

/// Options of [`Engine::few_shot`].
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FewShotOptions {
    /// `tip`, `probe`, or both (the first is what predictions use).
    methods: Vec<String>,
    /// The probe's C; absent: by cross-validation.
    #[serde(default)]
    probe_c: Option<f64>,
    /// Shots per class and the seed that picked them (for the saved heads).
    #[serde(default)]
    shots: usize,
    #[serde(default)]
    seed: u64,
    /// The CLIP model's name (for the saved heads).
    #[serde(default)]
    model: String,
}

#[wasm_bindgen]
impl Engine {
    /// Fits the few-shot classifiers on the shots and scores them next to zero-shot, as
    /// `glimpse fewshot` does. `texts`: the normalised prompt embeddings, template-major
    /// (`templates x labels` rows of `dim`); `keys`/`y`: the shots' embeddings and classes;
    /// `images`/`truth`: the photos predicted and their known classes (-1: none; those with one
    /// are scored). `options`: `{methods, probeC?, shots, seed, model}`. `on_progress(done,
    /// total)` follows the probe's cross-validation. Resolves to `{report, probs, heads}`:
    /// `report` `{zero_shot_accuracy, per_template, methods, confusion}` (the CLI's JSON fields),
    /// `probs` `{zero_shot, tip?, probe?}` (`images x labels`), `heads` each method's saved
    /// classifier (safetensors bytes, `classify --head`).
    #[wasm_bindgen(js_name = fewShot)]
    #[allow(clippy::too_many_arguments)]
    pub fn few_shot(
        &self,
        texts: &[f32],
        dim: usize,
        labels: Vec<String>,
        templates: Vec<String>,
        scale: f32,
        keys: &[f32],
        y: Vec<u32>,
        images: &[f32],
        truth: &[i32],
        options: JsValue,
        on_progress: Option<js_sys::Function>,
    ) -> Promise {
        // The fit runs on burn's CPU backend in this module, whatever the engine's device: it is
        // thousands of tiny steps (16 shots x 512 values x a few classes), each ending in a
        // read-back, so a GPU only adds latency. Measured on the fixture set in the browser suite:
        // 1.3 s on the CPU path, 77 s on SwiftShader's WebGPU, the same numbers.
        let device = Device::flex();
        let (texts, keys, images) = (rows(texts, dim), rows(keys, dim), rows(images, dim));
        let truth = truths(truth, labels.len());
        future_to_promise(async move {
            let o: FewShotOptions = serde_wasm_bindgen::from_value(options).map_err(|e| usage(format!("few-shot options: {e}")))?;
            let methods = o.methods.iter().map(|m| m.parse::<Method>()).collect::<crate::Result<Vec<_>>>().map_err(js)?;
            if methods.is_empty() {
                return Err(usage("few-shot: no method asked for (tip, probe)"));
            }
            let y: Vec<usize> = y.into_iter().map(|c| c as usize).collect();
            let setting = Setting {
                text: &texts,
                templates: &templates,
                classes: labels.len(),
                scale,
                keys: &keys,
                y: &y,
                images: &images,
                truth: &truth,
                methods: &methods,
                probe_c: o.probe_c,
            };
            let mut tick = |done: usize, total: usize| {
                if let Some(f) = &on_progress {
                    let _ = f.call2(&JsValue::NULL, &JsValue::from(done as u32), &JsValue::from(total as u32));
                }
            };
            let eval = evaluate(&device, &setting, &mut tick).await.map_err(js)?;
            let report = to_js(&serde_json::json!({
                "zero_shot_accuracy": eval.zero_shot_accuracy,
                "per_template": eval.per_template,
                "methods": eval.methods_json(),
                "confusion": eval.confusion_json(&truth, labels.len()),
            }))?;
            let (probs, heads) = (js_sys::Object::new(), js_sys::Object::new());
            Reflect::set(&probs, &"zero_shot".into(), &Float32Array::from(&eval.zero_shot.concat()[..]).into())?;
            for f in &eval.fitted {
                let name: JsValue = f.method.to_string().into();
                Reflect::set(&probs, &name, &Float32Array::from(&f.probs.concat()[..]).into())?;
                let info = HeadInfo::new(labels.clone(), templates.clone(), o.shots, o.seed, o.model.clone());
                let bytes = head::to_bytes(&f.classifier, info).map_err(js)?;
                Reflect::set(&heads, &name, &Uint8Array::from(&bytes[..]).into())?;
            }
            let out = js_sys::Object::new();
            Reflect::set(&out, &"report".into(), &report)?;
            Reflect::set(&out, &"probs".into(), &probs)?;
            Reflect::set(&out, &"heads".into(), &heads)?;
            Ok(out.into())
        })
    }
}

/// A saved head (`glimpse fewshot --save`, or the page's download) applied to the page's photos:
/// `{info: {method, labels, templates, shots, seed, model, ...}, probs}` (`images x labels`).
/// A file that is not a head, or one fitted on embeddings of another size, is refused by name.
#[wasm_bindgen(js_name = headPredict)]
pub fn head_predict(bytes: &[u8], name: &str, images: &[f32], dim: usize) -> Result<JsValue, JsValue> {
    let h = head::from_bytes(bytes, name).map_err(js)?;
    let want = h.classifier.dim();
    if want != dim {
        return Err(usage(format!(
            "{name}: the head takes {want}-dimensional embeddings, the CLIP model loaded gives {dim}: it was fitted on another CLIP ({})",
            h.info.model
        )));
    }
    let probs: Vec<f32> = rows(images, dim).iter().flat_map(|e| h.classifier.probabilities(e)).collect();
    let out = to_js(&serde_json::json!({ "info": h.info }))?;
    Reflect::set(&out, &"probs".into(), &Float32Array::from(&probs[..]).into())?;
    Ok(out)
}

/// The accuracy of probabilities (`images x labels`) against `truth` (-1: unknown), and their
/// confusion counts (`{accuracy, right, n, confusion}`): how the page scores a loaded head.
#[wasm_bindgen(js_name = scoreProbs)]
pub fn score_probs(probs: &[f32], labels: usize, truth: &[i32]) -> Result<JsValue, JsValue> {
    let probs = rows(probs, labels);
    if probs.len() != truth.len() {
        return Err(usage(format!("score: {} rows of probabilities, {} truths", probs.len(), truth.len())));
    }
    let truth = truths(truth, labels);
    let (right, n) = zeroshot::counts(&probs, &truth);
    let confusion = crate::task::fewshot::evaluate::confusion(&probs, &truth, labels);
    to_js(&serde_json::json!({ "accuracy": zeroshot::accuracy(&probs, &truth), "right": right, "n": n, "confusion": confusion }))
}
