//! Reading the Hugging Face formats: `config.json`, `preprocessor_config.json` and
//! safetensors checkpoints streamed tensor by tensor onto the device.

pub mod clip_config;
pub mod gpt2_config;
pub mod preprocessor;
pub mod safetensors;
pub mod stream;
pub mod weights;

pub use clip_config::{Activation, ClipConfig, TextConfig, TowerConfig, VisionConfig};
pub use gpt2_config::Gpt2Config;
pub use preprocessor::PreprocessConfig;
pub use weights::Weights;
