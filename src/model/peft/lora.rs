//! LoRA (Hu et al. 2021) on chosen linear layers, in HF peft's layout:
//! `{module}.lora_A.weight` `[r, in]`, `{module}.lora_B.weight` `[out, r]`,
//! y = base(x) + dropout(x) A^T B^T * scale, scale = alpha / r (alpha / sqrt(r) with rsLoRA).

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig};
use burn::tensor::{Distribution, Tensor};
use serde::{Deserialize, Serialize};

use crate::hf::Weights;
use crate::model::nn::Linear;

/// LoRA hyper-parameters (peft's `LoraConfig` fields of the same names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoraConfig {
    /// Rank of the update.
    pub r: usize,
    /// Scale numerator: the update is multiplied by alpha / r.
    pub lora_alpha: f64,
    /// Dropout on the LoRA branch's input during training.
    #[serde(default)]
    pub lora_dropout: f64,
    /// Module-name suffixes that get LoRA (`c_attn` matches `attn.c_attn` and `crossattention.c_attn`).
    pub target_modules: Vec<String>,
    /// rsLoRA: scale = alpha / sqrt(r).
    #[serde(default)]
    pub use_rslora: bool,
}

impl Default for LoraConfig {
    fn default() -> Self {
        Self { r: 8, lora_alpha: 16.0, lora_dropout: 0.05, target_modules: vec!["c_attn".into(), "q_attn".into()], use_rslora: false }
    }
}

impl LoraConfig {
    /// The factor applied to the update.
    pub fn scale(&self) -> f64 {
        if self.use_rslora { self.lora_alpha / (self.r as f64).sqrt() } else { self.lora_alpha / self.r as f64 }
    }

    /// Whether the module at `path` (e.g. `h.0.crossattention.c_attn`) is a target.
    pub fn targets(&self, path: &str) -> bool {
        self.target_modules.iter().any(|t| path == t || path.ends_with(&format!(".{t}")))
    }
}

/// The low-rank update of one linear layer.
#[derive(Module, Debug)]
pub struct Lora {
    /// `lora_A.weight` `[r, in]`.
    pub lora_a: Param<Tensor<2>>,
    /// `lora_B.weight` `[out, r]`.
    pub lora_b: Param<Tensor<2>>,
    pub dropout: Dropout,
    pub scale: f64,
}

/// A linear layer with an optional LoRA update.
#[derive(Module, Debug)]
pub struct LoraLinear {
    pub base: Linear,
    pub lora: Option<Lora>,
}

impl LoraLinear {
    /// Wraps `base` ([in, out]); when `cfg` targets `path`, reads `{path}.lora_A.weight` /
    /// `lora_B.weight` from `w`, or initialises them as peft does (A random, B zero) when
    /// `fresh` (training from scratch).
    pub fn new(base: Linear, w: &mut Weights, path: &str, cfg: Option<&LoraConfig>, fresh: bool) -> Self {
        let Some(cfg) = cfg.filter(|c| c.targets(path)) else {
            return Self { base, lora: None };
        };
        let [d_in, d_out] = base.dims();
        let (ka, kb) = (format!("{path}.lora_A.weight"), format!("{path}.lora_B.weight"));
        let (a, b) = if fresh && !w.contains(&ka) {
            let bound = (1.0 / d_in as f64).sqrt();
            (Tensor::random([cfg.r, d_in], Distribution::Uniform(-bound, bound), w.device()), Tensor::zeros([d_out, cfg.r], w.device()))
        } else {
            (w.take(&ka, [cfg.r, d_in]), w.take(&kb, [d_out, cfg.r]))
        };
        let lora = Lora {
            lora_a: Param::from_tensor(a),
            lora_b: Param::from_tensor(b),
            dropout: DropoutConfig::new(cfg.lora_dropout).init(),
            scale: cfg.scale(),
        };
        Self { base, lora: Some(lora) }
    }

    /// `[.., in]` -> `[.., out]`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let y = self.base.forward(x.clone());
        match &self.lora {
            None => y,
            Some(l) => {
                let a = l.lora_a.val().transpose(); // [in, r]
                let b = l.lora_b.val().transpose(); // [r, out]
                let dx = burn::tensor::module::linear(l.dropout.forward(x), a, None); // [.., r]
                y + burn::tensor::module::linear(dx, b, None) * l.scale // [.., out]
            }
        }
    }

    /// Folds the update into the base weight (W += A^T B^T * scale): same outputs, no overhead.
    pub fn merge(self) -> Self {
        match self.lora {
            None => self,
            Some(l) => {
                let delta = l.lora_a.val().transpose().matmul(l.lora_b.val().transpose()) * l.scale; // [in, out]
                Self { base: self.base.plus(delta), lora: None }
            }
        }
    }
}
