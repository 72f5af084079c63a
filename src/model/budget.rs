//! How many elements a model of a given config holds: its largest tensor and all of them. The
//! loaders give this [`Budget`] to [`Weights::set_budget`], so every tensor a checkpoint
//! declares is checked against the model it is loaded for before its bytes are read (a header
//! declaring a 12 GB tensor for ViT-B/32 is refused from its first kilobyte).
//!
//! The totals are the configs' own parameter counts (`num_params`, which the config parsers
//! bound); the largest tensors follow the module trees (`clip/`, `vit.rs`, `gpt2.rs`).
//! [`Budget::of`] adds the margin for what is not counted (PEFT tensors, buffers).
//!
//! [`Weights::set_budget`]: crate::hf::Weights::set_budget

use crate::hf::weights::Budget;
use crate::hf::{ClipConfig, Gpt2Config, TowerConfig, VisionConfig};
use crate::model::captioner::CaptionerConfig;
use crate::model::clip::Towers;

fn mul(xs: &[usize]) -> u64 {
    xs.iter().fold(1u64, |n, &x| n.saturating_mul(x as u64))
}

/// A transformer stack's largest matrix: a square projection or an MLP linear.
fn tower_largest(t: &TowerConfig) -> u64 {
    mul(&[t.hidden_size, t.hidden_size]).max(mul(&[t.hidden_size, t.intermediate_size]))
}

/// A vision tower's largest tensor: in the stack, the patch embedding, or the position table.
fn vision_largest(v: &VisionConfig) -> u64 {
    let h = v.tower.hidden_size;
    tower_largest(&v.tower).max(mul(&[h, v.num_channels, v.patch_size, v.patch_size])).max(mul(&[v.num_positions(), h]))
}

/// GPT-2's largest tensor: `wte`, `wpe`, `c_attn` (n x 3n) or an MLP linear.
fn gpt2_largest(g: &Gpt2Config) -> u64 {
    let n = g.n_embd;
    [mul(&[g.vocab_size, n]), mul(&[g.n_positions, n]), mul(&[n, 3 * n]), mul(&[n, g.n_inner])].into_iter().max().unwrap_or(0)
}

/// A CLIP model with the towers asked for, and their projections.
pub fn clip(c: &ClipConfig, towers: Towers) -> Budget {
    let (mut largest, mut total) = (1, 1);
    if towers != Towers::Text {
        let proj = mul(&[c.vision.tower.hidden_size, c.projection_dim]);
        largest = vision_largest(&c.vision).max(proj);
        total = c.vision.num_params().saturating_add(proj);
    }
    if towers != Towers::Vision {
        let t = &c.text;
        let proj = mul(&[t.tower.hidden_size, c.projection_dim]);
        largest = largest.max(tower_largest(&t.tower)).max(mul(&[t.vocab_size, t.tower.hidden_size])).max(proj);
        largest = largest.max(mul(&[t.max_position_embeddings, t.tower.hidden_size]));
        total = total.saturating_add(t.num_params()).saturating_add(proj);
    }
    Budget::of(largest, total)
}

/// The captioner: encoder, `enc_to_dec_proj` and the decoder, with cross-attention (which the
/// captioner always has, whatever the decoder's own config says).
pub fn captioner(c: &CaptionerConfig) -> Budget {
    let (d, n) = (c.encoder.vision.tower.hidden_size, c.gpt2.n_embd);
    let gpt2 = Gpt2Config { add_cross_attention: true, ..c.gpt2.clone() };
    let proj = mul(&[d + 1, n]);
    let largest = vision_largest(&c.encoder.vision).max(gpt2_largest(&gpt2)).max(proj);
    Budget::of(largest, c.encoder.vision.num_params().saturating_add(proj).saturating_add(gpt2.num_params()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_models_fit_their_budget_and_no_more() {
        // ViT-L/14: 427.6 M parameters; the largest tensor is the text token table.
        let c = ClipConfig::preset("openai/clip-vit-large-patch14").unwrap();
        let b = clip(&c, Towers::Both);
        assert_eq!(b.largest, 49408 * 768);
        assert!(b.total >= 427_616_513 && b.total < 600_000_000, "{b:?}");
        // Its vision tower alone: the position table and MLPs are below the 1024 x 4096 MLP.
        let v = clip(&c, Towers::Vision);
        assert_eq!(v.largest, 1024 * 4096);
        assert!(v.total < b.total);
        assert_eq!(gpt2_largest(&Gpt2Config::gpt2_small()), 50257 * 768);
    }
}
