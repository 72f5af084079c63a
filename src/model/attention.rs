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
    let mut scores = q.matmul(k.swap_dims(2, 3)) * scale; // [b, h, lq, lk]
    if let Some(m) = mask {
        scores = scores + m;
    }
    let probs = softmax(scores, 3); // [b, h, lq, lk]
    let context = probs.clone().matmul(v); // [b, h, lq, dh]
    (context, keep_weights.then_some(probs))
}
