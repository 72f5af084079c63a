//! Inverse DCT: libjpeg-turbo's accurate integer IDCT, `jpeg_idct_islow` (`jidctint.c`), the
//! default `JDCT_ISLOW` method. 8x8 only (no IDCT scaling).
//!
//! On valid data the C code and libjpeg-turbo's SIMD versions agree bit for bit. They differ only
//! when damaged data overflows 16 bits, and Pillow on x86-64 runs the SIMD (SSE2/AVX2) code, so
//! this port follows the SIMD arithmetic (`jidctint-avx2.asm`): 16-bit dequantisation products
//! and butterfly sums, 32-bit wrapping accumulations, 16-bit saturation of the pass-1 workspace,
//! and a saturating final clamp (instead of the C code's `& RANGE_MASK` table wrap-around).

const CONST_BITS: u32 = 13;
const PASS1_BITS: u32 = 2;

const F_0_298: i32 = 2446;
const F_0_390: i32 = 3196;
const F_0_541: i32 = 4433;
const F_0_765: i32 = 6270;
const F_0_899: i32 = 7373;
const F_1_175: i32 = 9633;
const F_1_501: i32 = 12299;
const F_1_847: i32 = 15137;
const F_1_961: i32 = 16069;
const F_2_053: i32 = 16819;
const F_2_562: i32 = 20995;
const F_3_072: i32 = 25172;

#[inline(always)]
fn sat16(x: i32) -> i16 {
    x.clamp(i16::MIN as i32, i16::MAX as i32) as i16
}

/// One 1-D pass over 8 values (`dodct`), returning the 8 descaled outputs saturated to 16 bits.
#[inline(always)]
fn pass(i: [i16; 8], descale: u32) -> [i16; 8] {
    let w = |x: i16| x as i32;
    // Even part.
    let tmp3 = w(i[2]).wrapping_mul(F_0_541 + F_0_765).wrapping_add(w(i[6]).wrapping_mul(F_0_541));
    let tmp2 = w(i[2]).wrapping_mul(F_0_541).wrapping_add(w(i[6]).wrapping_mul(F_0_541 - F_1_847));
    let tmp0 = (w(i[0].wrapping_add(i[4]))) << CONST_BITS;
    let tmp1 = (w(i[0].wrapping_sub(i[4]))) << CONST_BITS;
    let tmp10 = tmp0.wrapping_add(tmp3);
    let tmp13 = tmp0.wrapping_sub(tmp3);
    let tmp11 = tmp1.wrapping_add(tmp2);
    let tmp12 = tmp1.wrapping_sub(tmp2);
    // Odd part.
    let z3 = w(i[7].wrapping_add(i[3]));
    let z4 = w(i[5].wrapping_add(i[1]));
    let z3p = z3.wrapping_mul(F_1_175 - F_1_961).wrapping_add(z4.wrapping_mul(F_1_175));
    let z4p = z3.wrapping_mul(F_1_175).wrapping_add(z4.wrapping_mul(F_1_175 - F_0_390));
    let o0 = w(i[7]).wrapping_mul(F_0_298 - F_0_899).wrapping_add(w(i[1]).wrapping_mul(-F_0_899)).wrapping_add(z3p);
    let o3 = w(i[7]).wrapping_mul(-F_0_899).wrapping_add(w(i[1]).wrapping_mul(F_1_501 - F_0_899)).wrapping_add(z4p);
    let o1 = w(i[5]).wrapping_mul(F_2_053 - F_2_562).wrapping_add(w(i[3]).wrapping_mul(-F_2_562)).wrapping_add(z4p);
    let o2 = w(i[5]).wrapping_mul(-F_2_562).wrapping_add(w(i[3]).wrapping_mul(F_3_072 - F_2_562)).wrapping_add(z3p);
    let r = 1i32 << (descale - 1);
    let d = |x: i32| sat16(x.wrapping_add(r) >> descale);
    [
        d(tmp10.wrapping_add(o3)),
        d(tmp11.wrapping_add(o2)),
        d(tmp12.wrapping_add(o1)),
        d(tmp13.wrapping_add(o0)),
        d(tmp13.wrapping_sub(o0)),
        d(tmp12.wrapping_sub(o1)),
        d(tmp11.wrapping_sub(o2)),
        d(tmp10.wrapping_sub(o3)),
    ]
}

/// Dequantises `coef` (natural order) with `quant` (natural order, as libjpeg's 16-bit
/// `ISLOW_MULT_TYPE`) and writes the 8x8 samples to `out[offset + row * stride + col]`.
#[allow(clippy::needless_range_loop)]
pub fn idct_islow(coef: &[i16; 64], quant: &[i16; 64], out: &mut [u8], offset: usize, stride: usize) {
    let mut ws = [[0i16; 8]; 8]; // ws[column][row]
    if coef[8..].iter().all(|&c| c == 0) {
        // "AC terms all zero" shortcut of the SIMD code (whole block).
        for c in 0..8 {
            let dc = coef[c].wrapping_mul(quant[c]).wrapping_shl(PASS1_BITS);
            ws[c] = [dc; 8];
        }
    } else {
        for c in 0..8 {
            let mut col = [0i16; 8];
            for r in 0..8 {
                col[r] = coef[r * 8 + c].wrapping_mul(quant[r * 8 + c]);
            }
            ws[c] = pass(col, CONST_BITS - PASS1_BITS);
        }
    }
    for r in 0..8 {
        let row = [ws[0][r], ws[1][r], ws[2][r], ws[3][r], ws[4][r], ws[5][r], ws[6][r], ws[7][r]];
        let o = pass(row, CONST_BITS + PASS1_BITS + 3);
        let start = offset + r * stride;
        let Some(dst) = out.get_mut(start..start + 8) else { return };
        for (d, v) in dst.iter_mut().zip(o) {
            *d = (v.clamp(-128, 127) + 128) as u8;
        }
    }
}
