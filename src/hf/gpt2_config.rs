//! `config.json` of a HF GPT-2 (`GPT2LMHeadModel` / `GPT2Model`).

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::hf::Activation;
use crate::hf::bounds::{
    MAX_HEADS, MAX_HIDDEN, MAX_INTERMEDIATE, MAX_LAYERS, MAX_POSITIONS, MAX_VOCAB, check, check_eps, check_heads, check_params,
    check_token, layer_params,
};

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
        Some(Value::Number(n)) => n.as_u64().ok_or_else(|| Error::config(path, format!("`{k}` must be a non-negative integer, found {n}"))),
        None | Some(Value::Null) => default.ok_or_else(|| Error::config(path, format!("missing `{k}`"))),
        Some(v) => Err(Error::config(path, format!("`{k}` must be a number, found {v}"))),
    }
}

/// A size field: a value past usize (32-bit targets) is kept as usize::MAX, out of every bound.
fn size(o: &Map<String, Value>, k: &str, default: u64, path: &str) -> Result<usize> {
    Ok(usize::try_from(num(o, k, Some(default), path)?).unwrap_or(usize::MAX))
}

impl Gpt2Config {
    /// Checks the sizes, the epsilon, `eos_token_id` and the implied parameter count against
    /// [`crate::hf::bounds`] (what [`Gpt2Config::from_json_str`] runs before returning).
    pub fn validate(&self, path: &str) -> Result<()> {
        check(path, "n_embd", self.n_embd, 1..=MAX_HIDDEN)?;
        check(path, "n_head", self.n_head, 1..=MAX_HEADS)?;
        check_heads(path, "n_embd", self.n_embd, "n_head", self.n_head)?;
        check(path, "n_layer", self.n_layer, 1..=MAX_LAYERS)?;
        check(path, "n_positions", self.n_positions, 1..=MAX_POSITIONS)?;
        check(path, "vocab_size", self.vocab_size, 1..=MAX_VOCAB)?;
        check(path, "n_inner", self.n_inner, 1..=MAX_INTERMEDIATE)?;
        check_eps(path, "layer_norm_epsilon", self.layer_norm_epsilon)?;
        check_token(path, "eos_token_id", u64::from(self.eos_token_id), self.vocab_size)?;
        check_params(path, "a GPT-2", self.num_params())
    }

    /// Parameters of the model: token and position tables, the blocks (with cross-attention
    /// when `add_cross_attention`) and the final LayerNorm; the LM head is tied (saturating).
    pub fn num_params(&self) -> u64 {
        let n = self.n_embd as u64;
        let tables = (self.vocab_size as u64).saturating_add(self.n_positions as u64).saturating_mul(n);
        // ln_cross_attn, q_attn (n -> n), c_attn (n -> 2n) and c_proj (n -> n), with biases.
        let cross = if self.add_cross_attention { n.saturating_mul(n).saturating_mul(4).saturating_add(6 * n) } else { 0 };
        let block = layer_params(self.n_embd, self.n_inner).saturating_add(cross);
        tables.saturating_add(block.saturating_mul(self.n_layer as u64)).saturating_add(2 * n)
    }

    /// Parses the JSON text and validates it ([`Gpt2Config::validate`]); `path` names the file
    /// in errors.
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
        let n_embd = size(&o, "n_embd", 768, path)?;
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
        let layer_norm_epsilon = match o.get("layer_norm_epsilon") {
            None | Some(Value::Null) => 1e-5,
            Some(v) => v.as_f64().ok_or_else(|| Error::config(path, format!("`layer_norm_epsilon` must be a number, found {v}")))?,
        };
        let eos = num(&o, "eos_token_id", Some(50256), path)?;
        let config = Self {
            n_embd,
            n_layer: size(&o, "n_layer", 12, path)?,
            n_head: size(&o, "n_head", 12, path)?,
            n_positions: size(&o, "n_positions", 1024, path)?,
            vocab_size: size(&o, "vocab_size", 50257, path)?,
            // `null` (the usual value) means 4 x n_embd.
            n_inner: size(&o, "n_inner", (n_embd as u64).saturating_mul(4), path)?,
            layer_norm_epsilon,
            activation,
            add_cross_attention: o.get("add_cross_attention").and_then(Value::as_bool).unwrap_or(false),
            eos_token_id: u32::try_from(eos)
                .map_err(|_| Error::config(path, format!("`eos_token_id` is {eos}: not a token id (at most {})", u32::MAX)))?,
        };
        config.validate(path)?;
        Ok(config)
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::hf::bounds::{MAX_PARAMS, with_field};

    /// A small valid GPT-2 config (gpt2_plain's sizes).
    const SMALL: &str = r#"{"model_type": "gpt2", "n_embd": 24, "n_head": 2, "n_layer": 2, "n_positions": 40, "n_inner": null,
        "vocab_size": 50257, "layer_norm_epsilon": 1e-5, "eos_token_id": 50256}"#;

    #[test]
    fn out_of_range_values_are_refused_by_name() {
        let path = "d/config.json";
        assert!(Gpt2Config::from_json_str(SMALL, path).is_ok());
        for (field, value, needle) in [
            ("n_embd", json!(1_000_000_000), "`n_embd` is 1000000000: must be from 1 to 16384"),
            ("n_embd", json!(0), "`n_embd` is 0"),
            ("n_embd", json!(25), "`n_embd` 25 is not a multiple of `n_head` 2"),
            ("n_head", json!(0), "`n_head` is 0: must be from 1 to 256"),
            ("n_head", json!(1_000_000_000), "`n_head` is 1000000000"),
            ("n_layer", json!(1_000_000), "`n_layer` is 1000000: must be from 1 to 256"),
            ("n_layer", json!(0), "`n_layer` is 0"),
            ("n_positions", json!(1_000_000_000), "`n_positions` is 1000000000: must be from 1 to 65536"),
            ("n_positions", json!(0), "`n_positions` is 0"),
            ("vocab_size", json!(1_000_000_000), "`vocab_size` is 1000000000: must be from 1 to 1048576"),
            ("vocab_size", json!(0), "`vocab_size` is 0"),
            ("n_inner", json!(1_000_000_000), "`n_inner` is 1000000000: must be from 1 to 65536"),
            ("n_inner", json!(0), "`n_inner` is 0"),
            ("n_inner", json!("big"), "`n_inner` must be a number"),
            ("layer_norm_epsilon", json!(-1.0), "`layer_norm_epsilon` is -1: must be a number above 0"),
            ("layer_norm_epsilon", json!(0), "`layer_norm_epsilon` is 0"),
            ("layer_norm_epsilon", json!(1e30), "`layer_norm_epsilon` is 1000000000000000000000000000000"),
            ("layer_norm_epsilon", json!("small"), "`layer_norm_epsilon` must be a number"),
            ("eos_token_id", json!(50257), "`eos_token_id` is 50257: outside the model's vocabulary of 50257 tokens"),
            ("eos_token_id", json!(5_000_000_000u64), "`eos_token_id` is 5000000000: not a token id"),
            ("eos_token_id", json!(-1), "`eos_token_id` must be a non-negative integer"),
        ] {
            let e = Gpt2Config::from_json_str(&with_field(SMALL, field, value.clone()), path).unwrap_err().to_string();
            assert!(e.starts_with(path) && e.contains(needle), "{field} = {value}: {e}");
        }
        // Every size within its bound, the whole far over the parameter cap.
        let json = r#"{"n_embd": 16384, "n_head": 128, "n_layer": 256, "n_inner": 65536, "vocab_size": 1048576}"#;
        let e = Gpt2Config::from_json_str(json, path).unwrap_err().to_string();
        assert!(e.starts_with(path) && e.contains("a GPT-2 with 84") && e.contains("parameters"), "{e}");
    }

    #[test]
    fn nan_epsilon_is_refused() {
        let c = Gpt2Config { layer_norm_epsilon: f64::NAN, ..Gpt2Config::gpt2_small() };
        let e = c.validate("d/config.json").unwrap_err().to_string();
        assert!(e.contains("d/config.json") && e.contains("`layer_norm_epsilon` is NaN"), "{e}");
    }

    #[test]
    fn real_configs_pass() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        for name in ["gpt2_plain", "gpt2_xattn"] {
            Gpt2Config::from_file(dir.join(name).join("config.json")).unwrap();
        }
        Gpt2Config::gpt2_small().validate("gpt2").unwrap();
        // openai-community/gpt2 has 124,439,808 parameters.
        assert_eq!(Gpt2Config::gpt2_small().num_params(), 124_439_808);
        // openai-community/gpt2-xl: 1,557,611,200 parameters.
        let xl = r#"{"model_type": "gpt2", "n_embd": 1600, "n_layer": 48, "n_head": 25, "n_positions": 1024,
            "vocab_size": 50257, "n_inner": null, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-05,
            "bos_token_id": 50256, "eos_token_id": 50256}"#;
        let xl = Gpt2Config::from_json_str(xl, "gpt2-xl/config.json").unwrap();
        assert_eq!((xl.n_inner, xl.num_params()), (6400, 1_557_611_200));
        // With cross-attention (a captioner's decoder) it still passes with margin.
        let xattn = Gpt2Config { add_cross_attention: true, ..xl };
        xattn.validate("x").unwrap();
        assert!(xattn.num_params() * 3 < MAX_PARAMS);
    }
}
