//! The pre-LayerNorm transformer encoder both CLIP towers share
//! (`{text,vision}_model.encoder.layers.{i}.*`), and HF's ViT too: the computation is the same
//! (x + attn(ln(x)), then + mlp(ln(x))), only the checkpoint names differ ([`LayerNames`]).
//! These towers are always frozen (glimpse trains only the captioner's decoder side), so their
//! linear layers are packed for the CPU at load ([`packed_linear`]).

use burn::module::Module;
use burn::nn::LayerNorm;
use burn::tensor::Tensor;

use crate::hf::{Activation, TowerConfig, Weights};
use crate::model::activation::activate;
use crate::model::attention::{attend, merge_heads, split_heads};
use crate::model::nn::{Layout, Linear, layer_norm, packed_linear};

/// Where a layer's tensors sit in a checkpoint. The structs below carry CLIP's names; other
/// models with the same layer map their keys onto them.
#[derive(Debug, Clone, Copy)]
pub struct LayerNames {
    /// The list of layers under the encoder (`layers` in CLIP, `layer` in ViT).
    pub layers: &'static str,
    pub layer_norm1: &'static str,
    pub q_proj: &'static str,
    pub k_proj: &'static str,
    pub v_proj: &'static str,
    pub out_proj: &'static str,
    pub layer_norm2: &'static str,
    pub fc1: &'static str,
    pub fc2: &'static str,
}

/// CLIP's keys (`layers.{i}.self_attn.q_proj`, ...).
pub const CLIP_NAMES: LayerNames = LayerNames {
    layers: "layers",
    layer_norm1: "layer_norm1",
    q_proj: "self_attn.q_proj",
    k_proj: "self_attn.k_proj",
    v_proj: "self_attn.v_proj",
    out_proj: "self_attn.out_proj",
    layer_norm2: "layer_norm2",
    fc1: "mlp.fc1",
    fc2: "mlp.fc2",
};

/// HF ViT's keys (`layer.{i}.attention.attention.query`, ...).
pub const VIT_NAMES: LayerNames = LayerNames {
    layers: "layer",
    layer_norm1: "layernorm_before",
    q_proj: "attention.attention.query",
    k_proj: "attention.attention.key",
    v_proj: "attention.attention.value",
    out_proj: "attention.output.dense",
    layer_norm2: "layernorm_after",
    fc1: "intermediate.dense",
    fc2: "output.dense",
};

/// `self_attn`: multi-head self-attention with separate q/k/v projections.
#[derive(Module, Debug)]
pub struct ClipAttention {
    pub q_proj: Linear,
    pub k_proj: Linear,
    pub v_proj: Linear,
    pub out_proj: Linear,
    pub num_heads: usize,
}

impl ClipAttention {
    fn load(w: &mut Weights, p: &str, c: &TowerConfig, n: &LayerNames) -> Self {
        let d = c.hidden_size;
        let lin = |w: &mut Weights, name: &str| packed_linear(w, &format!("{p}.{name}"), d, d, true, Layout::OutIn);
        Self {
            q_proj: lin(w, n.q_proj),
            k_proj: lin(w, n.k_proj),
            v_proj: lin(w, n.v_proj),
            out_proj: lin(w, n.out_proj),
            num_heads: c.num_attention_heads,
        }
    }

    /// x: `[b, l, d]`, mask broadcastable to `[b, h, l, l]`. Returns `[b, l, d]` and the weights.
    pub fn forward(&self, x: Tensor<3>, mask: Option<Tensor<4>>, keep: bool) -> (Tensor<3>, Option<Tensor<4>>) {
        let h = self.num_heads;
        let [_, _, d] = x.dims();
        let q = split_heads(self.q_proj.forward(x.clone()), h); // [b, h, l, dh]
        let k = split_heads(self.k_proj.forward(x.clone()), h); // [b, h, l, dh]
        let v = split_heads(self.v_proj.forward(x), h); // [b, h, l, dh]
        let scale = ((d / h) as f64).powf(-0.5);
        let (ctx, weights) = attend(q, k, v, mask, scale, keep); // [b, h, l, dh]
        (self.out_proj.forward(merge_heads(ctx)), weights) // [b, l, d]
    }
}

/// `mlp`: fc1 -> activation -> fc2.
#[derive(Module, Debug)]
pub struct ClipMlp {
    pub fc1: Linear,
    pub fc2: Linear,
    #[module(skip)]
    pub act: Activation,
}

impl ClipMlp {
    fn load(w: &mut Weights, p: &str, c: &TowerConfig, n: &LayerNames) -> Self {
        Self {
            fc1: packed_linear(w, &format!("{p}.{}", n.fc1), c.hidden_size, c.intermediate_size, true, Layout::OutIn),
            fc2: packed_linear(w, &format!("{p}.{}", n.fc2), c.intermediate_size, c.hidden_size, true, Layout::OutIn),
            act: c.hidden_act,
        }
    }

    /// `[b, l, d]` -> `[b, l, d]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.fc2.forward(activate(self.act, self.fc1.forward(x))) // [b, l, d]
    }
}

/// `layers.{i}`: x + attn(ln1(x)), then + mlp(ln2(x)).
#[derive(Module, Debug)]
pub struct ClipEncoderLayer {
    pub layer_norm1: LayerNorm,
    pub self_attn: ClipAttention,
    pub layer_norm2: LayerNorm,
    pub mlp: ClipMlp,
}

impl ClipEncoderLayer {
    fn load(w: &mut Weights, p: &str, c: &TowerConfig, n: &LayerNames) -> Self {
        let (d, eps) = (c.hidden_size, c.layer_norm_eps);
        Self {
            layer_norm1: layer_norm(w, &format!("{p}.{}", n.layer_norm1), d, eps),
            self_attn: ClipAttention::load(w, p, c, n),
            layer_norm2: layer_norm(w, &format!("{p}.{}", n.layer_norm2), d, eps),
            mlp: ClipMlp::load(w, p, c, n),
        }
    }

    /// `[b, l, d]` -> `[b, l, d]` (and this layer's attention weights `[b, h, l, l]`).
    pub fn forward(&self, x: Tensor<3>, mask: Option<Tensor<4>>, keep: bool) -> (Tensor<3>, Option<Tensor<4>>) {
        let (a, weights) = self.self_attn.forward(self.layer_norm1.forward(x.clone()), mask, keep);
        let x = x + a; // [b, l, d]
        let x = x.clone() + self.mlp.forward(self.layer_norm2.forward(x)); // [b, l, d]
        (x, weights)
    }
}

/// `encoder`: the stack of layers.
#[derive(Module, Debug)]
pub struct ClipEncoder {
    pub layers: Vec<ClipEncoderLayer>,
}

/// What an encoder pass returns.
pub struct EncoderOutput {
    /// Final hidden states `[b, l, d]` (no final norm applied).
    pub hidden: Tensor<3>,
    /// Per layer `[b, h, l, l]`, when asked for.
    pub attentions: Vec<Tensor<4>>,
}

impl ClipEncoder {
    /// Loads `{p}.layers.{i}` (or the names of `n`) for every layer of `c`.
    pub fn load(w: &mut Weights, p: &str, c: &TowerConfig, n: &LayerNames) -> Self {
        let layers = (0..c.num_hidden_layers).map(|i| ClipEncoderLayer::load(w, &format!("{p}.{}.{i}", n.layers), c, n)).collect();
        Self { layers }
    }

    /// Runs every layer on `x` `[b, l, d]`.
    pub fn forward(&self, mut x: Tensor<3>, mask: Option<Tensor<4>>, keep: bool) -> EncoderOutput {
        let mut attentions = Vec::new();
        for layer in &self.layers {
            let (y, a) = layer.forward(x, mask.clone(), keep);
            x = y;
            attentions.extend(a);
        }
        EncoderOutput { hidden: x, attentions }
    }
}
