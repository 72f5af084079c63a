//! The page's CPU product for linear layers, `y = x W + b`, with `W` packed at load into panels
//! of [`WIDTH`] output columns: `[out / 8, in, 8]`, which is [`Linear`](super::nn::Linear)'s
//! column-block layout with blocks 8 wide.
//!
//! Why not gemm (burn's CPU matmul) there: in WebAssembly gemm runs its SIMD128 microkernel of
//! 12 x 4 outputs, whose 12 accumulators, 3 operands and a broadcast want 16 vector registers,
//! where V8 allocates at most 15 on x86-64 (xmm15 is its scratch register), so it likely spills
//! (not seen in V8's code, only in the timings). The 4 x 8 tile below keeps 8 accumulators, 2
//! weight vectors and a broadcast (11), and reads its weights from the panel in order. On ViT-L/14's products
//! (257 x 1024 x 4096, 257 x 4096 x 1024, 257 x 1024 x 1024) and ViT-B/32's (50 x 768 x 3072),
//! one thread in Node 20 (V8 11.3, TurboFan only, best of 5 alternated), it ran 14.7-16.5 GMAC/s
//! where gemm ran 10.7-11.0 (1.45x); larger tiles (5 or 6 rows) spilled and ran 9-10. In the
//! single-thread page build a ViT-L/14 embedding took 5.7-10.9 s against 7.7-12.2 s with gemm
//! (Node, the two builds alternated on a noisy 2-vCPU AMD EPYC). Threads split the panels;
//! natively gemm's AVX2/AVX-512 kernels stay (there this portable code is only tested).
//!
//! Each tile sums `b + x_0 w_0 + x_1 w_1 + ...` in f32 in that order, multiply then add (no
//! fused multiply-add: WebAssembly has none outside relaxed SIMD), so the wasm build and the
//! portable one used natively in tests give the same bits.

use super::lanes::F4;

/// Output columns per panel.
pub const WIDTH: usize = 8;
/// Rows of `x` per tile.
const ROWS: usize = 4;
/// Multiply-adds below which a product stays on one thread.
const MIN_PARALLEL: usize = 1 << 18;

/// `w` `[out, in]` (`torch.nn.Linear`'s layout, row-major) as panels `[out / 8, in, 8]` in one
/// pass (`out` a multiple of [`WIDTH`]): each panel reads 8 rows of `w` side by side and writes in
/// order. Loading this way copies each weight once, where transposing to `[in, out]` and then
/// packing copied it twice.
pub fn pack_out_in(w: &[f32], d_in: usize) -> Vec<f32> {
    assert!(d_in > 0 && w.len() % (d_in * WIDTH) == 0, "{} weights are not [8k, {d_in}]", w.len());
    let mut panels = Vec::with_capacity(w.len());
    for rows in w.chunks_exact(WIDTH * d_in) {
        for k in 0..d_in {
            panels.extend((0..WIDTH).map(|c| rows[c * d_in + k]));
        }
    }
    panels
}

/// `x` `[rows, in]` times `panels` `[out / 8, in, 8]` plus `bias` `[out]`: `[rows, out]`, over
/// rayon's pool when `parallel` and the product is large enough (the panels split between
/// threads; each thread writes only its own columns).
pub fn product(x: &[f32], d_in: usize, panels: &[f32], bias: Option<&[f32]>, parallel: bool) -> Vec<f32> {
    assert!(
        d_in > 0 && x.len() % d_in == 0 && panels.len() % (d_in * WIDTH) == 0,
        "x {} or panels {} are not [_, {d_in}]",
        x.len(),
        panels.len()
    );
    let rows = x.len() / d_in;
    let n_panels = panels.len() / (d_in * WIDTH);
    let d_out = n_panels * WIDTH;
    if let Some(b) = bias {
        assert_eq!(b.len(), d_out, "bias");
    }
    let parallel = parallel && rows * d_in * d_out >= MIN_PARALLEL;
    // Pieces of at least MIN_PARALLEL multiply-adds (and at least 8 a thread: `pool::pieces`).
    let min = MIN_PARALLEL.div_ceil((rows * d_in * WIDTH).max(1));
    let panel = |p: usize, y: crate::pool::Out| {
        let w = &panels[p * d_in * WIDTH..(p + 1) * d_in * WIDTH];
        let b = bias.map(|b| &b[p * WIDTH..(p + 1) * WIDTH]);
        // SAFETY: `y` is `[rows, d_out]`; panel `p` writes its columns `p * 8 .. p * 8 + 8` of
        // every row.
        unsafe { columns(x, d_in, w, b, y.at(p * WIDTH), d_out) };
    };
    // SAFETY: panel p writes exactly columns 8p..8p+8 of every row: disjoint, and all of them.
    unsafe { crate::pool::write_columns(rows * d_out, n_panels, min, parallel, panel) }
}

/// One panel's 8 columns of every row of `y` (`y` points at row 0's first such column, rows
/// `d_out` apart): tiles of 4 rows, then the remaining 1-3.
///
/// # Safety
/// `y` must be valid for writes at `r * d_out + c` for every row `r` of `x` and `c < 8`.
unsafe fn columns(x: &[f32], d_in: usize, w: &[f32], bias: Option<&[f32]>, y: *mut f32, d_out: usize) {
    let init = match bias {
        Some(b) => [F4::load(&b[..4]), F4::load(&b[4..])],
        None => [F4::zero(); 2],
    };
    let rows = x.len() / d_in;
    let mut r = 0;
    while r + ROWS <= rows {
        // SAFETY: rows r..r+4 exist (the caller's contract for `y`; `x` by the loop bound).
        unsafe { tile::<ROWS>(&x[r * d_in..], d_in, w, init, y.add(r * d_out), d_out) };
        r += ROWS;
    }
    // SAFETY: as above, for the last 1-3 rows.
    unsafe {
        match rows - r {
            3 => tile::<3>(&x[r * d_in..], d_in, w, init, y.add(r * d_out), d_out),
            2 => tile::<2>(&x[r * d_in..], d_in, w, init, y.add(r * d_out), d_out),
            1 => tile::<1>(&x[r * d_in..], d_in, w, init, y.add(r * d_out), d_out),
            _ => {}
        }
    }
}

/// `R` rows x 8 columns of `y`: `R x 2` accumulators over the whole of `in` (no blocking of
/// `in`: a panel, 8 x in floats, stays in cache across the tiles of its rows).
///
/// # Safety
/// `x` holds at least `R` rows of `d_in`; `w` is one panel (`d_in x 8`); `y` is valid for writes
/// at `r * d_out + c`, `r < R`, `c < 8`.
#[inline(always)]
unsafe fn tile<const R: usize>(x: &[f32], d_in: usize, w: &[f32], init: [F4; 2], y: *mut f32, d_out: usize) {
    debug_assert!(x.len() >= R * d_in && w.len() == d_in * WIDTH);
    let (x, w) = (x.as_ptr(), w.as_ptr());
    let mut acc = [init; R];
    for k in 0..d_in {
        // SAFETY: k < d_in, so w[k * 8 + 7] and x[r * d_in + k] (r < R) are in bounds.
        unsafe {
            let w0 = F4::load_ptr(w.add(k * WIDTH));
            let w1 = F4::load_ptr(w.add(k * WIDTH + 4));
            for (r, acc) in acc.iter_mut().enumerate() {
                let a = F4::splat_ptr(x.add(r * d_in + k));
                acc[0] = acc[0].add_mul(a, w0);
                acc[1] = acc[1].add_mul(a, w1);
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        // SAFETY: the caller's contract for `y`.
        unsafe {
            acc[0].store_ptr(y.add(r * d_out));
            acc[1].store_ptr(y.add(r * d_out + 4));
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::{WIDTH, product};

    /// `w` `[in, out]` (row-major) as panels `[out / WIDTH, in, WIDTH]`, as `Linear` packs them.
    fn pack(w: &[f32], d_in: usize) -> Vec<f32> {
        let d_out = w.len() / d_in;
        assert!(d_out * d_in == w.len() && d_out % WIDTH == 0, "{} weights are not [{d_in}, 8k]", w.len());
        let mut panels = Vec::with_capacity(w.len());
        for p in 0..d_out / WIDTH {
            for row in w.chunks_exact(d_out) {
                panels.extend_from_slice(&row[p * WIDTH..(p + 1) * WIDTH]);
            }
        }
        panels
    }

    /// `n` floats in [-1, 1) from `seed` (also the `dots` tests').
    pub(crate) fn random(n: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// Against a product in f64, for every row count a tile can leave over (0-13 rows, and 257),
    /// several widths and depths, with and without bias, on one thread and on the pool.
    #[test]
    fn product_matches_f64() {
        for (rows, d_in, d_out) in [
            (0, 5, 16),
            (1, 1, 8),
            (2, 3, 16),
            (3, 17, 8),
            (4, 32, 24),
            (5, 64, 64),
            (7, 9, 32),
            (13, 33, 40),
            (257, 96, 128),
            (1, 768, 256),
        ] {
            let (x, w, b) = (random(rows * d_in, 1), random(d_in * d_out, 2), random(d_out, 3));
            let panels = pack(&w, d_in);
            for bias in [None, Some(&b[..])] {
                for parallel in [false, true] {
                    let y = product(&x, d_in, &panels, bias, parallel);
                    assert_eq!(y.len(), rows * d_out);
                    for r in 0..rows {
                        for c in 0..d_out {
                            let want = (0..d_in).map(|k| x[r * d_in + k] as f64 * w[k * d_out + c] as f64).sum::<f64>()
                                + bias.map_or(0.0, |b| b[c] as f64);
                            let got = y[r * d_out + c] as f64;
                            assert!(
                                (got - want).abs() <= 1e-6 * (1.0 + d_in as f64),
                                "{rows}x{d_in}x{d_out} at ({r}, {c}): {got} vs {want}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// Packing `[out, in]` directly lays out what packing its transpose `[in, out]` does.
    #[test]
    fn pack_out_in_is_pack_of_transpose() {
        let (d_in, d_out) = (5, 24);
        let w_out_in = random(d_out * d_in, 6);
        let w_in_out: Vec<f32> = (0..d_in * d_out).map(|i| w_out_in[(i % d_out) * d_in + i / d_out]).collect();
        assert_eq!(super::pack_out_in(&w_out_in, d_in), pack(&w_in_out, d_in));
    }

    /// The pool gives the same bits as one thread (each output is one tile's sum either way).
    #[test]
    fn parallel_is_bit_equal() {
        let (rows, d_in, d_out) = (70, 256, 192);
        let (x, w) = (random(rows * d_in, 4), random(d_in * d_out, 5));
        let panels = pack(&w, d_in);
        assert_eq!(product(&x, d_in, &panels, None, false), product(&x, d_in, &panels, None, true));
    }
}
