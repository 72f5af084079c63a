//! The sizes a model folder's config files may ask for, and the one range check every config
//! parser uses.
//!
//! A model folder is untrusted input: before anything is allocated, each config is checked
//! against what a real checkpoint of its family can have, with a wide margin (the largest
//! published CLIP, ViT-bigG/14, and GPT-2 xl pass with room to spare). Errors name the file,
//! the field, the value and the bound.

use std::fmt::Display;
use std::ops::RangeInclusive;

use crate::error::{Error, Result};

/// Widest residual stream (`hidden_size`, `n_embd`, `projection_dim`): ViT-bigG has 1664,
/// GPT-2 xl 1600, the widest language models 16384.
pub const MAX_HIDDEN: usize = 16_384;

/// Most attention heads per layer: real towers have 8 to 25 (GPT-2 xl), the largest models 128.
pub const MAX_HEADS: usize = 256;

/// Deepest stack of layers (`num_hidden_layers`, `n_layer`): ViT-bigG and GPT-2 xl have 48.
pub const MAX_LAYERS: usize = 256;

/// Widest MLP (`intermediate_size`, `n_inner`): ViT-bigG has 8192, GPT-2 xl 6400.
pub const MAX_INTERMEDIATE: usize = 65_536;

/// Largest vocabulary (`vocab_size`): GPT-2 has 50257, CLIP 49408, multilingual models ~256k.
pub const MAX_VOCAB: usize = 1 << 20;

/// Longest position table (`max_position_embeddings`, `n_positions`): CLIP's text tower has 77,
/// GPT-2 1024.
pub const MAX_POSITIONS: usize = 65_536;

/// Largest input image side (`image_size`), and of a resize or crop a preprocessor config asks
/// for: CLIP uses 224 or 336, the largest vision towers on the hub around 1000.
pub const MAX_IMAGE_SIZE: usize = 4096;

/// Most patches per side of the vision grid (`image_size / patch_size`): 16 for ViT-L/14 at 224,
/// 24 at 336, 64 for 1024-pixel towers with 16-pixel patches. Every forward pass attends over
/// all grid x grid + 1 positions, so the grid is bounded on its own.
pub const MAX_GRID: usize = 128;

/// Input channels of a vision tower: glimpse feeds RGB images, so exactly 3.
pub const IMAGE_CHANNELS: usize = 3;

/// Largest LayerNorm epsilon (`layer_norm_eps`, `layer_norm_epsilon`); real ones are 1e-12 to
/// 1e-5. It must also be finite and above 0.
pub const MAX_LAYER_NORM_EPS: f64 = 1.0;

/// Most parameters a config may imply (32 GB as f32): CLIP ViT-bigG/14 has about 2.5e9,
/// GPT-2 xl 1.6e9. Checked from the config alone, before any tensor is allocated.
pub const MAX_PARAMS: u64 = 8_000_000_000;

/// `value` of `field` (named as in the file, e.g. `vision_config.hidden_size`) if it lies in
/// `range`; otherwise an error naming `path`, the field, the value and the bound.
pub fn check<T: PartialOrd + Display + Copy>(path: &str, field: &str, value: T, range: RangeInclusive<T>) -> Result<T> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(Error::config(path, format!("`{field}` is {value}: must be from {} to {}", range.start(), range.end())))
    }
}

/// A LayerNorm epsilon: finite, above 0 and at most [`MAX_LAYER_NORM_EPS`].
pub fn check_eps(path: &str, field: &str, eps: f64) -> Result<f64> {
    if eps.is_finite() && eps > 0.0 && eps <= MAX_LAYER_NORM_EPS {
        Ok(eps)
    } else {
        Err(Error::config(path, format!("`{field}` is {eps}: must be a number above 0 and at most {MAX_LAYER_NORM_EPS}")))
    }
}

/// A token id the model looks up: below `vocab_size` (the rows of its token embedding).
pub fn check_token(path: &str, field: &str, id: u64, vocab_size: usize) -> Result<u32> {
    if id < vocab_size as u64 {
        Ok(id as u32)
    } else {
        Err(Error::config(path, format!("`{field}` is {id}: outside the model's vocabulary of {vocab_size} tokens")))
    }
}

/// That `width` (named `width_field`) splits into `heads` (named `heads_field`) equal heads.
pub fn check_heads(path: &str, width_field: &str, width: usize, heads_field: &str, heads: usize) -> Result<()> {
    if heads > 0 && width % heads == 0 {
        Ok(())
    } else {
        Err(Error::config(path, format!("`{width_field}` {width} is not a multiple of `{heads_field}` {heads}")))
    }
}

/// Parameters of one pre-norm transformer layer of width `d` and MLP width `i` (CLIP's encoder
/// layer and GPT-2's block have the same): q, k, v and output projections with biases, two
/// LayerNorms, and the two MLP linears with biases. Saturates instead of overflowing.
pub fn layer_params(d: usize, i: usize) -> u64 {
    let (d, i) = (d as u64, i as u64);
    let attn = d.saturating_mul(d).saturating_mul(4).saturating_add(d.saturating_mul(4));
    let mlp = d.saturating_mul(i).saturating_mul(2).saturating_add(i).saturating_add(d);
    attn.saturating_add(mlp).saturating_add(d.saturating_mul(4))
}

/// That a config's implied parameter count (`what`: "the model", "the vision tower") is at most
/// [`MAX_PARAMS`].
pub fn check_params(path: &str, what: &str, count: u64) -> Result<()> {
    if count <= MAX_PARAMS {
        Ok(())
    } else {
        Err(Error::config(
            path,
            format!(
                "this config describes {what} with {count} parameters ({:.1e}, {} GB as f32): more than the limit of {MAX_PARAMS:.0e}",
                count as f64,
                count.saturating_mul(4) / 1_000_000_000
            ),
        ))
    }
}

/// `json` with the field at the dotted path `field` (`text_config.hidden_size`) set to `value`
/// (created when absent), for the config parsers' tests.
#[cfg(test)]
pub(crate) fn with_field(json: &str, field: &str, value: serde_json::Value) -> String {
    let mut v: serde_json::Value = serde_json::from_str(json).unwrap();
    let mut at = &mut v;
    for k in field.split('.') {
        at = at.as_object_mut().unwrap().entry(k).or_insert(serde_json::Value::Object(Default::default()));
    }
    *at = value;
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_file_field_value_and_bound() {
        let e = check("m/config.json", "n_layer", 1_000_000usize, 1..=MAX_LAYERS).unwrap_err().to_string();
        assert_eq!(e, "m/config.json: `n_layer` is 1000000: must be from 1 to 256");
        assert_eq!(check("p", "x", 5usize, 1..=5).unwrap(), 5);
        for eps in [0.0, -1e-5, f64::NAN, f64::INFINITY, 2.0] {
            assert!(check_eps("p", "layer_norm_eps", eps).unwrap_err().to_string().contains("`layer_norm_eps` is"), "{eps}");
        }
        assert!(check_token("p", "eos_token_id", 50257, 50257).is_err());
        assert_eq!(check_token("p", "eos_token_id", 50256, 50257).unwrap(), 50256);
        assert!(check_heads("p", "n_embd", 10, "n_head", 0).is_err());
        let e = check_params("p", "the model", 9_000_000_000).unwrap_err().to_string();
        assert!(e.contains("9000000000 parameters") && e.contains("36 GB"), "{e}");
    }

    #[test]
    fn layer_count_matches_a_known_model() {
        // GPT-2 small: one block has 7,087,872 parameters.
        assert_eq!(layer_params(768, 3072), 7_087_872);
        assert_eq!(layer_params(usize::MAX, usize::MAX), u64::MAX);
    }
}
