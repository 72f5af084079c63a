//! `config.json` of a HF `CLIPModel`.
//!
//! Both spellings that exist on the hub are read: the current one (`text_config` /
//! `vision_config` objects) and the legacy one written by transformers 4.x before 4.21, where
//! `text_config_dict` / `vision_config_dict` hold the values that override `text_config` /
//! `vision_config` (openai's own repositories carry both). Fields that are absent take
//! transformers' defaults for `CLIPTextConfig` / `CLIPVisionConfig`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::hf::bounds::{
    IMAGE_CHANNELS, MAX_GRID, MAX_HEADS, MAX_HIDDEN, MAX_IMAGE_SIZE, MAX_INTERMEDIATE, MAX_LAYERS, MAX_POSITIONS, MAX_VOCAB, check,
    check_eps, check_heads, check_params, layer_params,
};

/// The activation of the transformer MLPs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// `x * sigmoid(1.702 x)`, OpenAI CLIP's.
    QuickGelu,
    /// Exact GELU with erf.
    Gelu,
    /// GELU with the tanh approximation (GPT-2's `gelu_new`).
    #[serde(alias = "gelu_new", alias = "gelu_pytorch_tanh")]
    GeluNew,
}

impl Activation {
    fn parse(name: &str, path: &str) -> Result<Self> {
        match name {
            "quick_gelu" => Ok(Self::QuickGelu),
            "gelu" => Ok(Self::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Ok(Self::GeluNew),
            other => Err(Error::config(path, format!("unsupported hidden_act `{other}` (quick_gelu, gelu, gelu_new)"))),
        }
    }
}

/// One transformer tower (the text or the vision encoder) of CLIP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TowerConfig {
    /// Width of the residual stream (`hidden_size`): 1024 for ViT-L/14's vision tower.
    pub hidden_size: usize,
    /// Width of the MLP's hidden layer (`intermediate_size`), usually 4 x hidden_size.
    pub intermediate_size: usize,
    /// Number of attention heads; hidden_size must be a multiple of it.
    pub num_attention_heads: usize,
    /// Number of encoder layers.
    pub num_hidden_layers: usize,
    /// MLP activation (`hidden_act`).
    pub hidden_act: Activation,
    /// Epsilon of every LayerNorm of the tower (`layer_norm_eps`).
    pub layer_norm_eps: f64,
}

impl TowerConfig {
    /// Width of one attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Checks the sizes against [`crate::hf::bounds`]; `section` prefixes the field names in
    /// messages (`vision_config.`, or nothing for a bare vision config).
    pub fn validate(&self, path: &str, section: &str) -> Result<()> {
        let f = |k: &str| format!("{section}{k}");
        check(path, &f("hidden_size"), self.hidden_size, 1..=MAX_HIDDEN)?;
        check(path, &f("num_attention_heads"), self.num_attention_heads, 1..=MAX_HEADS)?;
        check_heads(path, &f("hidden_size"), self.hidden_size, &f("num_attention_heads"), self.num_attention_heads)?;
        check(path, &f("intermediate_size"), self.intermediate_size, 1..=MAX_INTERMEDIATE)?;
        check(path, &f("num_hidden_layers"), self.num_hidden_layers, 1..=MAX_LAYERS)?;
        check_eps(path, &f("layer_norm_eps"), self.layer_norm_eps)?;
        Ok(())
    }

    /// Parameters of the encoder layers (saturating).
    pub fn num_params(&self) -> u64 {
        layer_params(self.hidden_size, self.intermediate_size).saturating_mul(self.num_hidden_layers as u64)
    }
}

/// The text tower's own fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextConfig {
    /// The transformer.
    pub tower: TowerConfig,
    /// Rows of the token embedding (49408 for OpenAI's BPE).
    pub vocab_size: usize,
    /// Rows of the position embedding: the longest tokenised prompt (77).
    pub max_position_embeddings: usize,
    /// Id of `<|endoftext|>`, whose final hidden state is the text embedding. Legacy configs say 2
    /// here; as transformers does, the position is then taken as the argmax of the ids.
    pub eos_token_id: i64,
}

impl TextConfig {
    /// Checks the tower, the table sizes and `eos_token_id` against [`crate::hf::bounds`];
    /// `section` prefixes the field names in messages (`text_config.`).
    pub fn validate(&self, path: &str, section: &str) -> Result<()> {
        let f = |k: &str| format!("{section}{k}");
        self.tower.validate(path, section)?;
        check(path, &f("vocab_size"), self.vocab_size, 1..=MAX_VOCAB)?;
        check(path, &f("max_position_embeddings"), self.max_position_embeddings, 1..=MAX_POSITIONS)?;
        check(path, &f("eos_token_id"), self.eos_token_id, 0..=self.vocab_size as i64 - 1)?;
        Ok(())
    }

    /// Parameters of the text tower: embeddings, layers, final LayerNorm (saturating).
    pub fn num_params(&self) -> u64 {
        let d = self.tower.hidden_size as u64;
        let tables = (self.vocab_size as u64).saturating_add(self.max_position_embeddings as u64).saturating_mul(d);
        tables.saturating_add(self.tower.num_params()).saturating_add(2 * d)
    }
}

/// The vision tower's own fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisionConfig {
    /// The transformer.
    pub tower: TowerConfig,
    /// Side of the square input image in pixels (224, or 336 for `-336` checkpoints).
    pub image_size: usize,
    /// Side of one square patch (14 for ViT-L/14, 32 for ViT-B/32).
    pub patch_size: usize,
    /// Input channels (3).
    pub num_channels: usize,
}

impl VisionConfig {
    /// Patches per side: image_size / patch_size.
    pub fn grid(&self) -> usize {
        self.image_size / self.patch_size
    }
    /// Encoder positions: one CLS token plus grid x grid patches.
    pub fn num_positions(&self) -> usize {
        self.grid() * self.grid() + 1
    }

    /// Checks the tower, the image and patch sizes and the channel count against
    /// [`crate::hf::bounds`]; `section` prefixes the field names in messages.
    pub fn validate(&self, path: &str, section: &str) -> Result<()> {
        let f = |k: &str| format!("{section}{k}");
        self.tower.validate(path, section)?;
        let image = check(path, &f("image_size"), self.image_size, 1..=MAX_IMAGE_SIZE)?;
        check(path, &f("patch_size"), self.patch_size, 1..=image)?;
        // The patch embedding cuts the image into whole patches (a reshape, as HF's strided
        // convolution does when the side is a multiple).
        if image % self.patch_size != 0 {
            return Err(Error::config(
                path,
                format!("`{}` {image} is not a multiple of `{}` {}", f("image_size"), f("patch_size"), self.patch_size),
            ));
        }
        check(path, &format!("{} / {}", f("image_size"), f("patch_size")), self.grid(), 1..=MAX_GRID)?;
        if self.num_channels != IMAGE_CHANNELS {
            return Err(Error::config(
                path,
                format!("`{}` is {}: glimpse feeds RGB images, so it must be {IMAGE_CHANNELS}", f("num_channels"), self.num_channels),
            ));
        }
        check_params(path, "a vision tower", self.num_params())
    }

    /// Parameters of the vision tower: patch embedding with a bias, class and position
    /// embeddings, layers and two LayerNorms. An upper bound for both families, at most
    /// 2 x hidden_size above the exact count (CLIP's patch embedding has no bias, ViT has one
    /// final LayerNorm); saturating.
    pub fn num_params(&self) -> u64 {
        let d = self.tower.hidden_size as u64;
        let p = self.patch_size as u64;
        let patch = (self.num_channels as u64).saturating_mul(p).saturating_mul(p).saturating_add(1).saturating_mul(d);
        let g = self.image_size.checked_div(self.patch_size).unwrap_or(0) as u64;
        // grid x grid patches and the class token, plus the class embedding itself.
        let positions = g.saturating_mul(g).saturating_add(2).saturating_mul(d);
        patch.saturating_add(positions).saturating_add(self.tower.num_params()).saturating_add(4 * d)
    }
}

/// A whole `CLIPModel`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipConfig {
    /// Text tower.
    pub text: TextConfig,
    /// Vision tower.
    pub vision: VisionConfig,
    /// Width of the shared embedding space (`projection_dim`): 768 for ViT-L/14.
    pub projection_dim: usize,
}

impl ClipConfig {
    /// Checks both towers, `projection_dim` and the whole model's parameter count against
    /// [`crate::hf::bounds`] (what [`ClipConfig::from_json_str`] runs before returning).
    pub fn validate(&self, path: &str) -> Result<()> {
        self.text.validate(path, "text_config.")?;
        self.vision.validate(path, "vision_config.")?;
        check(path, "projection_dim", self.projection_dim, 1..=MAX_HIDDEN)?;
        check_params(path, "a CLIP model", self.num_params())
    }

    /// Parameters of the whole model: both towers, both projections and `logit_scale`
    /// (saturating).
    pub fn num_params(&self) -> u64 {
        let widths = (self.text.tower.hidden_size as u64).saturating_add(self.vision.tower.hidden_size as u64);
        let projections = widths.saturating_mul(self.projection_dim as u64);
        self.text.num_params().saturating_add(self.vision.num_params()).saturating_add(projections).saturating_add(1)
    }
}

fn get_usize(obj: &Map<String, Value>, key: &str, default: usize, path: &str) -> Result<usize> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => {
            // A value past usize (32-bit targets) is kept as usize::MAX: out of every bound.
            v.as_u64()
                .map(|x| usize::try_from(x).unwrap_or(usize::MAX))
                .ok_or_else(|| Error::config(path, format!("`{key}` must be a non-negative integer, found {v}")))
        }
    }
}

fn get_i64(obj: &Map<String, Value>, key: &str, default: i64, path: &str) -> Result<i64> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v.as_i64().ok_or_else(|| Error::config(path, format!("`{key}` must be an integer, found {v}"))),
    }
}

fn get_f64(obj: &Map<String, Value>, key: &str, default: f64, path: &str) -> Result<f64> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v.as_f64().ok_or_else(|| Error::config(path, format!("`{key}` must be a number, found {v}"))),
    }
}

/// `base` overlaid with `over` (the legacy `*_config_dict` objects win over `*_config`).
fn merged(root: &Map<String, Value>, name: &str) -> Map<String, Value> {
    let mut out = Map::new();
    for key in [format!("{name}_config"), format!("{name}_config_dict")] {
        if let Some(Value::Object(o)) = root.get(&key) {
            for (k, v) in o {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out
}

fn tower(obj: &Map<String, Value>, d: (usize, usize, usize, usize), path: &str) -> Result<TowerConfig> {
    tower_with(obj, d, (Activation::QuickGelu, 1e-5), path)
}

/// A tower's fields with the given defaults for sizes and for (activation, LayerNorm epsilon).
fn tower_with(obj: &Map<String, Value>, d: (usize, usize, usize, usize), (act, eps): (Activation, f64), path: &str) -> Result<TowerConfig> {
    let act = match obj.get("hidden_act") {
        Some(Value::String(s)) => Activation::parse(s, path)?,
        _ => act,
    };
    Ok(TowerConfig {
        hidden_size: get_usize(obj, "hidden_size", d.0, path)?,
        intermediate_size: get_usize(obj, "intermediate_size", d.1, path)?,
        num_attention_heads: get_usize(obj, "num_attention_heads", d.2, path)?,
        num_hidden_layers: get_usize(obj, "num_hidden_layers", d.3, path)?,
        hidden_act: act,
        layer_norm_eps: get_f64(obj, "layer_norm_eps", eps, path)?,
    })
}

impl VisionConfig {
    /// A vision tower's fields (CLIP's `vision_config`, or a HF `ViTConfig`, which use the same
    /// names) with the model family's defaults for the patch size, activation and epsilon,
    /// validated ([`VisionConfig::validate`]).
    pub fn from_fields(v: &Map<String, Value>, patch: usize, act_eps: (Activation, f64), path: &str) -> Result<Self> {
        let vision = Self::fields(v, patch, act_eps, path)?;
        vision.validate(path, "")?;
        Ok(vision)
    }

    /// The fields as [`VisionConfig::from_fields`] reads them, not yet validated.
    fn fields(v: &Map<String, Value>, patch: usize, act_eps: (Activation, f64), path: &str) -> Result<Self> {
        Ok(VisionConfig {
            tower: tower_with(v, (768, 3072, 12, 12), act_eps, path)?,
            image_size: get_usize(v, "image_size", 224, path)?,
            patch_size: get_usize(v, "patch_size", patch, path)?,
            num_channels: get_usize(v, "num_channels", 3, path)?,
        })
    }

    /// A HF `ViTConfig` (`model_type` "vit"): exact GELU, LayerNorm epsilon 1e-12, 16-pixel
    /// patches unless it says otherwise. A ViT without q/k/v biases is refused.
    pub fn vit(v: &Map<String, Value>, path: &str) -> Result<Self> {
        if v.get("qkv_bias").and_then(Value::as_bool) == Some(false) {
            return Err(Error::config(path, "ViT without q/k/v biases (`qkv_bias: false`) is not supported"));
        }
        Self::from_fields(v, 16, (Activation::Gelu, 1e-12), path)
    }
}

impl ClipConfig {
    /// Parses the text of a `config.json` and validates it ([`ClipConfig::validate`]); `path`
    /// only names it in errors.
    pub fn from_json_str(text: &str, path: &str) -> Result<Self> {
        let root: Value = serde_json::from_str(text).map_err(|e| Error::config(path, format!("invalid JSON: {e}")))?;
        let Value::Object(root) = root else {
            return Err(Error::config(path, "expected a JSON object"));
        };
        if root.get("text_config").is_none() && root.get("vision_config").is_none() {
            let ty = root.get("model_type").and_then(Value::as_str).unwrap_or("unknown");
            return Err(Error::config(path, format!("not a CLIPModel config (model_type `{ty}`, no text_config/vision_config)")));
        }
        let t = merged(&root, "text");
        let v = merged(&root, "vision");
        let top_proj = get_usize(&root, "projection_dim", 512, path)?;
        let text = TextConfig {
            tower: tower(&t, (512, 2048, 8, 12), path)?,
            vocab_size: get_usize(&t, "vocab_size", 49408, path)?,
            max_position_embeddings: get_usize(&t, "max_position_embeddings", 77, path)?,
            eos_token_id: get_i64(&t, "eos_token_id", 2, path)?,
        };
        let vision = VisionConfig::fields(&v, 32, (Activation::QuickGelu, 1e-5), path)?;
        let config = Self { text, vision, projection_dim: top_proj };
        config.validate(path)?;
        Ok(config)
    }

    /// Reads `config.json` from a file.
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<Self> {
        let p = path.as_ref();
        let text = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
        Self::from_json_str(&text, &p.display().to_string())
    }

    /// Named presets of the published OpenAI checkpoints, for building random-weight models
    /// (benchmarks) without a config file: `openai/clip-vit-base-patch32`,
    /// `openai/clip-vit-large-patch14`, `openai/clip-vit-large-patch14-336`.
    pub fn preset(name: &str) -> Option<Self> {
        let name = name.trim_start_matches("openai/");
        let text = |hidden: usize, heads: usize| TextConfig {
            tower: TowerConfig {
                hidden_size: hidden,
                intermediate_size: hidden * 4,
                num_attention_heads: heads,
                num_hidden_layers: 12,
                hidden_act: Activation::QuickGelu,
                layer_norm_eps: 1e-5,
            },
            vocab_size: 49408,
            max_position_embeddings: 77,
            eos_token_id: 2,
        };
        let vision = |hidden: usize, layers: usize, heads: usize, image: usize, patch: usize| VisionConfig {
            tower: TowerConfig {
                hidden_size: hidden,
                intermediate_size: hidden * 4,
                num_attention_heads: heads,
                num_hidden_layers: layers,
                hidden_act: Activation::QuickGelu,
                layer_norm_eps: 1e-5,
            },
            image_size: image,
            patch_size: patch,
            num_channels: 3,
        };
        match name {
            "clip-vit-base-patch32" => Some(Self { text: text(512, 8), vision: vision(768, 12, 12, 224, 32), projection_dim: 512 }),
            "clip-vit-large-patch14" => Some(Self { text: text(768, 12), vision: vision(1024, 24, 16, 224, 14), projection_dim: 768 }),
            "clip-vit-large-patch14-336" => Some(Self { text: text(768, 12), vision: vision(1024, 24, 16, 336, 14), projection_dim: 768 }),
            _ => None,
        }
    }

    /// Names accepted by [`ClipConfig::preset`].
    pub const PRESETS: [&'static str; 3] =
        ["openai/clip-vit-base-patch32", "openai/clip-vit-large-patch14", "openai/clip-vit-large-patch14-336"];
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hf::bounds;

    #[test]
    fn legacy_dict_overrides_config() {
        let json = r#"{"projection_dim": 768,
            "text_config": {"hidden_size": 512, "num_attention_heads": 8},
            "text_config_dict": {"hidden_size": 768, "num_attention_heads": 12, "intermediate_size": 3072},
            "vision_config_dict": {"hidden_size": 1024, "intermediate_size": 4096, "num_attention_heads": 16,
                                   "num_hidden_layers": 24, "patch_size": 14}}"#;
        let c = ClipConfig::from_json_str(json, "config.json").unwrap();
        assert_eq!(c, ClipConfig::preset("openai/clip-vit-large-patch14").unwrap());
    }

    #[test]
    fn rejects_non_clip() {
        let e = ClipConfig::from_json_str(r#"{"model_type": "gpt2"}"#, "x/config.json").unwrap_err();
        assert!(e.to_string().contains("not a CLIPModel config"), "{e}");
    }

    #[test]
    fn bad_head_count() {
        let json = r#"{"text_config": {"hidden_size": 10, "num_attention_heads": 3}, "vision_config": {}}"#;
        assert!(ClipConfig::from_json_str(json, "c").unwrap_err().to_string().contains("multiple"));
    }

    /// A small valid CLIP config (clip_a's sizes).
    const SMALL: &str = r#"{"model_type": "clip", "projection_dim": 16,
        "text_config": {"hidden_size": 24, "intermediate_size": 40, "num_attention_heads": 3, "num_hidden_layers": 2,
                        "vocab_size": 49408, "max_position_embeddings": 77, "eos_token_id": 49407},
        "vision_config": {"hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4, "num_hidden_layers": 2,
                          "image_size": 32, "patch_size": 8}}"#;

    #[test]
    fn out_of_range_values_are_refused_by_name() {
        use serde_json::json;
        let path = "m/config.json";
        assert!(ClipConfig::from_json_str(SMALL, path).is_ok());
        for (field, value, needle) in [
            (
                "text_config.intermediate_size",
                json!(1_000_000_000),
                "`text_config.intermediate_size` is 1000000000: must be from 1 to 65536",
            ),
            ("vision_config.intermediate_size", json!(1_000_000_000), "`vision_config.intermediate_size` is 1000000000"),
            ("vision_config.image_size", json!(1_000_000_000), "`vision_config.image_size` is 1000000000: must be from 1 to 4096"),
            ("text_config.vocab_size", json!(1_000_000_000), "`text_config.vocab_size` is 1000000000: must be from 1 to 1048576"),
            ("text_config.vocab_size", json!(0), "`text_config.vocab_size` is 0"),
            ("projection_dim", json!(1_000_000_000), "`projection_dim` is 1000000000: must be from 1 to 16384"),
            ("projection_dim", json!(0), "`projection_dim` is 0"),
            ("text_config.max_position_embeddings", json!(1_000_000_000), "`text_config.max_position_embeddings` is 1000000000"),
            ("text_config.max_position_embeddings", json!(0), "`text_config.max_position_embeddings` is 0"),
            ("vision_config.num_channels", json!(1_000_000_000), "`vision_config.num_channels` is 1000000000"),
            ("vision_config.num_channels", json!(1), "`vision_config.num_channels` is 1: glimpse feeds RGB images"),
            ("text_config.num_hidden_layers", json!(1_000_000), "`text_config.num_hidden_layers` is 1000000: must be from 1 to 256"),
            ("vision_config.num_hidden_layers", json!(1_000_000), "`vision_config.num_hidden_layers` is 1000000"),
            ("vision_config.num_hidden_layers", json!(0), "`vision_config.num_hidden_layers` is 0"),
            ("text_config.hidden_size", json!(0), "`text_config.hidden_size` is 0: must be from 1 to 16384"),
            ("vision_config.hidden_size", json!(1_000_000_000), "`vision_config.hidden_size` is 1000000000"),
            ("vision_config.num_attention_heads", json!(0), "`vision_config.num_attention_heads` is 0"),
            ("vision_config.num_attention_heads", json!(1024), "`vision_config.num_attention_heads` is 1024: must be from 1 to 256"),
            (
                "vision_config.hidden_size",
                json!(33),
                "`vision_config.hidden_size` 33 is not a multiple of `vision_config.num_attention_heads` 4",
            ),
            ("text_config.layer_norm_eps", json!(-1e-5), "`text_config.layer_norm_eps` is -0.00001"),
            ("vision_config.layer_norm_eps", json!(0), "`vision_config.layer_norm_eps` is 0: must be a number above 0"),
            ("vision_config.layer_norm_eps", json!("tiny"), "`layer_norm_eps` must be a number"),
            ("text_config.eos_token_id", json!(49408), "`text_config.eos_token_id` is 49408: must be from 0 to 49407"),
            ("text_config.eos_token_id", json!(-1), "`text_config.eos_token_id` is -1"),
            ("text_config.eos_token_id", json!("eos"), "`eos_token_id` must be an integer"),
            ("vision_config.patch_size", json!(0), "`vision_config.patch_size` is 0: must be from 1 to 32"),
            ("vision_config.patch_size", json!(64), "`vision_config.patch_size` is 64: must be from 1 to 32"),
            ("vision_config.patch_size", json!(7), "`vision_config.image_size` 32 is not a multiple of `vision_config.patch_size` 7"),
            ("vision_config.patch_size", json!(1), "`vision_config.image_size / vision_config.patch_size` is 4096: must be from 1 to 128"),
            ("vision_config.image_size", json!(1e9), "`image_size` must be a non-negative integer"),
            // The legacy `*_config_dict` values are the ones checked.
            ("text_config_dict.hidden_size", json!(0), "`text_config.hidden_size` is 0"),
        ] {
            // Every case but the grid one is a single bad field; the grid needs a 4096 image.
            let json = bounds::with_field(SMALL, field, value.clone());
            let json =
                if needle.contains("image_size / ") { bounds::with_field(&json, "vision_config.image_size", json!(4096)) } else { json };
            let e = ClipConfig::from_json_str(&json, path).unwrap_err().to_string();
            assert!(e.starts_with(path) && e.contains(needle), "{field} = {value}: {e}");
        }
        // Within every bound but too many parameters in all: refused with the count.
        let mut big: Value = serde_json::from_str(SMALL).unwrap();
        big["vision_config"] = json!({"hidden_size": 16384, "intermediate_size": 65536, "num_attention_heads": 128,
            "num_hidden_layers": 256, "image_size": 224, "patch_size": 14});
        let e = ClipConfig::from_json_str(&big.to_string(), path).unwrap_err().to_string();
        assert!(e.starts_with(path) && e.contains("a vision tower with 824") && e.contains("parameters"), "{e}");
    }

    #[test]
    fn nan_epsilon_is_refused() {
        // JSON cannot say NaN; a config built in code can.
        let mut c = ClipConfig::preset("openai/clip-vit-base-patch32").unwrap();
        c.vision.tower.layer_norm_eps = f64::NAN;
        let e = c.validate("x/config.json").unwrap_err().to_string();
        assert!(e.contains("x/config.json") && e.contains("`vision_config.layer_norm_eps` is NaN"), "{e}");
    }

    #[test]
    fn real_configs_pass() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        for name in ["clip_a", "clip_b"] {
            ClipConfig::from_file(dir.join(name).join("config.json")).unwrap();
        }
        for name in ClipConfig::PRESETS {
            ClipConfig::preset(name).unwrap().validate(name).unwrap();
        }
        // openai/clip-vit-large-patch14 has 427,616,513 parameters; the count here includes a
        // patch-embedding bias CLIP does not have (1024).
        assert_eq!(ClipConfig::preset("openai/clip-vit-large-patch14").unwrap().num_params(), 427_616_513 + 1024);
        // The largest published CLIPs: laion's ViT-H/14 and ViT-bigG/14 (open_clip: 2.54e9 parameters).
        let laion = |text: (usize, usize, usize, usize), vision: (usize, usize, usize, usize), proj: usize| {
            let tower = |(h, l, heads, i): (usize, usize, usize, usize)| {
                serde_json::json!({"hidden_size": h, "num_hidden_layers": l, "num_attention_heads": heads, "intermediate_size": i,
                    "hidden_act": "gelu", "image_size": 224, "patch_size": 14, "vocab_size": 49408,
                    "max_position_embeddings": 77, "eos_token_id": 49407})
            };
            let json = serde_json::json!({"model_type": "clip", "projection_dim": proj, "text_config": tower(text), "vision_config": tower(vision)});
            ClipConfig::from_json_str(&json.to_string(), "laion/config.json").unwrap()
        };
        let h14 = laion((1024, 24, 16, 4096), (1280, 32, 16, 5120), 1024);
        assert_eq!((h14.vision.grid(), h14.vision.tower.head_dim()), (16, 80));
        let big_g = laion((1280, 32, 20, 5120), (1664, 48, 16, 8192), 1280);
        let n = big_g.num_params();
        assert!((2_530_000_000..2_550_000_000).contains(&n), "{n}");
        assert!(n * 3 < bounds::MAX_PARAMS, "bigG passes with margin");
    }
}
