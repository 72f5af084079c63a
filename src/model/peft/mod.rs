//! Parameter-efficient fine-tuning of the frozen GPT-2: LoRA, bottleneck adapters and prefix
//! tuning, and the PEFT checkpoint folder.

pub mod adapter;
pub mod checkpoint;
pub mod lora;
pub mod prefix;

pub use adapter::{Adapter, AdapterConfig, Placement};
pub use checkpoint::{PeftCheckpoint, PeftMethod};
pub use lora::{LoraConfig, LoraLinear};
pub use prefix::{Prefix, PrefixConfig};
