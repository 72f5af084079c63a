//! `config.json` of a HF GPT-2 (`GPT2LMHeadModel` / `GPT2Model`).

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::hf::Activation;

/// GPT-2's hyper-parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Gpt2Config {
    /// Width of the residual stream (`n_embd`): 768 for `gpt2`.
    pub n_embd: usize,
    /// Number of blocks (`n_layer`).
    pub n_layer: usize,
    /// Attention heads per block (`n_head`).
    pub n_head: usize,
    /// Rows of the position table (`n_positions`): the longest sequence (1024).
    pub n_positions: usize,
    /// Rows of the token embedding (`vocab_size`, 50257).
    pub vocab_size: usize,
    /// MLP width (`n_inner`, default 4 x n_embd).
    pub n_inner: usize,
    /// LayerNorm epsilon (`layer_norm_epsilon`).
    pub layer_norm_epsilon: f64,
    /// MLP activation (`activation_function`, `gelu_new`).
    pub activation: Activation,
    /// Whether the checkpoint's blocks carry cross-attention (`add_cross_attention`).
    pub add_cross_attention: bool,
    /// `<|endoftext|>`: start and stop token (`bos_token_id` / `eos_token_id`, 50256).
    pub eos_token_id: u32,
}

fn num(o: &Map<String, Value>, k: &str, default: Option<u64>, path: &str) -> Result<u64> {
    match o.get(k) {
        Some(Value::Number(n)) => n.as_u64().ok_or_else(|| Error::config(path, format!("`{k}` must be a non-negative integer"))),
        None | Some(Value::Null) => default.ok_or_else(|| Error::config(path, format!("missing `{k}`"))),
        Some(v) => Err(Error::config(path, format!("`{k}` must be a number, found {v}"))),
    }
}

impl Gpt2Config {
    /// Parses the JSON text; `path` names the file in errors.
    pub fn from_json_str(text: &str, path: &str) -> Result<Self> {
        let v: Value = serde_json::from_str(text).map_err(|e| Error::config(path, format!("invalid JSON: {e}")))?;
        let Value::Object(o) = v else {
            return Err(Error::config(path, "expected a JSON object"));
        };
        if let Some(t) = o.get("model_type").and_then(Value::as_str) {
            if t != "gpt2" {
                return Err(Error::config(path, format!("model_type is `{t}`, expected `gpt2`")));
            }
        }
        let n_embd = num(&o, "n_embd", Some(768), path)? as usize;
        let n_head = num(&o, "n_head", Some(12), path)? as usize;
        if n_head == 0 || n_embd % n_head != 0 {
            return Err(Error::config(path, format!("n_embd {n_embd} is not a multiple of n_head {n_head}")));
        }
        if o.get("scale_attn_by_inverse_layer_idx").and_then(Value::as_bool) == Some(true) {
            return Err(Error::config(path, "scale_attn_by_inverse_layer_idx is not supported"));
        }
        let activation = match o.get("activation_function").and_then(Value::as_str).unwrap_or("gelu_new") {
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Activation::GeluNew,
            "gelu" => Activation::Gelu,
            "quick_gelu" => Activation::QuickGelu,
            other => {
                return Err(Error::config(path, format!("unsupported activation_function `{other}`")));
            }
        };
        Ok(Self {
            n_embd,
            n_layer: num(&o, "n_layer", Some(12), path)? as usize,
            n_head,
            n_positions: num(&o, "n_positions", Some(1024), path)? as usize,
            vocab_size: num(&o, "vocab_size", Some(50257), path)? as usize,
            n_inner: match o.get("n_inner") {
                Some(Value::Number(n)) => n.as_u64().unwrap_or(0) as usize,
                _ => 4 * n_embd,
            },
            layer_norm_epsilon: o.get("layer_norm_epsilon").and_then(Value::as_f64).unwrap_or(1e-5),
            activation,
            add_cross_attention: o.get("add_cross_attention").and_then(Value::as_bool).unwrap_or(false),
            eos_token_id: num(&o, "eos_token_id", Some(50256), path)? as u32,
        })
    }

    /// Reads `config.json`.
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<Self> {
        let p = path.as_ref();
        let text = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
        Self::from_json_str(&text, &p.display().to_string())
    }

    /// `openai-community/gpt2` (GPT-2 small), for random-weight models.
    pub fn gpt2_small() -> Self {
        Self {
            n_embd: 768,
            n_layer: 12,
            n_head: 12,
            n_positions: 1024,
            vocab_size: 50257,
            n_inner: 3072,
            layer_norm_epsilon: 1e-5,
            activation: Activation::GeluNew,
            add_cross_attention: false,
            eos_token_id: 50256,
        }
    }
}
