//! The page's CPU product with a weight kept as `[out, in]` rows, `y = x Wᵀ`: GPT-2's LM head,
//! tied to the token embedding `wte` `[vocab, n]`, which the decoder also reads row by row for
//! its input, so it stays in that layout (a second, packed copy would be 154 MB more for GPT-2
//! small).
//!
//! Why not burn's matmul with a transposed view (gemm): on the one row of a greedy decoder step,
//! gemm runs its m = 1 path on one thread; a V8 profile of a 20-token caption (ViT-base/16 +
//! GPT-2 small, single build) put 14 ms of each step's 54 there, where the layers in panels
//! split between the pool's threads. Here each block of 4 weight rows gives 4 outputs of every
//! row of `x` (four dot products of 4 lanes, the block read once from memory and kept in cache
//! across the rows of `x`), and the blocks split between threads.
//!
//! Each dot product sums lane `l` over `k = l, l + 4, ...` in order (multiply then add), then the
//! lanes as `((l0 + l1) + l2) + l3`, then the last `in % 4` products in order: the same bits in
//! the wasm build and natively (tests).

use super::lanes::F4;

/// Weight rows (outputs) per block.
const BLOCK: usize = 4;
/// Multiply-adds below which a product stays on one thread.
const MIN_PARALLEL: usize = 1 << 18;

/// `x` `[rows, in]` times `w` `[out, in]` transposed: `[rows, out]`, over rayon's pool when
/// `parallel` and the product is large enough (blocks of 4 outputs split between threads).
pub fn product_t(x: &[f32], d_in: usize, w: &[f32], parallel: bool) -> Vec<f32> {
    assert!(d_in > 0 && x.len() % d_in == 0 && w.len() % d_in == 0, "x {} or w {} are not [_, {d_in}]", x.len(), w.len());
    let rows = x.len() / d_in;
    let d_out = w.len() / d_in;
    let blocks = d_out.div_ceil(BLOCK);
    let parallel = parallel && rows * d_in * d_out >= MIN_PARALLEL;
    let min = MIN_PARALLEL.div_ceil((rows * d_in * BLOCK).max(1));
    let block = |i: usize, y: crate::pool::Out| {
        let (o, n) = (i * BLOCK, BLOCK.min(d_out - i * BLOCK));
        let w = &w[o * d_in..(o + n) * d_in];
        for r in 0..rows {
            let x = &x[r * d_in..(r + 1) * d_in];
            // SAFETY: outputs o..o+n of row r are within `[rows, d_out]`.
            let y = unsafe { y.at(r * d_out + o) };
            // SAFETY: as above, `n` outputs at `y`; `w` holds `n` rows of `d_in`.
            unsafe {
                match n {
                    4 => dots::<4>(x, w, y),
                    3 => dots::<3>(x, w, y),
                    2 => dots::<2>(x, w, y),
                    _ => dots::<1>(x, w, y),
                }
            }
        }
    };
    // SAFETY: block i writes outputs 4i..4i+4 (fewer in the last) of every row: disjoint, and
    // together all of them.
    unsafe { crate::pool::write_columns(rows * d_out, blocks, min, parallel, block) }
}

/// `y[j] = x · w[j]` for the `N` rows of `w` (each `x.len()` long).
///
/// # Safety
/// `y` is valid for `N` writes; `w` holds `N * x.len()` floats.
#[inline(always)]
unsafe fn dots<const N: usize>(x: &[f32], w: &[f32], y: *mut f32) {
    let d = x.len();
    debug_assert!(w.len() == N * d);
    let (xp, wp) = (x.as_ptr(), w.as_ptr());
    let mut acc = [F4::zero(); N];
    let whole = d - d % 4;
    let mut k = 0;
    while k < whole {
        // SAFETY: k + 4 <= d, so x[k..k+4] and each w row's [k..k+4] are in bounds.
        unsafe {
            let a = F4::load_ptr(xp.add(k));
            for (j, acc) in acc.iter_mut().enumerate() {
                *acc = acc.add_mul(a, F4::load_ptr(wp.add(j * d + k)));
            }
        }
        k += 4;
    }
    for (j, acc) in acc.iter().enumerate() {
        let [l0, l1, l2, l3] = acc.to_array();
        let mut s = ((l0 + l1) + l2) + l3;
        for k in whole..d {
            s += x[k] * w[j * d + k];
        }
        // SAFETY: the caller's (j < N).
        unsafe { y.add(j).write(s) };
    }
}

#[cfg(test)]
mod tests {
    use super::product_t;
    use crate::model::panels::tests::random;

    /// Against f64, for every output count a block can leave over and every `in % 4`, 0-5 rows
    /// (beams) and a GPT-2-like head, on one thread and on the pool; the pool bit-equal.
    #[test]
    fn product_t_matches_f64() {
        for (rows, d_in, d_out) in [(0, 4, 8), (1, 1, 1), (1, 3, 5), (2, 4, 6), (3, 7, 7), (5, 13, 9), (1, 768, 1027), (4, 96, 2051)] {
            let (x, w) = (random(rows * d_in, 1), random(d_out * d_in, 2));
            let one = product_t(&x, d_in, &w, false);
            assert_eq!(one.len(), rows * d_out);
            for r in 0..rows {
                for c in 0..d_out {
                    let want: f64 = (0..d_in).map(|k| x[r * d_in + k] as f64 * w[c * d_in + k] as f64).sum();
                    let got = one[r * d_out + c] as f64;
                    assert!((got - want).abs() <= 1e-6 * (1.0 + d_in as f64), "{rows}x{d_in}x{d_out} at ({r}, {c}): {got} vs {want}");
                }
            }
            assert_eq!(product_t(&x, d_in, &w, true), one, "{rows}x{d_in}x{d_out}: the pool's bits");
        }
    }
}
