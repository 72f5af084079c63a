//! The models: one implementation for every backend and target.

pub mod activation;
pub mod attention;
pub mod budget;
pub mod captioner;
pub mod clip;
pub mod dots;
pub mod gpt2;
mod lanes;
pub mod nn;
pub mod panels;
pub mod part;
pub mod peft;
pub mod vit;
