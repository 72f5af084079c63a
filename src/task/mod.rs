//! What users run: embeddings, zero-shot classification, caption generation.

pub mod caption;
pub mod embed;
pub mod fewshot;
pub mod figure;
pub mod generate;
pub mod heatmap;
pub mod metrics;
pub mod zeroshot;
