//! The training-free cache model of Tip-Adapter (Zhang et al., "Tip-Adapter: Training-free
//! Adaption of CLIP for Few-shot Classification", ECCV 2022):
//!
//! ```text
//! logits(f) = scale * f T^T  +  alpha * exp(-beta * (1 - f K^T)) V
//! ```
//!
//! with `f` a normalised image embedding `[d]`, `T` the zero-shot classifier (the normalised
//! class text embeddings of the current templates, `[classes, d]`), `scale` CLIP's logit scale,
//! `K` the labelled images' normalised embeddings (the keys, `[n, d]`) and `V` their one-hot
//! labels (the values, `[n, classes]`). `alpha` weighs the cache against zero-shot, `beta` sets
//! how sharply an affinity decays; both are picked on the labelled images themselves by
//! leave-one-out (each image classified by the cache of the others), since a few-shot user has
//! no validation set. Host arithmetic in f64 on small matrices, the same on every target.

use serde::Serialize;

/// The `alpha` values searched. Tip-Adapter's own search spans 0.1 to 3 on ImageNet, where
/// zero-shot is strong; this reaches 100, where the cache outweighs zero-shot entirely (a
/// nearest-neighbour vote), for labels whose prompts CLIP reads poorly.
pub const ALPHAS: [f64; 11] = [0.1, 0.2, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 50.0, 100.0];
/// The `beta` values searched (Tip-Adapter: 0.1 to 7, its default 5.5; sharper here for
/// embeddings that lie close together).
pub const BETAS: [f64; 13] = [0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 10.0, 12.0, 15.0, 20.0];

/// A fitted cache model.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheModel {
    /// The zero-shot classifier `T`: one normalised text embedding per class `[classes][d]`.
    pub text: Vec<Vec<f32>>,
    /// CLIP's logit scale (`exp(logit_scale)`).
    pub scale: f32,
    /// The keys `K`: the labelled images' normalised embeddings `[n][d]`.
    pub keys: Vec<Vec<f32>>,
    /// The class of each key (the one-hot rows of `V`).
    pub labels: Vec<usize>,
    /// Weight of the cache against zero-shot.
    pub alpha: f64,
    /// Sharpness of the affinity.
    pub beta: f64,
}

/// How `alpha` and `beta` were chosen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Search {
    /// The chosen weight.
    pub alpha: f64,
    /// The chosen sharpness.
    pub beta: f64,
    /// Leave-one-out accuracy on the labelled images with them.
    pub loo_accuracy: f64,
    /// Leave-one-out mean negative log-likelihood (breaks ties in accuracy).
    pub loo_nll: f64,
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum()
}

/// Softmax in f64 (max-subtracted).
pub(super) fn softmax(logits: &[f64]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.iter().map(|x| x / sum).collect()
}

/// Index of the largest value (first on ties).
pub(super) fn argmax(v: &[f64]) -> usize {
    v.iter().enumerate().fold(0, |b, (j, &x)| if x > v[b] { j } else { b })
}

/// `scale * f T^T`.
fn zero_shot_logits(f: &[f32], text: &[Vec<f32>], scale: f32) -> Vec<f64> {
    text.iter().map(|t| f64::from(scale) * dot(f, t)).collect()
}

impl CacheModel {
    /// The number of classes.
    pub fn num_classes(&self) -> usize {
        self.text.len()
    }

    /// `exp(-beta (1 - f K^T)) V`, leaving key `skip` out (leave-one-out).
    fn cache_logits(&self, f: &[f32], beta: f64, skip: Option<usize>) -> Vec<f64> {
        let mut out = vec![0.0; self.num_classes()];
        for (j, (k, &c)) in self.keys.iter().zip(&self.labels).enumerate() {
            if Some(j) != skip {
                out[c] += (-beta * (1.0 - dot(f, k))).exp();
            }
        }
        out
    }

    fn logits_with(&self, f: &[f32], alpha: f64, beta: f64, skip: Option<usize>) -> Vec<f64> {
        let zs = zero_shot_logits(f, &self.text, self.scale);
        zs.iter().zip(self.cache_logits(f, beta, skip)).map(|(z, c)| z + alpha * c).collect()
    }

    /// The logits of image embedding `f` `[d]`.
    pub fn logits(&self, f: &[f32]) -> Vec<f64> {
        self.logits_with(f, self.alpha, self.beta, None)
    }

    /// Class probabilities of image embedding `f`.
    pub fn probabilities(&self, f: &[f32]) -> Vec<f32> {
        softmax(&self.logits(f)).into_iter().map(|p| p as f32).collect()
    }

    /// Leave-one-out accuracy and mean negative log-likelihood on the keys.
    fn leave_one_out(&self, alpha: f64, beta: f64) -> (f64, f64) {
        let mut right = 0usize;
        let mut nll = 0.0;
        for (i, (k, &c)) in self.keys.iter().zip(&self.labels).enumerate() {
            let p = softmax(&self.logits_with(k, alpha, beta, Some(i)));
            right += usize::from(argmax(&p) == c);
            nll -= p[c].ln();
        }
        let n = self.keys.len().max(1) as f64;
        (right as f64 / n, nll / n)
    }
}

/// Builds the cache from the labelled images (`keys`, their classes `labels`) and the zero-shot
/// classifier, choosing `alpha` and `beta` on [`ALPHAS`] x [`BETAS`] by the best leave-one-out
/// accuracy, ties broken by the lower leave-one-out negative log-likelihood, then by grid order
/// (alpha-major).
pub fn fit(text: Vec<Vec<f32>>, scale: f32, keys: Vec<Vec<f32>>, labels: Vec<usize>) -> (CacheModel, Search) {
    let mut model = CacheModel { text, scale, keys, labels, alpha: ALPHAS[0], beta: BETAS[0] };
    let mut best: Option<Search> = None;
    for &alpha in &ALPHAS {
        for &beta in &BETAS {
            let (acc, nll) = model.leave_one_out(alpha, beta);
            let better = best.is_none_or(|b| acc > b.loo_accuracy || (acc == b.loo_accuracy && nll < b.loo_nll));
            if better {
                best = Some(Search { alpha, beta, loo_accuracy: acc, loo_nll: nll });
            }
        }
    }
    let best = best.expect("non-empty grid");
    model.alpha = best.alpha;
    model.beta = best.beta;
    (model, best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_pulls_toward_the_nearest_labelled_image() {
        // Zero-shot says class 0 for everything; the cache knows better.
        let text = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
        let s = 0.5f32.sqrt();
        let keys = vec![vec![s, s], vec![s, -s], vec![0.6, 0.8], vec![0.6, -0.8]];
        let (m, search) = fit(text, 1.0, keys, vec![1, 0, 1, 0]);
        assert_eq!(search.loo_accuracy, 1.0);
        let p = m.probabilities(&[0.65, 0.76]);
        assert!(p[1] > p[0], "{p:?} with {search:?}");
        let f = |x: f32| f64::from(x);
        let aff = |k: [f32; 2]| f(0.65) * f(k[0]) + f(0.76) * f(k[1]);
        let by_hand = f(0.76) + m.alpha * ((-m.beta * (1.0 - aff([s, s]))).exp() + (-m.beta * (1.0 - aff([0.6, 0.8]))).exp());
        assert!((m.logits(&[0.65, 0.76])[1] - by_hand).abs() < 1e-9);
    }
}
