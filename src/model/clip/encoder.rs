//! The pre-LayerNorm transformer encoder both CLIP towers share
//! (`{text,vision}_model.encoder.layers.{i}.*`).

use burn::module::Module;
use burn::nn::{LayerNorm, Linear};
use burn::tensor::Tensor;

use crate::hf::{Activation, TowerConfig, Weights};
use crate::model::attention::{attend, merge_heads, split_heads};
use crate::model::nn::{Layout, activate, layer_norm, linear};

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
    fn load(w: &mut Weights, p: &str, c: &TowerConfig) -> Self {
        let d = c.hidden_size;
        let lin = |w: &mut Weights, name: &str| linear(w, &format!("{p}.{name}"), d, d, true, Layout::OutIn);
        Self {
            q_proj: lin(w, "q_proj"),
            k_proj: lin(w, "k_proj"),
            v_proj: lin(w, "v_proj"),
            out_proj: lin(w, "out_proj"),
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
    fn load(w: &mut Weights, p: &str, c: &TowerConfig) -> Self {
        Self {
            fc1: linear(w, &format!("{p}.fc1"), c.hidden_size, c.intermediate_size, true, Layout::OutIn),
            fc2: linear(w, &format!("{p}.fc2"), c.intermediate_size, c.hidden_size, true, Layout::OutIn),
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
    fn load(w: &mut Weights, p: &str, c: &TowerConfig) -> Self {
        let (d, eps) = (c.hidden_size, c.layer_norm_eps);
        Self {
            layer_norm1: layer_norm(w, &format!("{p}.layer_norm1"), d, eps),
            self_attn: ClipAttention::load(w, &format!("{p}.self_attn"), c),
            layer_norm2: layer_norm(w, &format!("{p}.layer_norm2"), d, eps),
            mlp: ClipMlp::load(w, &format!("{p}.mlp"), c),
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
    /// Loads `{p}.layers.{i}` for every layer of `c`.
    pub fn load(w: &mut Weights, p: &str, c: &TowerConfig) -> Self {
        Self { layers: (0..c.num_hidden_layers).map(|i| ClipEncoderLayer::load(w, &format!("{p}.layers.{i}"), c)).collect() }
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
