//! Scaled dot-product attention with the weights kept on request (for attention maps), shared
//! by every transformer in the crate.

use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor, TensorData};

/// Value added to masked scores: large enough that softmax gives exactly 0, finite so that no
/// NaN can appear.
pub const MASKED: f32 = -1.0e30;

/// `[batch, len, heads * head_dim]` -> `[batch, heads, len, head_dim]`.
pub fn split_heads(x: Tensor<3>, heads: usize) -> Tensor<4> {
    let [b, l, d] = x.dims();
    x.reshape([b, l, heads, d / heads]).swap_dims(1, 2)
}

/// `[batch, heads, len, head_dim]` -> `[batch, len, heads * head_dim]`.
pub fn merge_heads(x: Tensor<4>) -> Tensor<3> {
    let [b, h, l, dh] = x.dims();
    x.swap_dims(1, 2).reshape([b, l, h * dh])
}

/// Additive causal mask `[1, 1, len, len]`: 0 on and below the diagonal, [`MASKED`] above.
pub fn causal_mask(len: usize, device: &Device) -> Tensor<4> {
    let data: Vec<f32> = (0..len * len).map(|i| if i % len > i / len { MASKED } else { 0.0 }).collect();
    Tensor::<2>::from_data(TensorData::new(data, [len, len]), device).reshape([1, 1, len, len])
}

/// `softmax(q k^T * scale + mask) v` per head.
///
/// q: `[b, h, lq, dh]`, k and v: `[b, h, lk, dh]`, mask broadcastable to `[b, h, lq, lk]`.
/// Returns the context `[b, h, lq, dh]` and, when `keep_weights`, the probabilities
/// `[b, h, lq, lk]`.
pub fn attend(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    mask: Option<Tensor<4>>,
    scale: f64,
    keep_weights: bool,
) -> (Tensor<4>, Option<Tensor<4>>) {
    let scores = q.matmul(k.swap_dims(2, 3)); // [b, h, lq, lk]
    let probs = match mask {
        Some(m) => softmax_last(scores * scale + m, 1.0), // [b, h, lq, lk]
        None => softmax_last(scores, scale as f32),       // [b, h, lq, lk]
    };
    let context = probs.clone().matmul(v); // [b, h, lq, dh]
    (context, keep_weights.then_some(probs))
}

/// `softmax(x * scale)` over the last dimension: on the CPU backend the row kernel below over the
/// pool (burn's CPU softmax is fused and row-parallel but calls libm's `expf` per element, and
/// a separate pass scales), elsewhere burn's ops (wgpu, and autodiff while training).
fn softmax_last<const D: usize>(x: Tensor<D>, scale: f32) -> Tensor<D> {
    let row = x.dims()[D - 1];
    match crate::pool::map_in_place(x, row, |v| softmax_rows(v, row, scale)) {
        Ok(p) => p,
        Err(x) if scale == 1.0 => softmax(x, D - 1),
        Err(x) => softmax(x * scale, D - 1),
    }
}

/// `softmax(r * scale)` in place for each row `r` of `row` elements of `v` (`scale` > 0).
pub fn softmax_rows(v: &mut [f32], row: usize, scale: f32) {
    crate::model::activation::with_avx2(|| v.chunks_exact_mut(row).for_each(|r| softmax_row(r, scale)));
}

/// One row: max, then e^((x - max) scale) and their sum, then a multiply by its inverse. Eight
/// running lanes for the max and the sum, so the loops vectorise (the sum's order differs from a
/// sequential one by rounding only).
#[inline(always)]
fn softmax_row(r: &mut [f32], scale: f32) {
    const L: usize = 8;
    let mut m = [f32::NEG_INFINITY; L];
    let mut chunks = r.chunks_exact(L);
    for c in &mut chunks {
        for i in 0..L {
            m[i] = m[i].max(c[i]);
        }
    }
    let max = chunks.remainder().iter().fold(m.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)), |a, &b| a.max(b));
    let mut s = [0.0f32; L];
    let mut chunks = r.chunks_exact_mut(L);
    for c in &mut chunks {
        for i in 0..L {
            c[i] = crate::model::activation::exp_f32((c[i] - max) * scale);
            s[i] += c[i];
        }
    }
    let mut sum = s.iter().sum::<f32>();
    for e in chunks.into_remainder() {
        *e = crate::model::activation::exp_f32((*e - max) * scale);
        sum += *e;
    }
    let inv = 1.0 / sum;
    r.iter_mut().for_each(|e| *e *= inv);
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Distribution, Tensor};

    /// The row kernel against f64 and against burn's softmax, with and without the scale, on
    /// rows of every length from 1 to 40 and 257, values up to +-60, and rows with masked
    /// entries (the causal mask's -1e30).
    #[test]
    fn softmax_matches_f64_and_burns() {
        let mut state = 7u64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 120.0
        };
        for len in (1..=40).chain([257]) {
            for scale in [1.0f32, 0.125] {
                for masked in [false, true] {
                    let x: Vec<f32> = (0..len).map(|i| if masked && i % 3 == 1 { super::MASKED } else { next() }).collect();
                    let mut y = x.clone();
                    super::softmax_rows(&mut y, len, scale);
                    let max = x.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b as f64 * scale as f64));
                    let sum: f64 = x.iter().map(|&v| (v as f64 * scale as f64 - max).exp()).sum();
                    for (&v, &p) in x.iter().zip(&y) {
                        let exact = (v as f64 * scale as f64 - max).exp() / sum;
                        assert!((p as f64 - exact).abs() <= 1e-6 * exact + 1e-12, "len {len}, scale {scale}: {p} vs {exact}");
                    }
                }
            }
        }
        let device = Device::flex();
        let x = Tensor::<4>::random([1, 3, 70, 257], Distribution::Normal(0.0, 8.0), &device); // [1, 3, 70, 257]
        let ours = super::softmax_last(x.clone(), 0.125);
        let burns = burn::tensor::activation::softmax(x * 0.125, 3);
        let diff: f32 = (ours - burns).abs().max().into_scalar();
        assert!(diff < 1e-6, "{diff}");
    }
}
