//! A PEFT checkpoint is a folder: `adapter_config.json` (method, hyper-parameters, base model
//! ids, format version) and `adapter_model.safetensors` holding only the trained tensors.
//!
//! Two spellings of the config are read: HF peft's (`peft_type: "LORA"`, `r`, `lora_alpha`,
//! `target_modules`, `fan_in_fan_out`, ...; keys `base_model.model.transformer.h.0....`) and
//! glimpse's own (`glimpse_format: 1`), whose tensor keys follow HF `VisionEncoderDecoderModel`
//! (`decoder.transformer.h.{i}.crossattention.*`, `enc_to_dec_proj.*`).

use serde_json::Value;

use super::adapter::AdapterConfig;
use super::lora::LoraConfig;
use super::prefix::PrefixConfig;
use crate::error::{Error, Result};
use crate::hf::bounds::{MAX_INTERMEDIATE, check};

/// Largest LoRA rank `r` read from a file (HF peft's examples use 4 to 256; the update of a
/// linear layer has r x (in + out) parameters).
pub const MAX_LORA_RANK: usize = 4096;

/// Most bottlenecks stacked in one adapter (`repeats`; the seed report uses 2).
pub const MAX_ADAPTER_REPEATS: usize = 16;

/// Most virtual tokens of prefix tuning (`num_virtual_tokens`; peft's examples use 10 to 100).
/// The prefix has num_virtual_tokens x n_layer x 2 x n_embd values and every self-attention
/// attends over them.
pub const MAX_VIRTUAL_TOKENS: usize = 1024;

/// A dropout probability: from 0 to below 1 (burn's dropout refuses others).
fn check_dropout(path: &str, field: &str, p: f64) -> Result<()> {
    if (0.0..1.0).contains(&p) {
        Ok(())
    } else {
        Err(Error::config(path, format!("`{field}` is {p}: a dropout probability must be from 0 to below 1")))
    }
}

/// The fine-tuning method of a checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub enum PeftMethod {
    /// Only cross-attention (and enc_to_dec_proj) were trained.
    None,
    /// LoRA on some linear layers.
    Lora(LoraConfig),
    /// Bottleneck adapters.
    Adapter(AdapterConfig),
    /// Prefix tuning.
    Prefix(PrefixConfig),
}

impl PeftMethod {
    /// peft's `peft_type` name.
    pub fn name(&self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::Lora(_) => "LORA",
            Self::Adapter(_) => "ADAPTER",
            Self::Prefix(_) => "PREFIX_TUNING",
        }
    }

    /// The LoRA config, if the method is LoRA.
    pub fn lora(&self) -> Option<&LoraConfig> {
        if let Self::Lora(c) = self { Some(c) } else { None }
    }

    /// The adapter config, if the method is adapters.
    pub fn adapter(&self) -> Option<&AdapterConfig> {
        if let Self::Adapter(c) = self { Some(c) } else { None }
    }

    /// The prefix config, if the method is prefix tuning.
    pub fn prefix(&self) -> Option<&PrefixConfig> {
        if let Self::Prefix(c) = self { Some(c) } else { None }
    }
}

/// A parsed `adapter_config.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct PeftCheckpoint {
    /// The method and its hyper-parameters.
    pub method: PeftMethod,
    /// Id or folder of the encoder it was trained on, when recorded.
    pub base_encoder: Option<String>,
    /// Id or folder of the decoder it was trained on, when recorded.
    pub base_decoder: Option<String>,
    /// Id or folder of the published encoder-decoder captioner it was trained on, when recorded
    /// (then `base_encoder` / `base_decoder` are absent).
    pub base_model: Option<String>,
}

/// The version of glimpse's own format written by this build.
pub const FORMAT_VERSION: u64 = 1;

impl PeftCheckpoint {
    /// Parses the JSON text of an `adapter_config.json`; `path` names it in errors.
    pub fn from_json_str(text: &str, path: &str) -> Result<Self> {
        let v: Value = serde_json::from_str(text).map_err(|e| Error::config(path, format!("invalid JSON: {e}")))?;
        let Value::Object(o) = v else {
            return Err(Error::config(path, "expected a JSON object"));
        };
        if let Some(f) = o.get("glimpse_format").and_then(Value::as_u64) {
            if f > FORMAT_VERSION {
                return Err(Error::config(path, format!("glimpse_format {f} is newer than this build reads ({FORMAT_VERSION})")));
            }
        }
        let ty = o.get("peft_type").and_then(Value::as_str).ok_or_else(|| Error::config(path, "missing `peft_type`"))?;
        let method = match ty.to_ascii_uppercase().as_str() {
            "NONE" => PeftMethod::None,
            "LORA" => {
                if let Some(Value::String(s)) = o.get("target_modules") {
                    return Err(Error::config(path, format!("target_modules as a regex ({s:?}) is not supported; list the module names")));
                }
                if o.get("bias").and_then(Value::as_str).is_some_and(|b| b != "none") {
                    return Err(Error::config(path, "LoRA with trained biases (`bias` other than \"none\") is not supported"));
                }
                if let Some(m) = o.get("modules_to_save").filter(|m| !m.is_null()) {
                    return Err(Error::config(path, format!("modules_to_save {m} is not supported")));
                }
                PeftMethod::Lora(
                    serde_json::from_value(Value::Object(o.clone())).map_err(|e| Error::config(path, format!("LoRA config: {e}")))?,
                )
            }
            "ADAPTER" => PeftMethod::Adapter(
                serde_json::from_value(Value::Object(o.clone())).map_err(|e| Error::config(path, format!("adapter config: {e}")))?,
            ),
            "PREFIX_TUNING" => PeftMethod::Prefix(
                serde_json::from_value(Value::Object(o.clone())).map_err(|e| Error::config(path, format!("prefix config: {e}")))?,
            ),
            other => {
                return Err(Error::config(
                    path,
                    format!("unknown PEFT method `{other}` (glimpse reads NONE, LORA, ADAPTER and PREFIX_TUNING)"),
                ));
            }
        };
        let s = |k: &str| o.get(k).and_then(Value::as_str).map(String::from);
        let checkpoint = Self {
            method,
            base_encoder: s("base_encoder"),
            base_decoder: s("base_decoder").or_else(|| s("base_model_name_or_path")),
            base_model: s("base_model"),
        };
        checkpoint.validate(path)?;
        Ok(checkpoint)
    }

    /// Checks the method's hyper-parameters against their bounds (ranks, widths, counts and
    /// dropout probabilities), before any tensor of those sizes exists. The widths of the
    /// decoder itself are checked with its config ([`crate::hf::Gpt2Config::validate`]).
    pub fn validate(&self, path: &str) -> Result<()> {
        match &self.method {
            PeftMethod::None => {}
            PeftMethod::Lora(c) => {
                check(path, "r", c.r, 1..=MAX_LORA_RANK)?;
                check_dropout(path, "lora_dropout", c.lora_dropout)?;
                if !c.scale().is_finite() {
                    return Err(Error::config(path, format!("`lora_alpha` {} gives no finite scale", c.lora_alpha)));
                }
            }
            PeftMethod::Adapter(c) => {
                if let Some(size) = c.size {
                    check(path, "size", size, 1..=MAX_INTERMEDIATE)?;
                }
                check(path, "repeats", c.repeats, 1..=MAX_ADAPTER_REPEATS)?;
                check_dropout(path, "dropout", c.dropout)?;
            }
            PeftMethod::Prefix(c) => {
                check(path, "num_virtual_tokens", c.num_virtual_tokens, 1..=MAX_VIRTUAL_TOKENS)?;
                if let Some(h) = c.encoder_hidden_size {
                    check(path, "encoder_hidden_size", h, 1..=MAX_INTERMEDIATE)?;
                }
            }
        }
        Ok(())
    }

    /// Reads `adapter_config.json` from a PEFT folder.
    pub fn from_dir(dir: &std::path::Path) -> Result<Self> {
        let p = dir.join("adapter_config.json");
        let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
        Self::from_json_str(&text, &p.display().to_string())
    }

    /// The LoRA config, if the method is LoRA.
    pub fn lora(&self) -> Option<&LoraConfig> {
        self.method.lora()
    }
}

/// Maps a key of `adapter_model.safetensors` to the decoder's own key names
/// (`h.0.attn.c_attn.lora_A.weight`, `enc_to_dec_proj.weight`).
pub fn canonical_key(key: &str) -> String {
    for prefix in [
        "base_model.model.decoder.transformer.",
        "base_model.model.transformer.",
        "base_model.model.",
        "decoder.transformer.",
        "decoder.",
        "transformer.",
    ] {
        if let Some(rest) = key.strip_prefix(prefix) {
            return rest.to_string();
        }
    }
    key.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_prefix_reloads_with_its_own_mlp_width() {
        // Trained on a 1024-wide encoder and a 768-wide decoder: the MLP is 768 wide (None).
        for (hidden, want) in [(None, 768), (Some(64), 64)] {
            let method = PeftMethod::Prefix(PrefixConfig { num_virtual_tokens: 5, prefix_projection: true, encoder_hidden_size: hidden });
            let saved = PeftCheckpoint { method, base_encoder: None, base_decoder: None, base_model: None };
            let text = saved.to_json(1024, 768, 12).to_string();
            let back = PeftCheckpoint::from_json_str(&text, "adapter_config.json").unwrap();
            assert_eq!(back.method.prefix().unwrap().encoder_hidden_size, Some(want), "{text}");
        }
    }

    #[test]
    fn reads_peft_lora_and_rejects_unknown() {
        let c = PeftCheckpoint::from_json_str(
            r#"{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["c_attn"], "fan_in_fan_out": true, "bias": "none"}"#,
            "a",
        )
        .unwrap();
        assert_eq!(c.lora().unwrap().scale(), 2.0);
        let e = PeftCheckpoint::from_json_str(r#"{"peft_type": "IA3"}"#, "adapter_config.json").unwrap_err();
        assert!(e.to_string().contains("unknown PEFT method `IA3`"), "{e}");
    }

    #[test]
    fn out_of_range_values_are_refused_by_name() {
        use serde_json::json;

        use crate::hf::bounds::with_field;
        let path = "p/adapter_config.json";
        let lora = r#"{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "lora_dropout": 0.1, "target_modules": ["c_attn"]}"#;
        let adapter = r#"{"peft_type": "ADAPTER", "size": 64, "repeats": 2, "dropout": 0.1}"#;
        let prefix = r#"{"peft_type": "PREFIX_TUNING", "num_virtual_tokens": 20, "prefix_projection": true, "encoder_hidden_size": 512}"#;
        for base in [lora, adapter, prefix] {
            PeftCheckpoint::from_json_str(base, path).unwrap();
        }
        for (base, field, value, needle) in [
            (lora, "r", json!(0), "`r` is 0: must be from 1 to 4096"),
            (lora, "r", json!(1_000_000_000), "`r` is 1000000000"),
            (lora, "lora_dropout", json!(1.0), "`lora_dropout` is 1: a dropout probability must be from 0 to below 1"),
            (lora, "lora_dropout", json!(-0.5), "`lora_dropout` is -0.5"),
            (adapter, "size", json!(0), "`size` is 0: must be from 1 to 65536"),
            (adapter, "size", json!(1_000_000_000), "`size` is 1000000000"),
            (adapter, "repeats", json!(0), "`repeats` is 0: must be from 1 to 16"),
            (adapter, "repeats", json!(1_000_000), "`repeats` is 1000000"),
            (adapter, "dropout", json!(2), "`dropout` is 2"),
            (prefix, "num_virtual_tokens", json!(0), "`num_virtual_tokens` is 0: must be from 1 to 1024"),
            (prefix, "num_virtual_tokens", json!(1_000_000_000), "`num_virtual_tokens` is 1000000000"),
            (prefix, "encoder_hidden_size", json!(1_000_000_000), "`encoder_hidden_size` is 1000000000: must be from 1 to 65536"),
            (prefix, "encoder_hidden_size", json!(0), "`encoder_hidden_size` is 0"),
        ] {
            let e = PeftCheckpoint::from_json_str(&with_field(base, field, value.clone()), path).unwrap_err().to_string();
            assert!(e.starts_with(path) && e.contains(needle), "{field} = {value}: {e}");
        }
        // The checkpoints in the fixtures still load.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        for name in ["lora_peft", "peft_b"] {
            PeftCheckpoint::from_dir(&dir.join(name)).unwrap();
        }
    }

    #[test]
    fn trained_keys_round_trip() {
        for (path, key) in [
            ("decoder.h.3.crossattention.q_attn.base.weight", "decoder.transformer.h.3.crossattention.q_attn.weight"),
            ("decoder.h.0.ln_cross_attn.gamma", "decoder.transformer.h.0.ln_cross_attn.weight"),
            ("decoder.h.1.attn.c_attn.lora.lora_b", "decoder.transformer.h.1.attn.c_attn.lora_B.weight"),
            ("decoder.h.1.mlp.adapter.layers.1.up.bias", "decoder.transformer.h.1.mlp.adapter.layers.1.up.bias"),
            ("decoder.prefix.transform.l2.weight", "prefix.transform.2.weight"),
            ("decoder.prefix.embedding", "prefix.embedding.weight"),
            ("enc_to_dec_proj.weight", "enc_to_dec_proj.weight"),
        ] {
            let (k, _) = trained_key(path).unwrap();
            assert_eq!(k, key);
            // And the loader maps it back to the decoder's own names.
            let back = canonical_key(&k);
            assert!(!back.starts_with("decoder."), "{back}");
        }
        assert!(trained_key("decoder.h.0.attn.c_attn.base.weight").is_none());
        assert!(trained_key("encoder.encoder.layers.0.mlp.fc1.weight").is_none());
    }

    #[test]
    fn keys_are_canonical() {
        assert_eq!(canonical_key("base_model.model.transformer.h.0.attn.c_attn.lora_A.weight"), "h.0.attn.c_attn.lora_A.weight");
        assert_eq!(canonical_key("decoder.transformer.h.1.crossattention.q_attn.weight"), "h.1.crossattention.q_attn.weight");
        assert_eq!(canonical_key("enc_to_dec_proj.bias"), "enc_to_dec_proj.bias");
    }
}

/// Where a trained parameter goes in `adapter_model.safetensors`: its key (glimpse format, HF
/// `VisionEncoderDecoderModel` names) and whether it is stored transposed (torch Linear layout)
/// relative to burn's `[in, out]`. `None` for frozen parameters.
pub fn trained_key(path: &str) -> Option<(String, bool)> {
    const TRAINABLE: [&str; 6] = ["crossattention", "ln_cross_attn", "enc_to_dec_proj", "lora", "adapter", "prefix"];
    if !TRAINABLE.iter().any(|t| path.contains(t)) || path.starts_with("encoder.") {
        return None;
    }
    let mut k = path.to_string();
    if let Some(rest) = k.strip_prefix("decoder.prefix.") {
        k = format!("prefix.{}", rest.replace("transform.l0", "transform.0").replace("transform.l2", "transform.2"));
        if k == "prefix.embedding" {
            k.push_str(".weight");
        }
    } else if let Some(rest) = k.strip_prefix("decoder.h.") {
        k = format!("decoder.transformer.h.{rest}");
    }
    k = k.replace(".base.", ".").replace(".lora.lora_a", ".lora_A.weight").replace(".lora.lora_b", ".lora_B.weight");
    if let Some(stem) = k.strip_suffix(".gamma") {
        k = format!("{stem}.weight");
    } else if let Some(stem) = k.strip_suffix(".beta") {
        k = format!("{stem}.bias");
    }
    let transpose = (k == "enc_to_dec_proj.weight") || (k.starts_with("prefix.transform.") && k.ends_with(".weight"));
    Some((k, transpose))
}

impl PeftCheckpoint {
    /// The `adapter_config.json` of this checkpoint (glimpse format).
    pub fn to_json(&self, encoder_hidden: usize, decoder_hidden: usize, layers: usize) -> Value {
        let mut o = match &self.method {
            PeftMethod::None => serde_json::Map::new(),
            PeftMethod::Lora(c) => as_object(serde_json::to_value(c)),
            PeftMethod::Adapter(c) => as_object(serde_json::to_value(c)),
            PeftMethod::Prefix(c) => as_object(serde_json::to_value(c)),
        };
        o.insert("glimpse_format".into(), FORMAT_VERSION.into());
        o.insert("peft_type".into(), self.method.name().into());
        o.insert("base_encoder".into(), self.base_encoder.clone().into());
        o.insert("base_decoder".into(), self.base_decoder.clone().into());
        if let Some(m) = &self.base_model {
            o.insert("base_model".into(), m.clone().into());
        }
        // For prefix tuning the key is peft's: the prefix MLP's width, which a reload reads
        // back (writing the encoder's width there made a prefix trained on an encoder wider or
        // narrower than the decoder reload with the wrong MLP). Elsewhere it records the encoder.
        let hidden = match &self.method {
            PeftMethod::Prefix(c) => c.encoder_hidden_size.unwrap_or(decoder_hidden),
            _ => encoder_hidden,
        };
        o.insert("encoder_hidden_size".into(), hidden.into());
        o.insert("decoder_hidden_size".into(), decoder_hidden.into());
        o.insert("decoder_layers".into(), layers.into());
        Value::Object(o)
    }
}

fn as_object(v: serde_json::Result<Value>) -> serde_json::Map<String, Value> {
    match v {
        Ok(Value::Object(o)) => o,
        _ => serde_json::Map::new(),
    }
}
