//! # glimpse
//!
//! CLIP zero-shot classification and a parameter-efficient captioner, in Rust on burn: one
//! model implementation for the native CLI (CPU or wgpu) and the browser (WebGPU).
//!
//! Crate map, from the bottom up:
//! - [`error`]: the one error type.
//! - [`hf`]: Hugging Face formats: `config.json`, `preprocessor_config.json`, safetensors read
//!   tensor by tensor into [`hf::Weights`].
//! - [`image`]: decoding and CLIP preprocessing identical to HF's PIL path.
//! - [`tokenize`]: the CLIP tokenizer.
//! - [`model`]: the networks, as struct trees that mirror the checkpoint keys.
//! - [`load`]: the one loading sequence (configs, tokenizers, weights) for the CLI and the page.
//! - [`task`]: embeddings and zero-shot classification.
//! - [`device`]: choosing CPU or wgpu; [`pool`]: where CPU work runs in the threaded wasm build.
//! - `web` (wasm32 only): the page's `#[wasm_bindgen]` API over [`task`].
//! - `train` (feature `native`): fine-tuning the captioner.
//! - `cli` (feature `native`): the command line.

pub mod data;
pub mod device;
pub mod error;
#[doc(hidden)]
pub mod fuzz;
pub mod hf;
pub mod image;
pub mod load;
pub mod model;
pub mod pool;
pub mod render;
pub mod rng;
pub mod task;
pub mod tokenize;

#[cfg(target_family = "wasm")]
pub mod web;

#[cfg(feature = "native")]
pub mod cli;
#[cfg(feature = "native")]
pub mod train;

pub use error::{Error, Result};
