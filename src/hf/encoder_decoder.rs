//! The captioner's image encoder config (a CLIP vision tower or a HF ViT) and the composite
//! `config.json` of a HF `VisionEncoderDecoderModel` (`encoder`, `decoder`, special tokens),
//! with its `generation_config.json`.

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::hf::preprocessor::{Filter, PreprocessConfig, Resize};
use crate::hf::{Activation, ClipConfig, Gpt2Config, VisionConfig};

/// The families of image encoder the captioner takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncoderKind {
    /// CLIP's vision tower (`vision_model.*`); its `last_hidden_state` is not post-normed.
    Clip,
    /// HF `ViTModel` (`encoder.*` in a `VisionEncoderDecoderModel`); final LayerNorm on all tokens.
    Vit,
}

/// An image encoder: its family and its vision tower's hyper-parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderConfig {
    /// CLIP or ViT.
    pub kind: EncoderKind,
    /// Widths, depth, image and patch size.
    pub vision: VisionConfig,
}

fn object(text: &str, path: &str) -> Result<Map<String, Value>> {
    match serde_json::from_str(text).map_err(|e| Error::config(path, format!("invalid JSON: {e}")))? {
        Value::Object(o) => Ok(o),
        _ => Err(Error::config(path, "expected a JSON object")),
    }
}

impl EncoderConfig {
    /// From a config object: a whole `CLIPModel` (its vision tower), a `clip_vision_model`, or
    /// a `vit`.
    pub fn from_object(o: &Map<String, Value>, path: &str) -> Result<Self> {
        let ty = o.get("model_type").and_then(Value::as_str).unwrap_or("");
        if ty == "clip" || o.contains_key("vision_config") || o.contains_key("vision_config_dict") {
            let clip = ClipConfig::from_json_str(&Value::Object(o.clone()).to_string(), path)?;
            return Ok(Self { kind: EncoderKind::Clip, vision: clip.vision });
        }
        match ty {
            "clip_vision_model" => {
                Ok(Self { kind: EncoderKind::Clip, vision: VisionConfig::from_fields(o, 32, (Activation::QuickGelu, 1e-5), path)? })
            }
            "vit" => Ok(Self { kind: EncoderKind::Vit, vision: VisionConfig::vit(o, path)? }),
            other => Err(Error::config(path, format!("encoder model_type `{other}` is not supported (clip, clip_vision_model or vit)"))),
        }
    }

    /// From the text of an encoder's `config.json`.
    pub fn from_json_str(text: &str, path: &str) -> Result<Self> {
        Self::from_object(&object(text, path)?, path)
    }

    /// A CLIP vision tower.
    pub fn clip(vision: VisionConfig) -> Self {
        Self { kind: EncoderKind::Clip, vision }
    }

    /// Where the encoder's tensors sit in the captioner's weights.
    pub fn prefix(&self) -> &'static str {
        match self.kind {
            EncoderKind::Clip => "vision_model",
            EncoderKind::Vit => "encoder",
        }
    }

    /// The preprocessing the family uses when no `preprocessor_config.json` says otherwise:
    /// CLIP's (bicubic shortest edge, center crop, CLIP mean/std) or ViT's (bilinear resize to
    /// the exact size, mean and std 0.5).
    pub fn default_preprocess(&self) -> PreprocessConfig {
        let s = self.vision.image_size as u32;
        match self.kind {
            EncoderKind::Clip => PreprocessConfig::clip(s),
            EncoderKind::Vit => PreprocessConfig {
                resize: Some(Resize::Exact { height: s, width: s }),
                filter: Filter::Bilinear,
                crop: None,
                rescale_factor: 1.0 / 255.0,
                mean: [0.5; 3],
                std: [0.5; 3],
            },
        }
    }
}

/// Decoding defaults a published checkpoint ships (`generation_config.json`, or the same keys
/// in `config.json`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GenerationDefaults {
    /// `max_length`: the whole sequence, start token included.
    pub max_length: Option<usize>,
    /// `num_beams`.
    pub num_beams: Option<usize>,
    /// `no_repeat_ngram_size`.
    pub no_repeat_ngram_size: Option<usize>,
    /// `length_penalty`.
    pub length_penalty: Option<f64>,
}

impl GenerationDefaults {
    /// Reads the keys from a config object (absent keys stay `None`).
    pub fn from_object(o: &Map<String, Value>) -> Self {
        let n = |k: &str| o.get(k).and_then(Value::as_u64).map(|v| v as usize);
        Self {
            max_length: n("max_length"),
            num_beams: n("num_beams"),
            no_repeat_ngram_size: n("no_repeat_ngram_size"),
            length_penalty: o.get("length_penalty").and_then(Value::as_f64),
        }
    }

    /// From the text of `generation_config.json`.
    pub fn from_json_str(text: &str, path: &str) -> Result<Self> {
        Ok(Self::from_object(&object(text, path)?))
    }

    /// `later` where it says something, else `self`.
    pub fn overlaid(self, later: Self) -> Self {
        Self {
            max_length: later.max_length.or(self.max_length),
            num_beams: later.num_beams.or(self.num_beams),
            no_repeat_ngram_size: later.no_repeat_ngram_size.or(self.no_repeat_ngram_size),
            length_penalty: later.length_penalty.or(self.length_penalty),
        }
    }
}

/// A HF `VisionEncoderDecoderModel`'s `config.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderDecoderConfig {
    /// The `encoder` object.
    pub encoder: EncoderConfig,
    /// The `decoder` object (GPT-2 with cross-attention).
    pub decoder: Gpt2Config,
    /// `decoder_start_token_id` (GPT-2 checkpoints use `<|endoftext|>`, 50256).
    pub decoder_start_token_id: u32,
    /// `eos_token_id`: generation stops there.
    pub eos_token_id: u32,
    /// Decoding defaults found in `config.json` itself (older checkpoints keep them there).
    pub generation: GenerationDefaults,
}

impl EncoderDecoderConfig {
    /// Parses the text of the composite `config.json`.
    pub fn from_json_str(text: &str, path: &str) -> Result<Self> {
        let o = object(text, path)?;
        let ty = o.get("model_type").and_then(Value::as_str).unwrap_or("");
        if ty != "vision-encoder-decoder" {
            return Err(Error::config(path, format!("model_type is `{ty}`, expected `vision-encoder-decoder`")));
        }
        let part = |k: &str| match o.get(k) {
            Some(Value::Object(p)) => Ok(p),
            _ => Err(Error::config(path, format!("missing the `{k}` object"))),
        };
        let encoder = EncoderConfig::from_object(part("encoder")?, &format!("{path} (encoder)"))?;
        let dec_path = format!("{path} (decoder)");
        let decoder = Gpt2Config::from_json_str(&Value::Object(part("decoder")?.clone()).to_string(), &dec_path)?;
        if !decoder.add_cross_attention {
            return Err(Error::config(dec_path, "the decoder has no cross-attention (`add_cross_attention` is false)"));
        }
        let token = |k: &str| o.get(k).and_then(Value::as_u64).map(|t| t as u32);
        let decoder_start_token_id = token("decoder_start_token_id").unwrap_or(decoder.eos_token_id);
        let eos_token_id = token("eos_token_id").unwrap_or(decoder.eos_token_id);
        if decoder_start_token_id as usize >= decoder.vocab_size {
            return Err(Error::config(
                path,
                format!(
                    "decoder_start_token_id {decoder_start_token_id} is outside the decoder's vocabulary ({} tokens)",
                    decoder.vocab_size
                ),
            ));
        }
        Ok(Self { encoder, decoder, decoder_start_token_id, eos_token_id, generation: GenerationDefaults::from_object(&o) })
    }
}
