//! A linear classifier on image embeddings, `softmax(W f + b)`: what the linear probe
//! ([`super::probe`], native) fits, and what a saved probe head holds on every target.

use super::cache::softmax;

/// A fitted linear classifier `softmax(W f + b)`.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearProbe {
    /// `W`: one row per class `[classes][d]`.
    pub weight: Vec<Vec<f32>>,
    /// `b` `[classes]`.
    pub bias: Vec<f32>,
    /// The inverse regularisation strength it was fitted with.
    pub c: f64,
}

impl LinearProbe {
    /// The zero-shot classifier as a linear one: `W = scale * T`, `b = 0`.
    pub fn zero_shot(text: &[Vec<f32>], scale: f32) -> Self {
        Self { weight: text.iter().map(|t| t.iter().map(|x| scale * x).collect()).collect(), bias: vec![0.0; text.len()], c: f64::INFINITY }
    }

    /// `W f + b`.
    pub fn logits(&self, f: &[f32]) -> Vec<f64> {
        self.weight
            .iter()
            .zip(&self.bias)
            .map(|(w, b)| w.iter().zip(f).map(|(w, x)| f64::from(*w) * f64::from(*x)).sum::<f64>() + f64::from(*b))
            .collect()
    }

    /// Class probabilities of image embedding `f`.
    pub fn probabilities(&self, f: &[f32]) -> Vec<f32> {
        softmax(&self.logits(f)).into_iter().map(|p| p as f32).collect()
    }

    pub(super) fn flat(&self) -> Vec<f64> {
        self.weight.iter().flatten().chain(&self.bias).map(|&x| f64::from(x)).collect()
    }

    pub(super) fn from_flat(theta: &[f64], classes: usize, dim: usize, c: f64) -> Self {
        let weight = (0..classes).map(|k| theta[k * dim..(k + 1) * dim].iter().map(|&x| x as f32).collect()).collect();
        let bias = theta[classes * dim..].iter().map(|&x| x as f32).collect();
        Self { weight, bias, c }
    }
}
