//! Inter-block smoothing of progressive JPEGs: a port of libjpeg-turbo's `smoothing_ok` and
//! `decompress_smooth_data` (`jdcoefct.c`, `do_block_smoothing = TRUE`, the default).
//!
//! When a progressive file's first AC coefficients (zig-zag 1..9) are not known to full
//! precision at the end of the input (the file stops early but has an EOI, or its scans never
//! refine them), libjpeg estimates the still-zero ones from the DC values of the 5x5
//! neighbouring blocks before the IDCT.

/// Natural-order positions of zig-zag coefficients 0..9.
const POS: [usize; 10] = [0, 1, 8, 16, 9, 2, 3, 10, 17, 24];

/// Per-component input for smoothing.
pub struct SmoothComp<'a> {
    pub coefs: &'a [i16],
    /// Blocks per row in `coefs` (padded), real block columns, real block rows, v sampling.
    pub pbw: usize,
    pub bw: usize,
    pub bh: usize,
    pub v: usize,
    pub quant: [u16; 64],
    /// Latched `coef_bits` (current) and the previous scan's (`-1` when only one scan).
    pub bits: [i32; 10],
    pub prev_bits: [i32; 10],
}

/// `smoothing_ok`: whether libjpeg would smooth (all components' DC known, quantisers nonzero,
/// and some component's coefficients 1..9 not fully refined).
pub fn smoothing_ok(comps: &[(Option<[u16; 64]>, [i32; 10])]) -> bool {
    let mut useful = false;
    for (q, bits) in comps {
        let Some(q) = q else { return false };
        if POS.iter().any(|&p| q[p] == 0) || bits[0] < 0 {
            return false;
        }
        if bits[1..].iter().any(|&b| b != 0) {
            useful = true;
        }
    }
    useful
}

/// Calls `idct(block, block_row, block_col)` for each real block of the component with the
/// smoothed coefficients, as `decompress_smooth_data` does for every output iMCU row.
pub fn smooth_component(c: &SmoothComp, total_imcu_rows: usize, last_good_imcu: usize, mut idct: impl FnMut(&[i16; 64], usize, usize)) {
    let zero = [0i16; 64];
    let block = |r: usize, col: usize| -> &[i16; 64] {
        let i = (r * c.pbw + col) * 64;
        c.coefs.get(i..i + 64).and_then(|s| s.try_into().ok()).unwrap_or(&zero)
    };
    let dc = |r: usize, col: usize| block(r, col)[0] as i64;
    let last_imcu = total_imcu_rows.saturating_sub(1);
    let q = |k: usize| c.quant[POS[k]] as i64;
    for imcu in 0..total_imcu_rows {
        let block_rows = if imcu < last_imcu {
            c.v
        } else {
            let r = c.bh % c.v;
            if r == 0 { c.v } else { r }
        };
        let bits = if imcu > last_good_imcu { &c.prev_bits } else { &c.bits };
        let change_dc = bits[1..].iter().all(|&b| b == -1);
        let image_block_rows = (block_rows * total_imcu_rows) as i64;
        for block_row in 0..block_rows {
            let r = imcu * c.v + block_row;
            if r >= c.bh {
                continue;
            }
            let ibr = (imcu * block_rows + block_row) as i64;
            let prev = if ibr > 0 { r - 1 } else { r };
            let prev_prev = if ibr > 1 { r.saturating_sub(2) } else { prev };
            let next = if ibr < image_block_rows - 1 { r + 1 } else { r };
            let next_next = if ibr < image_block_rows - 2 { r + 2 } else { next };
            let rows = [prev_prev, prev, r, next, next_next];
            // d[row][col], col 0..5 = DC01..05 etc. (sliding window).
            let mut d = [[0i64; 5]; 5];
            for (i, &rr) in rows.iter().enumerate() {
                d[i] = [dc(rr, 0); 5];
            }
            let last_col = c.bw.saturating_sub(1);
            for bn in 0..c.bw {
                let mut ws = *block(r, bn);
                if bn == 0 && bn < last_col {
                    for (i, &rr) in rows.iter().enumerate() {
                        d[i][3] = dc(rr, 1);
                        d[i][4] = d[i][3];
                    }
                }
                if bn + 1 < last_col {
                    for (i, &rr) in rows.iter().enumerate() {
                        d[i][4] = dc(rr, bn + 2);
                    }
                }
                let g = |n: usize| d[(n - 1) / 5][(n - 1) % 5];
                let q00 = q(0);
                let predict = |k: usize, pos: usize, num_dc: i64, ws: &mut [i16; 64]| {
                    let al = bits[k];
                    if al == 0 || ws[pos] != 0 {
                        return;
                    }
                    let qk = q(k);
                    let num = q00 * num_dc;
                    let lim = |p: i64| if al > 0 && p >= (1i64 << al) { (1i64 << al) - 1 } else { p };
                    let pred = if num >= 0 { lim(((qk << 7) + num) / (qk << 8)) } else { -lim(((qk << 7) - num) / (qk << 8)) };
                    ws[pos] = pred as i16;
                };
                let n01 = if change_dc {
                    -g(1) - g(2) + g(4) + g(5) - 3 * g(6) + 13 * g(7) - 13 * g(9) + 3 * g(10) - 3 * g(11) + 38 * g(12) - 38 * g(14)
                        + 3 * g(15)
                        - 3 * g(16)
                        + 13 * g(17)
                        - 13 * g(19)
                        + 3 * g(20)
                        - g(21)
                        - g(22)
                        + g(24)
                        + g(25)
                } else {
                    -7 * g(11) + 50 * g(12) - 50 * g(14) + 7 * g(15)
                };
                predict(1, 1, n01, &mut ws);
                let n10 = if change_dc {
                    -g(1) - 3 * g(2) - 3 * g(3) - 3 * g(4) - g(5) - g(6) + 13 * g(7) + 38 * g(8) + 13 * g(9) - g(10) + g(16)
                        - 13 * g(17)
                        - 38 * g(18)
                        - 13 * g(19)
                        + g(20)
                        + g(21)
                        + 3 * g(22)
                        + 3 * g(23)
                        + 3 * g(24)
                        + g(25)
                } else {
                    -7 * g(3) + 50 * g(8) - 50 * g(18) + 7 * g(23)
                };
                predict(2, 8, n10, &mut ws);
                let n20 = if change_dc {
                    g(3) + 2 * g(7) + 7 * g(8) + 2 * g(9) - 5 * g(12) - 14 * g(13) - 5 * g(14) + 2 * g(17) + 7 * g(18) + 2 * g(19) + g(23)
                } else {
                    -g(3) + 13 * g(8) - 24 * g(13) + 13 * g(18) - g(23)
                };
                predict(3, 16, n20, &mut ws);
                let n11 = if change_dc {
                    -g(1) + g(5) + 9 * g(7) - 9 * g(9) - 9 * g(17) + 9 * g(19) + g(21) - g(25)
                } else {
                    g(10) + g(16) - 10 * g(17) + 10 * g(19) - g(2) - g(20) + g(22) - g(24) + g(4) - g(6) + 10 * g(7) - 10 * g(9)
                };
                predict(4, 9, n11, &mut ws);
                let n02 = if change_dc {
                    2 * g(7) - 5 * g(8) + 2 * g(9) + g(11) + 7 * g(12) - 14 * g(13) + 7 * g(14) + g(15) + 2 * g(17) - 5 * g(18) + 2 * g(19)
                } else {
                    -g(11) + 13 * g(12) - 24 * g(13) + 13 * g(14) - g(15)
                };
                predict(5, 2, n02, &mut ws);
                if change_dc {
                    predict(6, 3, g(7) - g(9) + 2 * g(12) - 2 * g(14) + g(17) - g(19), &mut ws);
                    predict(7, 10, g(7) - 3 * g(8) + g(9) - g(17) + 3 * g(18) - g(19), &mut ws);
                    predict(8, 17, g(7) - g(9) - 3 * g(12) + 3 * g(14) + g(17) - g(19), &mut ws);
                    predict(9, 24, g(7) + 2 * g(8) + g(9) - g(17) - 2 * g(18) - g(19), &mut ws);
                    let num = q00
                        * (-2 * g(1) - 6 * g(2) - 8 * g(3) - 6 * g(4) - 2 * g(5) - 6 * g(6) + 6 * g(7) + 42 * g(8) + 6 * g(9)
                            - 6 * g(10)
                            - 8 * g(11)
                            + 42 * g(12)
                            + 152 * g(13)
                            + 42 * g(14)
                            - 8 * g(15)
                            - 6 * g(16)
                            + 6 * g(17)
                            + 42 * g(18)
                            + 6 * g(19)
                            - 6 * g(20)
                            - 2 * g(21)
                            - 6 * g(22)
                            - 8 * g(23)
                            - 6 * g(24)
                            - 2 * g(25));
                    let pred = if num >= 0 { ((q00 << 7) + num) / (q00 << 8) } else { -(((q00 << 7) - num) / (q00 << 8)) };
                    ws[0] = pred as i16;
                }
                idct(&ws, r, bn);
                for row in d.iter_mut() {
                    row[0] = row[1];
                    row[1] = row[2];
                    row[2] = row[3];
                    row[3] = row[4];
                }
            }
        }
    }
}
