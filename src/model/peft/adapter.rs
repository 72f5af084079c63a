//! Bottleneck adapters (Houlsby et al. 2019): x + up(act(down(x))), `up` starting at zero so a
//! fresh adapter is the identity.
//!
//! The default reproduces the seed report's: bottleneck n_embd/2 - 30 (354 for GPT-2 small),
//! tanh-GELU, applied twice with dropout 0.1 between, inside the MLP (on its output, before the
//! residual), in every block after the cross-attention. `Houlsby` placement adds one after the
//! self-attention output too. Weights are stored `[in, out]` like GPT-2's Conv1D, under
//! `h.{i}.mlp.adapter.layers.{j}.{down,up}.{weight,bias}` (and `h.{i}.attn.adapter...`).

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::hf::{Activation, Weights};
use crate::model::activation::activate;
use crate::model::nn::{Layout, Linear, linear};

/// Where adapters go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    /// On the MLP's output (the seed report's).
    #[default]
    Mlp,
    /// After the self-attention output and on the MLP's output (Houlsby et al.).
    Houlsby,
}

/// Adapter hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdapterConfig {
    /// Bottleneck width; `None` = n_embd / 2 - 30 (the seed report's 354 for GPT-2 small).
    #[serde(default)]
    pub size: Option<usize>,
    /// Bottlenecks applied one after the other (2 in the seed report).
    #[serde(default = "two")]
    pub repeats: usize,
    /// Dropout between repeats during training.
    #[serde(default = "point_one")]
    pub dropout: f64,
    /// Placement.
    #[serde(default)]
    pub placement: Placement,
}

fn two() -> usize {
    2
}
fn point_one() -> f64 {
    0.1
}

impl Default for AdapterConfig {
    fn default() -> Self {
        Self { size: None, repeats: 2, dropout: 0.1, placement: Placement::Mlp }
    }
}

impl AdapterConfig {
    /// The bottleneck width for a decoder of width `n_embd`.
    pub fn width(&self, n_embd: usize) -> usize {
        self.size.unwrap_or((n_embd / 2).saturating_sub(30).max(1))
    }
}

/// `layers.{j}`: one bottleneck.
#[derive(Module, Debug)]
pub struct Bottleneck {
    pub down: Linear,
    pub up: Linear,
}

/// A stack of bottlenecks with dropout between them.
#[derive(Module, Debug)]
pub struct Adapter {
    pub layers: Vec<Bottleneck>,
    pub dropout: Dropout,
}

impl Adapter {
    /// Loads `{p}.layers.{j}.*`, or initialises them (down random, up zero) when `fresh`.
    pub fn load(w: &mut Weights, p: &str, n: usize, c: &AdapterConfig, fresh: bool) -> Self {
        let m = c.width(n);
        let layers = (0..c.repeats)
            .map(|j| {
                let q = format!("{p}.layers.{j}");
                if fresh && !w.contains(&format!("{q}.down.weight")) {
                    let mut r = Weights::random(w.device(), 0.02);
                    let down = linear(&mut r, &format!("{q}.down"), n, m, true, Layout::InOut);
                    let mut up = linear(&mut r, &format!("{q}.up"), m, n, true, Layout::InOut);
                    // Param::from_tensor keeps the fresh tensors trainable (a mapped zeros_like would not be).
                    up.weight = Param::from_tensor(up.weight.val().zeros_like());
                    up.bias = up.bias.map(|b| Param::from_tensor(b.val().zeros_like()));
                    Bottleneck { down, up }
                } else {
                    Bottleneck {
                        down: linear(w, &format!("{q}.down"), n, m, true, Layout::InOut),
                        up: linear(w, &format!("{q}.up"), m, n, true, Layout::InOut),
                    }
                }
            })
            .collect();
        Self { layers, dropout: DropoutConfig::new(c.dropout).init() }
    }

    /// `[b, t, n]` -> `[b, t, n]`.
    pub fn forward(&self, mut x: Tensor<3>) -> Tensor<3> {
        for (j, l) in self.layers.iter().enumerate() {
            if j > 0 {
                x = self.dropout.forward(x);
            }
            x = x.clone() + l.up.forward(activate(Activation::GeluNew, l.down.forward(x))); // [b, t, n]
        }
        x
    }
}
