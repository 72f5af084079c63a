//! What users run: embeddings, zero-shot classification, caption generation.

pub mod embed;
pub mod generate;
pub mod metrics;
pub mod zeroshot;
