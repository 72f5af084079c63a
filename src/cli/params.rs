//! `glimpse params`: parameter counts of the full-size captioner (ViT-L/14@336 + GPT-2 small)
//! for each PEFT method, built with random weights (nothing is downloaded).

use clap::Args;
use serde_json::json;

use super::common::print_json;
use crate::error::Result;
use crate::hf::{ClipConfig, EncoderConfig, Gpt2Config, Weights};
use crate::model::captioner::{Captioner, CaptionerConfig};
use crate::model::peft::{AdapterConfig, LoraConfig, PeftCheckpoint, PeftMethod, PrefixConfig};

/// Arguments of `params`.
#[derive(Args, Debug)]
pub struct ParamsArgs {
    /// CLIP preset of the encoder.
    #[arg(long, default_value = "openai/clip-vit-large-patch14-336")]
    pub encoder: String,
}

/// The methods with their default hyper-parameters.
pub fn default_methods() -> Vec<PeftMethod> {
    vec![
        PeftMethod::None,
        PeftMethod::Adapter(AdapterConfig::default()),
        PeftMethod::Lora(LoraConfig::default()),
        PeftMethod::Prefix(PrefixConfig::default()),
    ]
}

/// Runs `params`.
pub fn run(a: ParamsArgs) -> Result<()> {
    let clip = ClipConfig::preset(&a.encoder)
        .ok_or_else(|| crate::Error::usage(format!("unknown preset `{}` ({})", a.encoder, ClipConfig::PRESETS.join(", "))))?;
    let device = burn::tensor::Device::flex();
    let mut rows = Vec::new();
    for method in default_methods() {
        let peft = PeftCheckpoint { method: method.clone(), base_encoder: None, base_decoder: None, base_model: None };
        let cfg = CaptionerConfig::new(EncoderConfig::clip(clip.vision.clone()), None, Gpt2Config::gpt2_small(), None, Some(peft), true)?;
        let model = Captioner::load(&mut Weights::random(&device, 0.02), &cfg, true);
        use burn::module::Module;
        rows.push(json!({
            "method": method.name(),
            "total": model.num_params(),
            "encoder": model.encoder.num_params(),
            "decoder": model.decoder.num_params(),
            "trainable": model.trainable_params(),
        }));
    }
    print_json(&json!({ "encoder": a.encoder, "decoder": "openai-community/gpt2", "methods": rows }))
}
