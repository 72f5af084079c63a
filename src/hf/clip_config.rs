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

fn get_usize(obj: &Map<String, Value>, key: &str, default: usize, path: &str) -> Result<usize> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => {
            v.as_u64().map(|x| x as usize).ok_or_else(|| Error::config(path, format!("`{key}` must be a non-negative integer, found {v}")))
        }
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
    let t = TowerConfig {
        hidden_size: get_usize(obj, "hidden_size", d.0, path)?,
        intermediate_size: get_usize(obj, "intermediate_size", d.1, path)?,
        num_attention_heads: get_usize(obj, "num_attention_heads", d.2, path)?,
        num_hidden_layers: get_usize(obj, "num_hidden_layers", d.3, path)?,
        hidden_act: act,
        layer_norm_eps: get_f64(obj, "layer_norm_eps", eps, path)?,
    };
    if t.num_attention_heads == 0 || t.hidden_size % t.num_attention_heads != 0 {
        return Err(Error::config(
            path,
            format!("hidden_size {} is not a multiple of num_attention_heads {}", t.hidden_size, t.num_attention_heads),
        ));
    }
    Ok(t)
}

impl VisionConfig {
    /// A vision tower's fields (CLIP's `vision_config`, or a HF `ViTConfig`, which use the same
    /// names) with the model family's defaults for the patch size, activation and epsilon.
    pub fn from_fields(v: &Map<String, Value>, patch: usize, act_eps: (Activation, f64), path: &str) -> Result<Self> {
        let vision = VisionConfig {
            tower: tower_with(v, (768, 3072, 12, 12), act_eps, path)?,
            image_size: get_usize(v, "image_size", 224, path)?,
            patch_size: get_usize(v, "patch_size", patch, path)?,
            num_channels: get_usize(v, "num_channels", 3, path)?,
        };
        if vision.patch_size == 0 || vision.image_size % vision.patch_size != 0 {
            return Err(Error::config(
                path,
                format!("image_size {} is not a multiple of patch_size {}", vision.image_size, vision.patch_size),
            ));
        }
        Ok(vision)
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
    /// Parses the text of a `config.json`; `path` only names it in errors.
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
            eos_token_id: t.get("eos_token_id").and_then(Value::as_i64).unwrap_or(2),
        };
        let vision = VisionConfig::from_fields(&v, 32, (Activation::QuickGelu, 1e-5), path)?;
        Ok(Self { text, vision, projection_dim: top_proj })
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
}
