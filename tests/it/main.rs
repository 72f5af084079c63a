//! Integration tests, one binary (burn links once): parity with HF transformers on the tiny
//! fixture checkpoints (tests/fixtures/make_fixtures.py), the CLI, and bad input.

mod bad_input;
mod cli;
mod clip_parity;
mod common;
mod tokenizer;
