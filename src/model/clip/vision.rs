//! `vision_model`: patch embedding, class token, positions, pre-LN, encoder, post-LN on CLS.

use burn::module::{Module, Param};
use burn::nn::LayerNorm;
use burn::tensor::Tensor;

use super::encoder::{CLIP_NAMES, ClipEncoder};
use crate::hf::{VisionConfig, Weights};
use crate::model::nn::{Linear, layer_norm};

/// `vision_model.embeddings`.
#[derive(Module, Debug)]
pub struct ClipVisionEmbeddings {
    /// `class_embedding` `[d]`.
    pub class_embedding: Param<Tensor<1>>,
    /// `patch_embedding` (a bias-free conv with stride = kernel = patch), held as a Linear over
    /// flattened `[c, p, p]` patches.
    pub patch_embedding: Linear,
    /// `position_embedding.weight` `[1 + grid^2, d]`.
    pub position_embedding: Param<Tensor<2>>,
    pub patch_size: usize,
}

impl ClipVisionEmbeddings {
    /// Loads `{p}.*` for config `c`.
    pub fn load(w: &mut Weights, p: &str, c: &VisionConfig) -> Self {
        let (d, ps, ch) = (c.tower.hidden_size, c.patch_size, c.num_channels);
        let conv = w.take(&format!("{p}.patch_embedding.weight"), [d, ch, ps, ps]); // [d, c, p, p]
        let weight = crate::model::nn::row_major(conv.reshape([d, ch * ps * ps]).transpose()); // [c*p*p, d]
        Self {
            class_embedding: Param::from_tensor(w.take(&format!("{p}.class_embedding"), [d])),
            patch_embedding: Linear::new(weight, None),
            position_embedding: Param::from_tensor(w.take(&format!("{p}.position_embedding.weight"), [c.num_positions(), d])),
            patch_size: ps,
        }
    }

    /// pixels `[b, c, s, s]` -> tokens `[b, 1 + g*g, d]`.
    pub fn forward(&self, pixels: Tensor<4>) -> Tensor<3> {
        let [b, ch, hgt, wid] = pixels.dims();
        let p = self.patch_size;
        let (gh, gw) = (hgt / p, wid / p);
        let patches = pixels
            .reshape([b, ch, gh, p, gw, p]) // [b, c, gh, p, gw, p]
            .permute([0, 2, 4, 1, 3, 5]) // [b, gh, gw, c, p, p]
            .reshape([b, gh * gw, ch * p * p]); // [b, n, c*p*p]
        let x = self.patch_embedding.forward(patches); // [b, n, d]
        let d = x.dims()[2];
        let cls = self.class_embedding.val().reshape([1, 1, d]).expand([b, 1, d]); // [b, 1, d]
        let x = Tensor::cat(vec![cls, x], 1); // [b, 1 + n, d]
        x + self.position_embedding.val().unsqueeze_dim::<3>(0) // [b, 1 + n, d]
    }
}

/// `vision_model`.
#[derive(Module, Debug)]
pub struct ClipVisionTransformer {
    pub embeddings: ClipVisionEmbeddings,
    pub pre_layrnorm: LayerNorm,
    pub encoder: ClipEncoder,
    pub post_layernorm: LayerNorm,
}

/// What the vision tower returns.
pub struct VisionOutput {
    /// Encoder output `[b, 1 + g*g, d]`, CLS first, not post-normed (HF's `last_hidden_state`).
    pub last_hidden_state: Tensor<3>,
    /// `post_layernorm(last_hidden_state[:, 0])` `[b, d]`.
    pub pooled: Tensor<2>,
    /// Per layer `[b, h, l, l]`, when asked for.
    pub attentions: Vec<Tensor<4>>,
}

impl ClipVisionTransformer {
    /// Loads `{p}.*` for config `c`.
    pub fn load(w: &mut Weights, p: &str, c: &VisionConfig) -> Self {
        let (d, eps) = (c.tower.hidden_size, c.tower.layer_norm_eps);
        Self {
            embeddings: ClipVisionEmbeddings::load(w, &format!("{p}.embeddings"), c),
            pre_layrnorm: layer_norm(w, &format!("{p}.pre_layrnorm"), d, eps),
            encoder: ClipEncoder::load(w, &format!("{p}.encoder"), &c.tower, &CLIP_NAMES),
            post_layernorm: layer_norm(w, &format!("{p}.post_layernorm"), d, eps),
        }
    }

    /// pixels `[b, c, s, s]` (normalised) -> hidden states, pooled CLS, attentions.
    pub fn forward(&self, pixels: Tensor<4>, keep_attentions: bool) -> VisionOutput {
        let x = self.pre_layrnorm.forward(self.embeddings.forward(pixels)); // [b, l, d]
        let out = self.encoder.forward(x, None, keep_attentions);
        let [b, _, d] = out.hidden.dims();
        let cls = out.hidden.clone().slice([0..b, 0..1, 0..d]).reshape([b, d]); // [b, d]
        VisionOutput { pooled: self.post_layernorm.forward(cls), last_hidden_state: out.hidden, attentions: out.attentions }
    }
}
