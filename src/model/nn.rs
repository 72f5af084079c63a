//! Leaf layers built from checkpoint tensors: Linear (in both HF layouts), LayerNorm, and the
//! MLP activations. Burn's own `Linear` / `LayerNorm` are used; only their loading lives here.

use burn::module::Param;
use burn::nn::{LayerNorm, LayerNormConfig, Linear};
use burn::tensor::Tensor;
use burn::tensor::activation::{gelu, gelu_approximate, sigmoid};

use crate::hf::{Activation, Weights};

/// How a checkpoint stores a linear layer's weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `torch.nn.Linear`: `[out, in]` (CLIP, ViT). Transposed on load.
    OutIn,
    /// GPT-2's `Conv1D`: `[in, out]`, as burn stores it.
    InOut,
}

/// Loads `{prefix}.weight` (and `{prefix}.bias` when `bias`) as a burn `Linear` ([in, out]).
pub fn linear(w: &mut Weights, prefix: &str, d_in: usize, d_out: usize, bias: bool, layout: Layout) -> Linear {
    let key = format!("{prefix}.weight");
    let weight = match layout {
        Layout::OutIn => row_major(w.take(&key, [d_out, d_in]).transpose()), // [in, out]
        Layout::InOut => w.take(&key, [d_in, d_out]),
    };
    let bias = bias.then(|| Param::from_tensor(w.take(&format!("{prefix}.bias"), [d_out])));
    Linear { weight: Param::from_tensor(weight), bias }
}

/// `t` laid out row-major in a buffer of its own (one copy, at load). A transposed view is
/// copied by burn's `linear` on every call on the CPU backend: for a ViT-B/16 encoder that was
/// 35% of its time.
pub fn row_major(t: Tensor<2>) -> Tensor<2> {
    let [r, c] = t.dims();
    t.reshape([r * c]).reshape([r, c]) // a transposed matrix flattened cannot stay a view
}

/// Loads `{prefix}.weight` / `{prefix}.bias` as a LayerNorm over `d` features.
pub fn layer_norm(w: &mut Weights, prefix: &str, d: usize, eps: f64) -> LayerNorm {
    let mut ln = LayerNormConfig::new(d).with_epsilon(eps).init(w.device());
    ln.gamma = Param::from_tensor(w.take(&format!("{prefix}.weight"), [d]));
    ln.beta = Some(Param::from_tensor(w.take(&format!("{prefix}.bias"), [d])));
    ln
}

/// Applies an MLP activation.
pub fn activate<const D: usize>(act: Activation, x: Tensor<D>) -> Tensor<D> {
    match act {
        Activation::QuickGelu => x.clone() * sigmoid(x * 1.702),
        Activation::Gelu => gelu(x),
        Activation::GeluNew => gelu_approximate(x),
    }
}
