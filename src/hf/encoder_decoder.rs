//! The captioner's image encoder config (a CLIP vision tower or a HF ViT) and the composite
//! `config.json` of a HF `VisionEncoderDecoderModel` (`encoder`, `decoder`, special tokens),
//! with its `generation_config.json`.

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::hf::bounds::{check_params, check_token};
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
    /// Checks the special tokens against the decoder's vocabulary and the parameter count of
    /// the whole captioner (encoder, `enc_to_dec_proj`, decoder) against
    /// [`crate::hf::bounds::MAX_PARAMS`]. The parts were validated by their own parsers.
    pub fn validate(&self, path: &str) -> Result<()> {
        let vocab = self.decoder.vocab_size;
        check_token(path, "decoder_start_token_id", u64::from(self.decoder_start_token_id), vocab)?;
        check_token(path, "eos_token_id", u64::from(self.eos_token_id), vocab)?;
        check_params(path, "a captioner", self.num_params())
    }

    /// Parameters of the encoder, `enc_to_dec_proj` (when the widths differ) and the decoder
    /// (saturating).
    pub fn num_params(&self) -> u64 {
        let (d, n) = (self.encoder.vision.tower.hidden_size as u64, self.decoder.n_embd as u64);
        let proj = if d == n { 0 } else { d.saturating_mul(n).saturating_add(n) };
        self.encoder.vision.num_params().saturating_add(proj).saturating_add(self.decoder.num_params())
    }

    /// Parses the text of the composite `config.json` and validates it
    /// ([`EncoderDecoderConfig::validate`]).
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
        // A special token: absent or null means the decoder's `<|endoftext|>`.
        let token = |k: &str| -> Result<u32> {
            match o.get(k) {
                None | Some(Value::Null) => Ok(decoder.eos_token_id),
                Some(v) => match v.as_u64() {
                    Some(id) => check_token(path, k, id, decoder.vocab_size),
                    None => Err(Error::config(path, format!("`{k}` must be a token id, found {v}"))),
                },
            }
        };
        let (decoder_start_token_id, eos_token_id) = (token("decoder_start_token_id")?, token("eos_token_id")?);
        let config = Self { encoder, decoder, decoder_start_token_id, eos_token_id, generation: GenerationDefaults::from_object(&o) };
        config.validate(path)?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::hf::bounds::with_field;

    /// A small valid captioner config (ved_vit's sizes).
    const SMALL: &str = r#"{"model_type": "vision-encoder-decoder", "decoder_start_token_id": 50256, "eos_token_id": 50256,
        "encoder": {"model_type": "vit", "hidden_size": 32, "num_attention_heads": 4, "intermediate_size": 37,
                    "num_hidden_layers": 2, "image_size": 32, "patch_size": 8, "num_channels": 3},
        "decoder": {"model_type": "gpt2", "n_embd": 32, "n_head": 4, "n_layer": 2, "n_positions": 48,
                    "vocab_size": 50257, "add_cross_attention": true}}"#;

    #[test]
    fn out_of_range_values_are_refused_by_name() {
        let path = "ved/config.json";
        assert!(EncoderDecoderConfig::from_json_str(SMALL, path).is_ok());
        for (field, value, file, needle) in [
            ("encoder.patch_size", json!(0), "ved/config.json (encoder)", "`patch_size` is 0: must be from 1 to 32"),
            ("encoder.image_size", json!(1_000_000_000), "ved/config.json (encoder)", "`image_size` is 1000000000"),
            ("encoder.image_size", json!(36), "ved/config.json (encoder)", "`image_size` 36 is not a multiple of `patch_size` 8"),
            ("encoder.num_channels", json!(1_000_000_000), "ved/config.json (encoder)", "`num_channels` is 1000000000"),
            ("encoder.hidden_size", json!(0), "ved/config.json (encoder)", "`hidden_size` is 0"),
            ("encoder.intermediate_size", json!(1_000_000_000), "ved/config.json (encoder)", "`intermediate_size` is 1000000000"),
            ("encoder.num_hidden_layers", json!(1_000_000), "ved/config.json (encoder)", "`num_hidden_layers` is 1000000"),
            ("encoder.layer_norm_eps", json!(-1), "ved/config.json (encoder)", "`layer_norm_eps` is -1"),
            ("decoder.n_layer", json!(1_000_000), "ved/config.json (decoder)", "`n_layer` is 1000000"),
            ("decoder.vocab_size", json!(1_000_000_000), "ved/config.json (decoder)", "`vocab_size` is 1000000000"),
            ("decoder.n_embd", json!(0), "ved/config.json (decoder)", "`n_embd` is 0"),
            ("decoder_start_token_id", json!(50257), path, "`decoder_start_token_id` is 50257: outside the model's vocabulary of 50257"),
            ("decoder_start_token_id", json!("start"), path, "`decoder_start_token_id` must be a token id"),
            ("eos_token_id", json!(1_000_000_000), path, "`eos_token_id` is 1000000000: outside the model's vocabulary"),
        ] {
            let e = EncoderDecoderConfig::from_json_str(&with_field(SMALL, field, value.clone()), path).unwrap_err().to_string();
            assert!(e.starts_with(file) && e.contains(needle), "{field} = {value}: {e}");
        }
        // Each part under the parameter cap, the two together over it.
        let mut big: Value = serde_json::from_str(SMALL).unwrap();
        big["encoder"] = json!({"model_type": "vit", "hidden_size": 4096, "num_attention_heads": 32, "intermediate_size": 16384,
            "num_hidden_layers": 24, "image_size": 224, "patch_size": 16});
        big["decoder"] = json!({"model_type": "gpt2", "n_embd": 4096, "n_head": 32, "n_layer": 18, "add_cross_attention": true});
        let e = EncoderDecoderConfig::from_json_str(&big.to_string(), path).unwrap_err().to_string();
        assert!(e.starts_with(path) && e.contains("a captioner with") && e.contains("parameters"), "{e}");
    }

    #[test]
    fn real_configs_pass() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        for name in ["ved_clip", "ved_clip_bin", "ved_vit", "ved_vit_bin", "evil_pickle"] {
            let p = dir.join(name).join("config.json");
            EncoderDecoderConfig::from_json_str(&std::fs::read_to_string(&p).unwrap(), name).unwrap();
        }
        // nlpconnect/vit-gpt2-image-captioning: ViT-base/16 and GPT-2 small with cross-attention.
        let json = r#"{"model_type": "vision-encoder-decoder", "decoder_start_token_id": 50256, "eos_token_id": 50256,
            "pad_token_id": 50256, "encoder": {"model_type": "vit", "hidden_size": 768, "num_attention_heads": 12,
            "intermediate_size": 3072, "num_hidden_layers": 12, "image_size": 224, "patch_size": 16, "qkv_bias": true},
            "decoder": {"model_type": "gpt2", "add_cross_attention": true, "n_ctx": 1024, "n_embd": 768}}"#;
        let c = EncoderDecoderConfig::from_json_str(json, "nlpconnect").unwrap();
        assert!((230_000_000..250_000_000).contains(&c.num_params()), "{}", c.num_params());
        // google/vit-huge-patch14-224-in21k as the encoder of GPT-2 xl.
        let json = r#"{"model_type": "vision-encoder-decoder", "encoder": {"model_type": "vit", "hidden_size": 1280,
            "num_attention_heads": 16, "intermediate_size": 5120, "num_hidden_layers": 32, "image_size": 224, "patch_size": 14},
            "decoder": {"model_type": "gpt2", "add_cross_attention": true, "n_embd": 1600, "n_layer": 48, "n_head": 25}}"#;
        let c = EncoderDecoderConfig::from_json_str(json, "huge").unwrap();
        assert_eq!(c.encoder.vision.grid(), 16);
        assert!(c.num_params() * 2 < crate::hf::bounds::MAX_PARAMS, "{}", c.num_params());
    }
}
