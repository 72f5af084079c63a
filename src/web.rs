//! The page's API: a thin `#[wasm_bindgen]` layer over the plain Rust in [`crate::task`]. It
//! runs inside a Web Worker (www/worker.js), which moves bytes (downloads, cache, dropped files)
//! and messages; everything that computes lives in the shared Rust code, so the page and the
//! CLI give the same numbers.
//!
//! Every GPU read-back is asynchronous; methods that wait return a `Promise`.

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;

use burn::tensor::Device;
use js_sys::{Float32Array, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::error::Error;
use crate::model::clip::Towers;
use crate::task::caption::CaptionPipeline;
use crate::task::embed::Clip;
use crate::task::generate::GenerateConfig;
use crate::task::load::Loading;
use crate::task::metrics::clipscore;
use crate::task::zeroshot::{self, LabelSet};

fn js(e: Error) -> JsValue {
    JsError::new(&e.to_string()).into()
}

fn to_js<T: serde::Serialize>(v: &T) -> Result<JsValue, JsValue> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(|e| JsError::new(&e.to_string()).into())
}

struct State {
    device: Device,
    clip: RefCell<Option<Rc<Clip>>>,
    captioner: RefCell<Option<Rc<CaptionPipeline>>>,
    loading: RefCell<Option<Loading>>,
}

/// The models of one page, on its device (WebGPU, or the CPU in WebAssembly).
#[wasm_bindgen]
pub struct Engine {
    state: Rc<State>,
}

/// Starts the engine on `backend`: `"webgpu"` (the default) requests the WebGPU device with the
/// adapter's own limits, so GPT-2's 147 MiB embedding fits in one buffer; `"cpu"` runs burn's
/// CPU backend inside WebAssembly (one thread; for browsers without a usable GPU).
#[wasm_bindgen(js_name = createEngine)]
pub async fn create_engine(backend: Option<String>) -> Result<Engine, JsValue> {
    record_panics();
    let device = match backend.as_deref().unwrap_or("webgpu").parse().map_err(js)? {
        crate::device::Backend::Wgpu => crate::device::init_webgpu().await.map_err(js)?,
        crate::device::Backend::Cpu => Device::flex(),
    };
    let state = State { device, clip: RefCell::new(None), captioner: RefCell::new(None), loading: RefCell::new(None) };
    Ok(Engine { state: Rc::new(state) })
}

thread_local! {
    /// The message of the panic that stopped this instance, if one did.
    static PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Logs panics to the console (with their message and place) and keeps the message, so the
/// worker can say what stopped the engine: a panic in wasm aborts the instance, which the
/// worker then replaces with a fresh one.
fn record_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            PANIC.with(|p| *p.borrow_mut() = Some(info.to_string()));
            console_error_panic_hook::hook(info);
        }));
    });
}

/// The message of the panic that stopped the engine (`undefined` if none did).
#[wasm_bindgen(js_name = lastPanic)]
pub fn last_panic() -> Option<String> {
    PANIC.with(|p| p.borrow().clone())
}

/// Panics on purpose: the browser suite checks that the page survives an engine that dies.
#[doc(hidden)]
#[wasm_bindgen(js_name = panicForTesting)]
pub fn panic_for_testing() {
    panic!("a panic asked for by the test suite");
}

fn towers(name: &str) -> Result<Towers, JsValue> {
    match name {
        "both" => Ok(Towers::Both),
        "vision" => Ok(Towers::Vision),
        "text" => Ok(Towers::Text),
        other => Err(js(Error::invalid(format!("unknown towers `{other}` (both, vision, text)")))),
    }
}

#[wasm_bindgen]
impl Engine {
    /// Begins loading a CLIP model from its config texts; its weights follow as part `clip`.
    #[wasm_bindgen(js_name = beginClip)]
    pub fn begin_clip(&self, config: &str, preprocessor: Option<String>, tokenizer: Option<Vec<u8>>, which: &str) -> Result<(), JsValue> {
        let l = Loading::clip(&self.state.device, config, preprocessor.as_deref(), tokenizer.as_deref(), towers(which)?).map_err(js)?;
        *self.state.loading.borrow_mut() = Some(l);
        Ok(())
    }

    /// Begins loading a captioner; its weights follow as parts `encoder`, `decoder`, `peft`.
    #[wasm_bindgen(js_name = beginCaptioner)]
    pub fn begin_captioner(
        &self,
        encoder_config: &str,
        encoder_preprocessor: Option<String>,
        decoder_config: &str,
        peft_config: Option<String>,
        tokenizer: &[u8],
    ) -> Result<(), JsValue> {
        let l = Loading::captioner(
            &self.state.device,
            encoder_config,
            encoder_preprocessor.as_deref(),
            decoder_config,
            peft_config.as_deref(),
            tokenizer,
        )
        .map_err(js)?;
        *self.state.loading.borrow_mut() = Some(l);
        Ok(())
    }

    /// Begins loading a published captioner (a HF `VisionEncoderDecoderModel`); its weights
    /// follow as part `model` (and `peft`).
    #[wasm_bindgen(js_name = beginPretrained)]
    pub fn begin_pretrained(
        &self,
        config: &str,
        preprocessor: Option<String>,
        generation: Option<String>,
        peft_config: Option<String>,
        tokenizer: &[u8],
    ) -> Result<(), JsValue> {
        let l = Loading::pretrained(
            &self.state.device,
            config,
            preprocessor.as_deref(),
            generation.as_deref(),
            peft_config.as_deref(),
            tokenizer,
        )
        .map_err(js)?;
        *self.state.loading.borrow_mut() = Some(l);
        Ok(())
    }

    /// The loaded captioner's decoding defaults (`{beams, maxTokens}` from its
    /// generation_config.json; absent keys are left out).
    #[wasm_bindgen(js_name = captionDefaults)]
    pub fn caption_defaults(&self) -> Result<JsValue, JsValue> {
        let g = &self.captioner()?.config.generation;
        to_js(&serde_json::json!({ "beams": g.num_beams, "maxTokens": g.max_length.map(|l| l.saturating_sub(1).max(1)) }))
    }

    fn with_loading<T>(&self, f: impl FnOnce(&mut Loading) -> crate::Result<T>) -> Result<T, JsValue> {
        let mut slot = self.state.loading.borrow_mut();
        let l = slot.as_mut().ok_or_else(|| js(Error::invalid("no model is being loaded")))?;
        f(l).map_err(js)
    }

    /// Opens a part's safetensors file from its first bytes; returns the plan of what to fetch
    /// (`{header_len, file_len, bytes, chunks: [{start, end, tensors: [{index, start, end}]}]}`).
    pub fn open(&self, part: &str, source: &str, start: &[u8], total_len: Option<f64>) -> Result<JsValue, JsValue> {
        let plan = self.with_loading(|l| l.open(part, source, start, total_len.map(|n| n as u64)))?;
        to_js(&plan)
    }

    /// Opens a part's `pytorch_model.bin` from its last bytes (`tail` starting at `tail_start`
    /// of a `len`-byte file); returns `[start, end]`, the bytes holding its pickle.
    #[wasm_bindgen(js_name = openTorch)]
    pub fn open_torch(&self, part: &str, source: &str, tail: &[u8], tail_start: f64, len: f64) -> Result<Vec<f64>, JsValue> {
        let (a, b) = self.with_loading(|l| l.open_torch(part, source, tail, tail_start as u64, len as u64))?;
        Ok(vec![a as f64, b as f64])
    }

    /// Reads the pickle of a part's `pytorch_model.bin` as data (code is refused, never run);
    /// returns the plan of storages to fetch, as [`Engine::open`] does.
    #[wasm_bindgen(js_name = torchPickle)]
    pub fn torch_pickle(&self, part: &str, bytes: &[u8]) -> Result<JsValue, JsValue> {
        let plan = self.with_loading(|l| l.torch_pickle(part, bytes))?;
        to_js(&plan)
    }

    /// Uploads one tensor of a part (the bytes are moved into the upload; nothing is kept).
    pub fn put(&self, part: &str, index: usize, bytes: Vec<u8>) -> Result<(), JsValue> {
        self.with_loading(|l| l.put(part, index, bytes))
    }

    /// Ends the load started last: the model replaces the previous one of its kind. Returns
    /// `"clip"` or `"captioner"`.
    pub fn finish(&self) -> Result<String, JsValue> {
        let l = self.state.loading.borrow_mut().take().ok_or_else(|| js(Error::invalid("no model is being loaded")))?;
        if l.is_captioner() {
            *self.state.captioner.borrow_mut() = Some(Rc::new(l.finish_captioner().map_err(js)?));
            Ok("captioner".into())
        } else {
            *self.state.clip.borrow_mut() = Some(Rc::new(l.finish_clip().map_err(js)?));
            Ok("clip".into())
        }
    }

    /// Drops a load in progress (after a failed download).
    pub fn abort(&self) {
        self.state.loading.borrow_mut().take();
    }

    fn clip(&self) -> Result<Rc<Clip>, JsValue> {
        self.state.clip.borrow().clone().ok_or_else(|| js(Error::invalid("no CLIP model is loaded")))
    }

    fn captioner(&self) -> Result<Rc<CaptionPipeline>, JsValue> {
        self.state.captioner.borrow().clone().ok_or_else(|| js(Error::invalid("no captioner is loaded")))
    }

    /// Side of the square images the CLIP model takes.
    #[wasm_bindgen(js_name = clipImageSize)]
    pub fn clip_image_size(&self) -> Result<usize, JsValue> {
        Ok(self.clip()?.config.vision.image_size)
    }

    /// Normalised image embedding of an encoded image file (PNG, JPEG, WebP, GIF).
    #[wasm_bindgen(js_name = embedImage)]
    pub fn embed_image(&self, bytes: Vec<u8>, name: String) -> Promise {
        let clip = self.clip();
        future_to_promise(async move {
            let clip = clip?;
            let img = crate::image::decode(&bytes, &name).map_err(js)?;
            drop(bytes);
            let e = clip.embed_images(&[&img]).await.map_err(js)?;
            Ok(Float32Array::from(&e[0][..]).into())
        })
    }

    /// Normalised text embeddings, concatenated (`texts.length x dim`).
    #[wasm_bindgen(js_name = embedTexts)]
    pub fn embed_texts(&self, texts: Vec<String>) -> Promise {
        let clip = self.clip();
        future_to_promise(async move {
            let e = clip?.embed_texts(&texts).await.map_err(js)?;
            Ok(Float32Array::from(&e.concat()[..]).into())
        })
    }

    /// `exp(logit_scale)` of the CLIP model.
    #[wasm_bindgen(js_name = logitScale)]
    pub fn logit_scale(&self) -> Promise {
        let clip = self.clip();
        future_to_promise(async move { Ok(JsValue::from(clip?.logit_scale().await.map_err(js)?)) })
    }

    /// Captions an encoded image. `options`: `{beams, maxTokens, lengthPenalty, noRepeatNgram,
    /// noStop}` (all optional). Resolves to `{tokens, text, words, grid, attention, seen, size}` where
    /// `attention[word][layer][1 + rows*cols]` and `seen` is the RGBA image the encoder saw.
    pub fn caption(&self, bytes: Vec<u8>, name: String, options: JsValue) -> Promise {
        let captioner = self.captioner();
        future_to_promise(async move {
            let captioner = captioner?;
            let cfg = generate_config(&options)?;
            let seen = captioner.seen(&crate::image::decode(&bytes, &name).map_err(js)?);
            drop(bytes);
            let out = captioner.caption_seen(&seen, &cfg).await.map_err(js)?;
            let seen = image::DynamicImage::ImageRgb8(seen).to_rgba8();
            let obj = to_js(&out)?;
            Reflect::set(&obj, &"size".into(), &JsValue::from(seen.width()))?;
            Reflect::set(&obj, &"seen".into(), &Uint8Array::from(seen.as_raw().as_slice()).into())?;
            Ok(obj)
        })
    }
}

fn generate_config(options: &JsValue) -> Result<GenerateConfig, JsValue> {
    let mut cfg = GenerateConfig::default();
    if options.is_undefined() || options.is_null() {
        return Ok(cfg);
    }
    let num = |key: &str| Reflect::get(options, &key.into()).ok().and_then(|v| v.as_f64());
    if let Some(v) = num("beams") {
        cfg.beams = v as usize;
    }
    if let Some(v) = num("maxTokens") {
        cfg.max_new_tokens = v as usize;
    }
    if let Some(v) = num("lengthPenalty") {
        cfg.length_penalty = v;
    }
    if let Some(v) = num("noRepeatNgram") {
        cfg.no_repeat_ngram_size = v as usize;
    }
    if Reflect::get(options, &"noStop".into()).ok().and_then(|v| v.as_bool()) == Some(true) {
        cfg.eos = u32::MAX; // benchmarks: always generate maxTokens tokens
    }
    Ok(cfg)
}

/// Zero-shot probabilities of each image, concatenated (`images x labels`): `images` and
/// `texts` are concatenated normalised embeddings of width `dim`, `texts` template-major
/// (`texts[t * labels + c]`), and `templates` the template indices forming the ensemble.
#[wasm_bindgen(js_name = zeroShot)]
pub fn zero_shot(images: &[f32], texts: &[f32], dim: usize, labels: usize, templates: &[u32], scale: f32) -> Vec<f32> {
    let rows = |v: &[f32]| v.chunks(dim.max(1)).map(<[f32]>::to_vec).collect::<Vec<_>>();
    let tpl: Vec<usize> = templates.iter().map(|&t| t as usize).collect();
    let classes = zeroshot::class_embeddings(&rows(texts), labels, &tpl);
    rows(images).iter().flat_map(|e| zeroshot::probabilities(e, &classes, scale)).collect()
}

/// CLIPScore of a normalised image and text embedding.
#[wasm_bindgen(js_name = clipScore)]
pub fn clip_score(image: &[f32], text: &[f32]) -> f64 {
    clipscore::clip_score(image, text)
}

/// Parses a label list (one per line, a JSON array, or an id2label.json), as the CLI does.
#[wasm_bindgen(js_name = parseLabels)]
pub fn parse_labels(text: &str, name: &str) -> Result<Vec<String>, JsValue> {
    Ok(LabelSet::parse(text, name).map_err(js)?.names)
}

/// The label index of an image path (`{id}_{n}.png` with id2label ids, or a folder named after
/// a label), as the CLI reads it; `undefined` when unknown.
#[wasm_bindgen(js_name = truthOf)]
pub fn truth_of(labels_text: &str, path: &str) -> Option<usize> {
    LabelSet::parse(labels_text, "labels").ok()?.truth_of(Path::new(path))
}

/// Fills a prompt template (`{}` takes the label); an error names a template without a slot.
#[wasm_bindgen(js_name = fillTemplate)]
pub fn fill_template(template: &str, label: &str) -> Result<String, JsValue> {
    zeroshot::fill(template, label).map_err(js)
}
