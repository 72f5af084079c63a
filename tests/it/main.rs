//! Integration tests, one binary (burn links once): parity with HF transformers on the tiny
//! fixture checkpoints (tests/fixtures/make_fixtures.py), the CLI, and bad input.

mod architecture;
mod bad_input;
pub mod caption_parity;
pub mod cli;
mod clip_parity;
mod common;
mod demo;
pub mod fewshot;
mod fuzz;
pub mod hostile;
mod image_corpus;
mod loader;
mod metrics;
pub mod peft_train;
mod published;
mod tokenizer;
mod train;
mod wasm_build;
