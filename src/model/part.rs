//! Which checkpoint a file is, and so which of its tensors a model takes and under what name.
//! The CLI (local files) and the page (streamed downloads) apply the same rules, so the page
//! never downloads a tensor the model would not use.

use crate::model::captioner::decoder_key;
use crate::model::clip::Towers;
use crate::model::peft::checkpoint::canonical_key;

/// The role of one safetensors file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// A HF `CLIPModel` checkpoint, of which these towers are wanted.
    Clip(Towers),
    /// A CLIP checkpoint used as the captioner's encoder: only `vision_model.*`.
    Encoder,
    /// A GPT-2 checkpoint used as the captioner's decoder (`transformer.` dropped, the tied
    /// `lm_head` and the causal-mask buffers skipped).
    Decoder,
    /// A PEFT checkpoint (`adapter_model.safetensors`): every key, in the decoder's names.
    Peft,
}

impl Part {
    /// The name `key` is stored under, or `None` when the model does not use it.
    pub fn rename(self, key: &str) -> Option<String> {
        match self {
            Part::Clip(towers) => towers.wants(key).then(|| key.to_string()),
            Part::Encoder => key.starts_with("vision_model.").then(|| key.to_string()),
            Part::Decoder => decoder_key(key),
            Part::Peft => Some(canonical_key(key)),
        }
    }

    /// Parses `clip`, `clip-vision`, `clip-text`, `encoder`, `decoder` or `peft`.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "clip" => Part::Clip(Towers::Both),
            "clip-vision" => Part::Clip(Towers::Vision),
            "clip-text" => Part::Clip(Towers::Text),
            "encoder" => Part::Encoder,
            "decoder" => Part::Decoder,
            "peft" => Part::Peft,
            _ => return None,
        })
    }
}
