//! The MLP activations (QuickGELU, GELU, GELU-new) on the CPU backend, as branch-free f32
//! kernels the compiler vectorises (SSE2/AVX2 natively, SIMD128 in the page), run over the
//! pool's threads where there are several.
//!
//! Why: burn's CPU backend applies exp, erf and tanh one element at a time through libm, with a
//! branch on the sign (sigmoid), on the calling thread. On a ViT-L/14 embedding (25 M activations,
//! 2 threads, AVX2 EPYC) that was still about 7% of the forward pass's samples once spread over
//! the pool (`perf record`: `expf` and the per-element function), the kernels here under 1%. They
//! compute the same functions to within a few f32 rounding steps (the unit tests bound them
//! against f64 and against burn's ops).

use burn::tensor::Tensor;
use burn::tensor::activation::{gelu, gelu_approximate, sigmoid};

use crate::hf::Activation;

/// Applies an MLP activation: the kernels below on the CPU backend in f32, burn's tensor ops
/// elsewhere (wgpu, and autodiff while training, which needs the graph).
pub fn activate<const D: usize>(act: Activation, x: Tensor<D>) -> Tensor<D> {
    let x = match crate::pool::map_in_place(x, 1, |v| apply(act, v)) {
        Ok(y) => return y,
        Err(x) => x,
    };
    match act {
        Activation::QuickGelu => x.clone() * sigmoid(x * 1.702),
        Activation::Gelu => gelu(x),
        Activation::GeluNew => gelu_approximate(x),
    }
}

/// `act` on every element of `v`, in place.
pub fn apply(act: Activation, v: &mut [f32]) {
    with_avx2(|| apply_portable(act, v));
}

/// Runs `f`, whose loops are inlined into it, compiled for AVX2 where the CPU has it (8 lanes; no
/// FMA, so the results equal the portable build's), else as built (SSE2 natively, SIMD128 in the
/// page). One check per call: call it on a whole chunk, not per element or row.
#[inline(always)]
pub fn with_avx2(f: impl FnOnce()) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        #[target_feature(enable = "avx2")]
        fn run(f: impl FnOnce()) {
            f();
        }
        // SAFETY: the CPU has AVX2 (checked just above).
        unsafe { run(f) };
        return;
    }
    f();
}

#[inline(always)]
fn apply_portable(act: Activation, v: &mut [f32]) {
    match act {
        Activation::QuickGelu => v.iter_mut().for_each(|e| *e = quick_gelu(*e)),
        Activation::Gelu => v.iter_mut().for_each(|e| *e = gelu_erf(*e)),
        Activation::GeluNew => v.iter_mut().for_each(|e| *e = gelu_tanh(*e)),
    }
}

/// `x * sigmoid(1.702 x)` (OpenAI CLIP's QuickGELU).
#[inline(always)]
pub fn quick_gelu(x: f32) -> f32 {
    x * sigmoid_f32(1.702 * x)
}

/// `0.5 x (1 + erf(x / sqrt 2))`, as `x * Phi(x)`, with Phi from erfc so that negative inputs
/// keep their relative precision.
#[inline(always)]
pub fn gelu_erf(x: f32) -> f32 {
    let half_erfc = 0.5 * erfc_abs(x.abs() * std::f32::consts::FRAC_1_SQRT_2);
    let phi = if x >= 0.0 { 1.0 - half_erfc } else { half_erfc };
    x * phi
}

/// `0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))` (GPT-2's `gelu_new`), as
/// `x * sigmoid(2 u)`, which is the same function.
#[inline(always)]
pub fn gelu_tanh(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = (std::f64::consts::FRAC_2_SQRT_PI * std::f64::consts::FRAC_1_SQRT_2) as f32;
    let u = (x + 0.044715 * x * x * x) * SQRT_2_OVER_PI;
    x * sigmoid_f32(2.0 * u)
}

/// `1 / (1 + e^-z)`; saturates to 1 above z = 87 and to ~1e-38 below -88.
#[inline(always)]
fn sigmoid_f32(z: f32) -> f32 {
    1.0 / (1.0 + exp_f32(-z))
}

/// `erfc(u)` for `u >= 0` (Numerical Recipes' Chebyshev fit, relative error under 1.2e-7):
/// `t e^(-u^2 - 1.26551223 + t (1.00002368 + ...))`, `t = 1 / (1 + u / 2)`.
#[inline(always)]
fn erfc_abs(u: f32) -> f32 {
    let t = 1.0 / (1.0 + 0.5 * u);
    let p = -0.822_152_23 + t * 0.170_872_77;
    let p = 1.488_515_87 + t * p;
    let p = -1.135_203_98 + t * p;
    let p = 0.278_868_07 + t * p;
    let p = -0.186_288_06 + t * p;
    let p = 0.096_784_18 + t * p;
    let p = 0.374_091_96 + t * p;
    let p = 1.000_023_68 + t * p;
    let p = -1.265_512_23 + t * p;
    t * exp_f32(p - u * u)
}

/// `e^x` without branches or table lookups: 0 below -87 (a masked attention score gives exactly
/// 0, as with libm), x clamped to 88 above; `x = n ln 2 + r`, |r| <= ln 2 / 2, n rounded by
/// adding 1.5 * 2^23; Cephes' degree-6 polynomial for e^r (about 1 ulp); 2^n built from n's bits.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer, kept in the low bits
    let under = x < -87.0;
    let x = x.max(-87.0).min(88.0);
    let t = x * std::f32::consts::LOG2_E + ROUND;
    let n = t - ROUND;
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4; // x - n ln 2, ln 2 in two parts
    let p = 1.987_569_1e-4 * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 0.166_666_65;
    let p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    let two_n = f32::from_bits((t.to_bits() << 23).wrapping_add(127 << 23)); // 2^n, n in [-126, 127]
    if under { 0.0 } else { y * two_n } // a select, not a branch
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every value from -30 to 30 in steps of 1/1024, plus powers of two up to 2^60 and tiny
    /// ones, both signs.
    fn inputs() -> Vec<f32> {
        let mut v: Vec<f32> = (-30 * 1024..=30 * 1024).map(|i| i as f32 / 1024.0).collect();
        for e in -60..60 {
            v.push(2f32.powi(e));
            v.push(-(2f32.powi(e)));
        }
        v
    }

    /// Each kernel against the function in f64: within 2e-7 absolute plus 6e-7 relative, i.e.
    /// a few f32 rounding steps (and far inside the 1e-4 the models are held to against HF).
    #[test]
    fn kernels_match_f64() {
        let cases: [(Activation, fn(f64) -> f64); 3] = [
            (Activation::QuickGelu, |x| x / (1.0 + (-1.702 * x).exp())),
            (Activation::Gelu, |x| 0.5 * x * libm::erfc(-x / std::f64::consts::SQRT_2)),
            (Activation::GeluNew, |x| 0.5 * x * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x)).tanh())),
        ];
        let x = inputs();
        for (act, exact) in cases {
            let mut y = x.clone();
            apply(act, &mut y);
            let mut portable = x.clone();
            apply_portable(act, &mut portable);
            for ((&x, &y), &p) in x.iter().zip(&y).zip(&portable) {
                let e = exact(x as f64);
                assert!((y as f64 - e).abs() <= 2e-7 + 6e-7 * e.abs(), "{act:?}({x}) = {y}, exact {e}");
                assert_eq!(y.to_bits(), p.to_bits(), "{act:?}({x}): AVX2 and portable builds differ");
            }
        }
        for act in [Activation::QuickGelu, Activation::Gelu, Activation::GeluNew] {
            let mut v = [f32::NAN];
            apply(act, &mut v);
            assert!(v[0].is_nan(), "{act:?} keeps NaN");
        }
    }

    /// `exp_f32` against f64 over its range.
    #[test]
    fn exp_matches_f64() {
        for i in -87 * 256..=88 * 256 {
            let x = i as f32 / 256.0;
            let e = (x as f64).exp();
            assert!(((exp_f32(x) as f64) - e).abs() <= 2.5e-7 * e, "exp({x}) = {}, exact {e}", exp_f32(x));
        }
    }

    /// `activate` on a CPU tensor (large enough to take the pool natively) equals burn's tensor
    /// ops, the path of wgpu and of training, to a few rounding steps.
    #[test]
    fn activate_equals_burns_ops() {
        use burn::tensor::{Device, Distribution};
        let x = Tensor::<3>::random([3, 100, 400], Distribution::Normal(0.0, 4.0), &Device::flex()); // [3, 100, 400]
        for act in [Activation::QuickGelu, Activation::Gelu, Activation::GeluNew] {
            let ours = activate(act, x.clone());
            let burn = match act {
                Activation::QuickGelu => x.clone() * sigmoid(x.clone() * 1.702),
                Activation::Gelu => gelu(x.clone()),
                Activation::GeluNew => gelu_approximate(x.clone()),
            };
            assert_eq!(ours.dims(), [3, 100, 400]);
            let bound = burn.clone().abs() * 1e-6 + 1e-6;
            let over = (ours - burn).abs() - bound;
            assert!(over.max().into_scalar::<f32>() <= 0.0, "{act:?}");
        }
    }

    /// On an autodiff device (training) `activate` stays in the graph: the input gets a gradient.
    #[test]
    fn activate_keeps_the_autodiff_graph() {
        use burn::tensor::{Device, Distribution};
        let device = Device::flex().autodiff();
        for act in [Activation::QuickGelu, Activation::Gelu, Activation::GeluNew] {
            let x = Tensor::<2>::random([300, 300], Distribution::Normal(0.0, 1.0), &device).require_grad(); // [300, 300]
            let grads = activate(act, x.clone()).sum().backward();
            assert!(x.grad(&grads).is_some(), "{act:?}: no gradient reached the input");
        }
    }
}
