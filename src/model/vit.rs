//! HF `ViTModel`, the encoder of published captioners such as `nlpconnect/vit-gpt2-image-captioning`
//! and `Mozilla/distilvit` (`encoder.*` in a `VisionEncoderDecoderModel`).
//!
//! A sibling of CLIP's vision tower: the patch/class/position embedding and the pre-LN encoder
//! layers are CLIP's own modules (same computation, ViT's key names via
//! [`VIT_NAMES`]). Where HF differs: the patch conv has a bias, there is no pre-LayerNorm, the
//! final `layernorm` applies to every token (it is the `last_hidden_state` the decoder attends
//! to), exact GELU, LayerNorm epsilon 1e-12. The pooler is not used by captioning and ignored.

use burn::module::{Module, Param};
use burn::nn::LayerNorm;
use burn::tensor::Tensor;

use crate::hf::{VisionConfig, Weights};
use crate::model::clip::encoder::{ClipEncoder, VIT_NAMES};
use crate::model::clip::vision::{ClipVisionEmbeddings, VisionOutput};
use crate::model::nn::{Linear, layer_norm};

/// `ViTModel` without its pooler.
#[derive(Module, Debug)]
pub struct VitModel {
    /// `embeddings.{cls_token, position_embeddings, patch_embeddings.projection}`.
    pub embeddings: ClipVisionEmbeddings,
    /// `encoder.layer.{i}.*`.
    pub encoder: ClipEncoder,
    /// `layernorm`, on every token.
    pub layernorm: LayerNorm,
}

impl VitModel {
    /// Loads `{p}.*` (`encoder` inside a `VisionEncoderDecoderModel`) for config `c`.
    pub fn load(w: &mut Weights, p: &str, c: &VisionConfig) -> Self {
        let (d, ps, ch, eps) = (c.tower.hidden_size, c.patch_size, c.num_channels, c.tower.layer_norm_eps);
        let e = format!("{p}.embeddings");
        let conv = w.take(&format!("{e}.patch_embeddings.projection.weight"), [d, ch, ps, ps]); // [d, c, p, p]
        let bias = w.take(&format!("{e}.patch_embeddings.projection.bias"), [d]); // [d]
        let embeddings = ClipVisionEmbeddings {
            class_embedding: Param::from_tensor(w.take(&format!("{e}.cls_token"), [1, 1, d]).reshape([d])),
            patch_embedding: Linear::new(crate::model::nn::row_major(conv.reshape([d, ch * ps * ps]).transpose()), Some(bias)), // [c*p*p, d]
            position_embedding: Param::from_tensor(
                w.take(&format!("{e}.position_embeddings"), [1, c.num_positions(), d]).reshape([c.num_positions(), d]),
            ),
            patch_size: ps,
        };
        Self {
            embeddings,
            encoder: ClipEncoder::load(w, &format!("{p}.encoder"), &c.tower, &VIT_NAMES),
            layernorm: layer_norm(w, &format!("{p}.layernorm"), d, eps),
        }
    }

    /// pixels `[b, c, s, s]` (normalised) -> `last_hidden_state` `[b, 1 + g*g, d]` (layer-normed),
    /// `pooled` = its CLS row, and the attentions when asked for.
    pub fn forward(&self, pixels: Tensor<4>, keep_attentions: bool) -> VisionOutput {
        let out = self.encoder.forward(self.embeddings.forward(pixels), None, keep_attentions); // [b, l, d]
        let last = self.layernorm.forward(out.hidden); // [b, l, d]
        let [b, _, d] = last.dims();
        let pooled = last.clone().slice([0..b, 0..1, 0..d]).reshape([b, d]); // [b, d]
        VisionOutput { last_hidden_state: last, pooled, attentions: out.attentions }
    }
}
