//! Prefix tuning (Li & Liang 2021) as HF peft does it for GPT-2: N virtual key/value tokens per
//! layer, prepended to every self-attention. Trained through an optional MLP
//! (`prefix_projection`: embedding -> Linear -> tanh -> Linear), which `fold` evaluates once
//! so that inference carries only the resulting keys/values.
//!
//! Keys (peft's `prompt_encoder` names without the adapter name): `prefix.embedding.weight`
//! (`[N, n_layer * 2 * n_embd]`, or `[N, n_embd]` with the projection),
//! `prefix.transform.0.{weight,bias}`, `prefix.transform.2.{weight,bias}` (torch Linear layout).

use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::activation::tanh;
use serde::{Deserialize, Serialize};

use crate::hf::Weights;
use crate::model::nn::{Layout, Linear, linear};

/// Prefix-tuning hyper-parameters (peft's `PrefixTuningConfig` names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrefixConfig {
    /// Virtual tokens per layer (20 in the seed report).
    #[serde(default = "twenty")]
    pub num_virtual_tokens: usize,
    /// Train through the MLP reparametrisation.
    #[serde(default)]
    pub prefix_projection: bool,
    /// Hidden width of that MLP (`encoder_hidden_size`); `None` = n_embd.
    #[serde(default)]
    pub encoder_hidden_size: Option<usize>,
}

fn twenty() -> usize {
    20
}

impl Default for PrefixConfig {
    fn default() -> Self {
        Self { num_virtual_tokens: 20, prefix_projection: true, encoder_hidden_size: None }
    }
}

/// The reparametrisation MLP (`transform.0`, tanh, `transform.2`).
#[derive(Module, Debug)]
pub struct PrefixMlp {
    pub l0: Linear,
    pub l2: Linear,
}

/// `prefix`: the virtual tokens.
#[derive(Module, Debug)]
pub struct Prefix {
    /// `[N, n_layer * 2 * n_embd]` (folded), or `[N, n_embd]` fed to `transform`.
    pub embedding: Param<Tensor<2>>,
    pub transform: Option<PrefixMlp>,
    pub n_layer: usize,
    pub n_head: usize,
}

impl Prefix {
    /// Loads `prefix.*`, or initialises it when `fresh`.
    pub fn load(w: &mut Weights, c: &PrefixConfig, n_layer: usize, n_embd: usize, n_head: usize, fresh: bool) -> Self {
        let nv = c.num_virtual_tokens;
        let out = n_layer * 2 * n_embd;
        let folded = w.shape("prefix.embedding.weight").is_some_and(|s| s.last() == Some(&out));
        let project = c.prefix_projection && !folded;
        let width = if project { n_embd } else { out };
        let mut r = Weights::random(w.device(), 0.02);
        let src = if fresh && !w.contains("prefix.embedding.weight") { &mut r } else { w };
        let embedding = Param::from_tensor(src.take("prefix.embedding.weight", [nv, width]));
        let transform = project.then(|| {
            let hidden = c.encoder_hidden_size.unwrap_or(n_embd);
            PrefixMlp {
                l0: linear(src, "prefix.transform.0", n_embd, hidden, true, Layout::OutIn),
                l2: linear(src, "prefix.transform.2", hidden, out, true, Layout::OutIn),
            }
        });
        Self { embedding, transform, n_layer, n_head }
    }

    /// All layers' keys and values: `[N, n_layer * 2 * n_embd]`.
    pub fn values(&self) -> Tensor<2> {
        let e = self.embedding.val();
        match &self.transform {
            Some(m) => m.l2.forward(tanh(m.l0.forward(e))),
            None => e,
        }
    }

    /// Evaluates the MLP once and keeps only its output (same outputs, no MLP at inference).
    pub fn fold(self) -> Self {
        let v = self.values();
        Self { embedding: Param::from_tensor(v), transform: None, ..self }
    }

    /// Keys and values of every layer for a batch of `b`: `[b, heads, N, dh]` each (the MLP,
    /// when there is one, runs once for all layers).
    pub fn layer_kvs(&self, b: usize) -> Vec<(Tensor<4>, Tensor<4>)> {
        let v = self.values(); // [N, L*2*n]
        let [nv, total] = v.dims();
        let n = total / (self.n_layer * 2);
        let dh = n / self.n_head;
        let v = v.reshape([nv, self.n_layer * 2, self.n_head, dh]); // [N, 2L, h, dh]
        let pick = |j: usize| {
            v.clone()
                .slice([0..nv, j..j + 1, 0..self.n_head, 0..dh])
                .reshape([nv, self.n_head, dh])
                .swap_dims(0, 1) // [h, N, dh]
                .unsqueeze_dim::<4>(0)
                .expand([b, self.n_head, nv, dh]) // [b, h, N, dh]
        };
        (0..self.n_layer).map(|i| (pick(2 * i), pick(2 * i + 1))).collect()
    }
}
