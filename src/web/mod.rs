//! The page's API: a thin `#[wasm_bindgen]` layer over the plain Rust in [`crate::task`]. It
//! runs inside a Web Worker (www/worker.js), which moves bytes (downloads, cache, dropped files)
//! and messages; everything that computes lives in the shared Rust code, so the page and the
//! CLI give the same numbers.
//!
//! Every GPU read-back is asynchronous; methods that wait return a `Promise`. The engine-free
//! functions (scores, reports, heat maps, figures) are in [`pure`], few-shot in [`fewshot`].

mod fewshot;
mod pure;

use std::cell::RefCell;
use std::rc::Rc;

use burn::tensor::Device;
use js_sys::{Float32Array, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::error::Error;
use crate::load::io::Io;
use crate::load::{Loaded, Loader, Response, Spec, models};
use crate::task::caption::CaptionPipeline;
use crate::task::embed::Clip;
use crate::task::generate::{GenerateConfig, Overrides, StepAnswer};

/// An error as the page receives it: a JS `Error` with the message and a `kind` property
/// (`not-found`, `invalid-file`, ... see [`crate::error::ErrorKind`]) the page reacts to.
fn js(e: Error) -> JsValue {
    let err: JsValue = JsError::new(&e.to_string()).into();
    let _ = Reflect::set(&err, &"kind".into(), &e.kind().name().into());
    err
}

fn usage(message: impl Into<String>) -> JsValue {
    js(Error::usage(message))
}

/// Rows of `width` values of a concatenated array (`v.len() / width` of them).
fn rows(v: &[f32], width: usize) -> Vec<Vec<f32>> {
    v.chunks(width.max(1)).map(<[f32]>::to_vec).collect()
}

/// The known label of each image as the page sends it (a class index, or -1 for none).
fn truths(truth: &[i32], classes: usize) -> Vec<Option<usize>> {
    truth.iter().map(|&t| usize::try_from(t).ok().filter(|&t| t < classes)).collect()
}

fn to_js<T: serde::Serialize>(v: &T) -> Result<JsValue, JsValue> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(|e| js(Error::Internal(e.to_string())))
}

struct State {
    device: Device,
    clip: RefCell<Option<Rc<Clip>>>,
    captioner: RefCell<Option<Rc<CaptionPipeline>>>,
    loading: RefCell<Option<Loader<'static, Loaded>>>,
}

/// The models of one page, on its device (WebGPU, or the CPU in WebAssembly).
#[wasm_bindgen]
pub struct Engine {
    state: Rc<State>,
}

/// Starts the engine on `backend`: `"webgpu"` (the default) requests the WebGPU device with the
/// adapter's own limits, so GPT-2's 147 MiB embedding fits in one buffer; `"cpu"` runs burn's
/// CPU backend inside WebAssembly (for browsers without a usable GPU: one thread, or rayon's
/// pool in the threaded build).
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

/// Runs the module's static constructors once, when wasm-bindgen instantiates it.
///
/// Some dependencies register themselves from constructors (`inventory`, used by cubecl). With
/// no call to `__wasm_call_ctors` in its inputs, wasm-ld links the module "command-style" and
/// wraps every export so that it re-runs all constructors first: profiled in the page's CPU path
/// that was about a quarter of a decoder step. Referencing the function here makes wasm-ld leave
/// the exports alone; the flag makes the call happen once per memory (a threaded build's workers
/// share one memory and call this too).
#[wasm_bindgen(start)]
fn on_instantiate() {
    unsafe extern "C" {
        fn __wasm_call_ctors();
    }
    static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !DONE.swap(true, std::sync::atomic::Ordering::AcqRel) {
        // SAFETY: the linker's synthetic function, called once, before any other export runs.
        unsafe { __wasm_call_ctors() };
    }
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

/// What this wasm build is: `{simd, threads, gpu, threadCount}`. `simd`: compiled for
/// WebAssembly SIMD128 (burn's CPU kernels and gemm use it; `tests/it/wasm_build.rs` checks the
/// features that turn it on); `threads`: the threaded CPU build (rayon over Web Workers, needs
/// cross-origin isolation); `gpu`: has the WebGPU backend; `threadCount`: the CPU backend's
/// threads now (1 until `initThreadPool` has run in a threaded build).
#[wasm_bindgen(js_name = buildInfo)]
pub fn build_info() -> Result<JsValue, JsValue> {
    let threads = crate::pool::threads();
    to_js(&serde_json::json!({
        "simd": cfg!(target_feature = "simd128"),
        "threads": cfg!(feature = "threads"),
        "gpu": cfg!(feature = "gpu"),
        "threadCount": threads,
    }))
}

/// Starts the threaded build's pool of `n` Web Workers (wasm-bindgen-rayon; resolves when they
/// run): the page calls it once, after the module is instantiated and before the engine runs.
#[cfg(feature = "threads")]
#[wasm_bindgen(js_name = startThreads)]
pub async fn start_threads(n: usize) -> Result<(), JsValue> {
    if n == 0 || crate::pool::started() {
        return Err(usage(format!("startThreads({n}): the pool needs at least one thread, and starts once")));
    }
    wasm_bindgen_futures::JsFuture::from(wasm_bindgen_rayon::init_thread_pool(n)).await?;
    crate::pool::mark_started();
    Ok(())
}

/// Panics on purpose: the browser suite checks that the page survives an engine that dies.
#[doc(hidden)]
#[wasm_bindgen(js_name = panicForTesting)]
pub fn panic_for_testing() {
    panic!("a panic asked for by the test suite");
}

#[wasm_bindgen]
impl Engine {
    /// Begins loading: `spec` is `{kind: 'clip', model, towers}` or `{kind: 'captioner', model?,
    /// encoder?, decoder?, peft?}`, each place a location (`{url}`, `{hub}`, `{dropped}`). The
    /// worker then answers [`Engine::next`]'s requests until there are none.
    #[wasm_bindgen(js_name = beginLoad)]
    pub fn begin_load(&self, spec: JsValue) -> Result<(), JsValue> {
        let spec: Spec = serde_wasm_bindgen::from_value(spec).map_err(|e| usage(format!("load spec: {e}")))?;
        let device = self.state.device.clone();
        let loader = Loader::new(move |link| async move { models::load(Io::new(link), device, spec).await });
        *self.state.loading.borrow_mut() = Some(loader);
        Ok(())
    }

    fn with_loading<T>(&self, f: impl FnOnce(&mut Loader<'static, Loaded>) -> crate::Result<T>) -> Result<T, JsValue> {
        let mut slot = self.state.loading.borrow_mut();
        let l = slot.as_mut().ok_or_else(|| js(Error::Internal("no model is being loaded".into())))?;
        f(l).map_err(js)
    }

    /// The next request of the load (`{kind: 'file'|'range'|'tail', at, name, ...}`, see
    /// [`crate::load::Request`]), or `undefined` when it needs nothing more.
    pub fn next(&self) -> Result<JsValue, JsValue> {
        match self.with_loading(Loader::next)? {
            Some(r) => to_js(&r),
            None => Ok(JsValue::UNDEFINED),
        }
    }

    /// Answers the request [`Engine::next`] gave: its bytes (moved into wasm memory), or `null`
    /// when the file does not exist; `file_len` the file's length when the transport knows it.
    pub fn answer(&self, bytes: Option<Vec<u8>>, file_len: Option<f64>) -> Result<(), JsValue> {
        let response = match bytes {
            Some(bytes) => Response::Bytes { bytes, file_len: file_len.map(|n| n as u64) },
            None => Response::Missing,
        };
        self.with_loading(|l| l.answer(response))
    }

    /// `{done, total, file}`: weight bytes received and planned so far.
    pub fn progress(&self) -> Result<JsValue, JsValue> {
        to_js(&self.with_loading(|l| Ok(l.progress()))?)
    }

    /// Ends the load: the model replaces the previous one of its kind. Returns `{kind: 'clip',
    /// bytes, imageSize}` or `{kind: 'captioner', bytes, defaults: {beams, maxTokens,
    /// lengthPenalty, noRepeatNgram}}`.
    #[wasm_bindgen(js_name = finishLoad)]
    pub fn finish_load(&self) -> Result<JsValue, JsValue> {
        let loader = self.state.loading.borrow_mut().take().ok_or_else(|| js(Error::Internal("no model is being loaded".into())))?;
        let bytes = loader.progress().done;
        match loader.finish().map_err(js)? {
            Loaded::Clip(clip) => {
                let size = clip.config.vision.image_size;
                *self.state.clip.borrow_mut() = Some(Rc::new(clip));
                to_js(&serde_json::json!({ "kind": "clip", "bytes": bytes, "imageSize": size }))
            }
            Loaded::Captioner(c) => {
                let defaults = GenerateConfig::defaults(&c.config.generation);
                let device = self.state.device.clone();
                *self.state.captioner.borrow_mut() = Some(Rc::new(CaptionPipeline::new(c.model, c.config, c.tokenizer, &device)));
                to_js(&serde_json::json!({ "kind": "captioner", "bytes": bytes, "defaults": defaults }))
            }
        }
    }

    /// Drops a load in progress (after a failed download).
    pub fn abort(&self) {
        self.state.loading.borrow_mut().take();
    }

    fn clip(&self) -> Result<Rc<Clip>, JsValue> {
        self.state.clip.borrow().clone().ok_or_else(|| js(Error::usage("no CLIP model is loaded")))
    }

    fn captioner(&self) -> Result<Rc<CaptionPipeline>, JsValue> {
        self.state.captioner.borrow().clone().ok_or_else(|| js(Error::usage("no captioner is loaded")))
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
    /// noStop}` (all optional; absent ones take the model's generation defaults). `on_step`,
    /// when given, is called after every decoding step with `{text, tokens}` so far (the best
    /// beam's text, and how many tokens it has) and returns a value or a promise of one: false (or a rejection) stops the caption,
    /// which then fails with kind `cancelled`; while its promise waits, the worker answers other
    /// requests. Resolves to `{tokens, text, words, grid, attention, seen, size}` where
    /// `attention[word][layer][1 + rows*cols]` and `seen` is the RGBA image the encoder saw.
    pub fn caption(&self, bytes: Vec<u8>, name: String, options: JsValue, on_step: Option<js_sys::Function>) -> Promise {
        let captioner = self.captioner();
        future_to_promise(async move {
            let captioner = captioner?;
            let cfg = generate_config(&captioner, options)?;
            let seen = captioner.seen(&crate::image::decode(&bytes, &name).map_err(js)?);
            drop(bytes);
            let mut watch = |seq: &[u32]| -> StepAnswer {
                let Some(f) = on_step.as_ref() else { return Box::pin(std::future::ready(true)) };
                let answer = captioner
                    .partial(seq)
                    .map_err(js)
                    .and_then(|text| to_js(&serde_json::json!({ "text": text, "tokens": seq.len().saturating_sub(1) })))
                    .and_then(|partial| f.call1(&JsValue::NULL, &partial));
                Box::pin(async move {
                    let Ok(v) = answer else { return false };
                    let v = wasm_bindgen_futures::JsFuture::from(Promise::resolve(&v)).await;
                    v.is_ok_and(|v| v.as_bool() != Some(false))
                })
            };
            let out = captioner.caption_seen(&seen, &cfg, &mut watch).await.map_err(js)?;
            let seen = image::DynamicImage::ImageRgb8(seen).to_rgba8();
            let obj = to_js(&out)?;
            Reflect::set(&obj, &"size".into(), &JsValue::from(seen.width()))?;
            Reflect::set(&obj, &"seen".into(), &Uint8Array::from(seen.as_raw().as_slice()).into())?;
            Ok(obj)
        })
    }
}

/// The caption options the page set (`{beams, maxTokens, lengthPenalty, noRepeatNgram,
/// noStop}`, all optional): what is absent takes the checkpoint's generation defaults.
fn generate_config(captioner: &CaptionPipeline, options: JsValue) -> Result<GenerateConfig, JsValue> {
    let o: Overrides = if options.is_undefined() || options.is_null() {
        Overrides::default()
    } else {
        serde_wasm_bindgen::from_value(options).map_err(|e| usage(format!("caption options: {e}")))?
    };
    Ok(GenerateConfig::resolve(&captioner.config.generation, &o))
}
