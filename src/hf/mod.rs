//! Reading the Hugging Face formats: `config.json`, `preprocessor_config.json` and
//! safetensors checkpoints streamed tensor by tensor onto the device.

pub mod bounds;
pub mod clip_config;
pub mod encoder_decoder;
pub mod gpt2_config;
pub mod pickle;
pub mod preprocessor;
pub mod safetensors;
pub mod stream;
pub mod torch_zip;
pub mod weights;

pub use clip_config::{Activation, ClipConfig, TextConfig, TowerConfig, VisionConfig};
pub use encoder_decoder::{EncoderConfig, EncoderDecoderConfig, EncoderKind, GenerationDefaults};
pub use gpt2_config::Gpt2Config;
pub use preprocessor::PreprocessConfig;
pub use weights::Weights;
