//! Which checkpoint a file is, and so which of its tensors a model takes and under what name.
//! The CLI (local files) and the page (streamed downloads) apply the same rules, so the page
//! never downloads a tensor the model would not use.

use crate::hf::EncoderKind;
use crate::model::captioner::decoder_key;
use crate::model::clip::Towers;
use crate::model::peft::checkpoint::canonical_key;

/// The role of one safetensors file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// A HF `CLIPModel` checkpoint, of which these towers are wanted.
    Clip(Towers),
    /// The captioner's encoder: of a CLIP checkpoint only `vision_model.*`; of a ViT checkpoint
    /// (`ViTModel`, or `vit.*` of a classifier) every key but the pooler and head, under `encoder.`.
    Encoder(EncoderKind),
    /// A HF `VisionEncoderDecoderModel` checkpoint: `encoder.*` (a CLIP encoder's
    /// `encoder.[vision_model.]*` becomes `vision_model.*`), `decoder.*` as [`Part::Decoder`],
    /// `enc_to_dec_proj.*`.
    EncoderDecoder(EncoderKind),
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
            Part::Encoder(EncoderKind::Clip) => key.starts_with("vision_model.").then(|| key.to_string()),
            Part::Encoder(EncoderKind::Vit) => {
                let k = key.strip_prefix("vit.").unwrap_or(key);
                (!k.starts_with("pooler.") && !k.starts_with("classifier.")).then(|| format!("encoder.{k}"))
            }
            Part::EncoderDecoder(kind) => {
                if let Some(rest) = key.strip_prefix("decoder.") {
                    decoder_key(rest)
                } else if let Some(rest) = key.strip_prefix("encoder.") {
                    match kind {
                        // transformers 4 nests CLIPVisionModel's keys under `vision_model.`, 5 does not.
                        EncoderKind::Clip if rest.starts_with("vision_model.") => Some(rest.to_string()),
                        EncoderKind::Clip => Some(format!("vision_model.{rest}")),
                        EncoderKind::Vit => (!rest.starts_with("pooler.")).then(|| key.to_string()),
                    }
                } else {
                    key.starts_with("enc_to_dec_proj.").then(|| key.to_string())
                }
            }
            Part::Decoder => decoder_key(key),
            Part::Peft => Some(canonical_key(key)),
        }
    }
}
