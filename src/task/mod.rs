//! What users run: embeddings and zero-shot classification.

pub mod embed;
pub mod zeroshot;
