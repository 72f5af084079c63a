//! Decoding photos and preparing them exactly as HF's `CLIPImageProcessor` does with PIL.
//!
//! Decoding uses the `image` crate (PNG, JPEG, WebP, GIF's first frame). The size is checked from
//! the header before any pixel buffer is allocated. EXIF orientation is applied (phones store
//! portrait photos as rotated landscape pixels plus a tag): this is the one place glimpse
//! deliberately differs from HF, which ignores the tag.
//!
//! The resize is a port of Pillow's two-pass convolution resampler (`Resample.c`): the filter
//! support is widened by the downscale factor (antialiasing), coefficients are quantised to 22-bit
//! fixed point, and the horizontal pass is rounded to 8 bits before the vertical pass, as in PIL.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

use crate::error::{Error, Result};
use crate::hf::preprocessor::{Filter, PreprocessConfig, Resize};

/// Largest accepted side, in pixels.
pub const MAX_SIDE: u32 = 16_384;
/// Largest accepted pixel count (width x height).
pub const MAX_PIXELS: u64 = 80_000_000;

/// Decodes an image file's bytes to 8-bit RGB, with EXIF orientation applied.
/// `name` is the file name or path used in error messages.
pub fn decode(bytes: &[u8], name: &str) -> Result<RgbImage> {
    if bytes.is_empty() {
        return Err(Error::image(name, "empty file (0 bytes)"));
    }
    let reader = || ImageReader::new(Cursor::new(bytes)).with_guessed_format();
    let guessed = reader().map_err(|e| Error::image(name, e.to_string()))?;
    let format = match guessed.format() {
        Some(f @ (ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP | ImageFormat::Gif)) => f,
        Some(other) => {
            return Err(Error::image(name, format!("{other:?} images are not supported (PNG, JPEG, WebP or GIF)")));
        }
        None => {
            return Err(Error::image(name, "not a recognised image (expected PNG, JPEG, WebP or GIF)"));
        }
    };
    if format == ImageFormat::Jpeg && !jpeg_is_complete(bytes) {
        return Err(Error::image(name, "JPEG data is truncated (no end-of-image marker after the image data)"));
    }
    let (w, h) = guessed.into_dimensions().map_err(|e| Error::image(name, format!("unreadable {format:?} header: {e}")))?;
    if w == 0 || h == 0 {
        return Err(Error::image(name, format!("image has no pixels ({w}x{h})")));
    }
    if w > MAX_SIDE || h > MAX_SIDE || u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(Error::image(name, format!("image is {w}x{h} pixels, over the limit of {MAX_SIDE} per side and {MAX_PIXELS} pixels")));
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_PIXELS * 8);
    let mut reader = reader().map_err(|e| Error::image(name, e.to_string()))?;
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|e| Error::image(name, format!("cannot decode {format:?}: {e}")))?;
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| Error::image(name, format!("cannot decode {format:?}: {e}")))?;
    img.apply_orientation(orientation);
    Ok(img.to_rgb8())
}

/// Whether a JPEG has its end-of-image marker after the start of its (first) scan. Entropy-coded
/// data never contains `FF D9` (0xFF is byte-stuffed), and an EXIF thumbnail's own EOI comes
/// before the main scan, so a cut-off file fails this check. The decoder would otherwise fill
/// the missing rows with grey silently.
fn jpeg_is_complete(bytes: &[u8]) -> bool {
    let sos = bytes.windows(2).position(|w| w == [0xFF, 0xDA]);
    let eoi = bytes.windows(2).rposition(|w| w == [0xFF, 0xD9]);
    matches!((sos, eoi), (Some(s), Some(e)) if e > s)
}

/// Reads and decodes an image file.
pub fn open(path: &std::path::Path) -> Result<RgbImage> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode(&bytes, &path.display().to_string())
}

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
pub fn resize_pil(img: &RgbImage, width: u32, height: u32, filter: Filter) -> RgbImage {
    let (w0, h0) = (img.width() as usize, img.height() as usize);
    let (w1, h1) = (width as usize, height as usize);
    let src = img.as_raw();
    // Horizontal pass (skipped when the width is unchanged, as in Pillow).
    let horiz: Vec<u8> = if w1 != w0 {
        let co = coefficients(w0, w1, filter);
        let mut out = vec![0u8; w1 * h0 * 3];
        for y in 0..h0 {
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
    } else {
        src.to_vec()
    };
    // Vertical pass.
    let out = if h1 != h0 {
        let co = coefficients(h0, h1, filter);
        let mut out = vec![0u8; w1 * h1 * 3];
        for (y, (ymin, k)) in co.iter().enumerate() {
            for x in 0..w1 {
                for c in 0..3 {
                    let mut acc: i64 = 1 << (PRECISION_BITS - 1);
                    for (i, &kk) in k.iter().enumerate() {
                        acc += i64::from(horiz[((ymin + i) * w1 + x) * 3 + c]) * i64::from(kk);
                    }
                    out[(y * w1 + x) * 3 + c] = clip8(acc);
                }
            }
        }
        out
    } else {
        horiz
    };
    RgbImage::from_raw(width, height, out).expect("buffer size matches dimensions")
}

/// Target (width, height) of HF's `get_resize_output_image_size` for a shortest-edge resize.
pub fn shortest_edge_size(width: u32, height: u32, edge: u32) -> (u32, u32) {
    let (short, long) = if width <= height { (width, height) } else { (height, width) };
    let new_long = (f64::from(edge) * f64::from(long) / f64::from(short)) as u32;
    if width <= height { (edge, new_long) } else { (new_long, edge) }
}

/// Center crop as HF's `center_crop` (zero padding where the crop is larger than the image).
pub fn center_crop(img: &RgbImage, crop_h: u32, crop_w: u32) -> RgbImage {
    let (h, w) = (i64::from(img.height()), i64::from(img.width()));
    let (ch, cw) = (i64::from(crop_h), i64::from(crop_w));
    let pad = |c: i64, o: i64| if c > o { (c - o + 1) / 2 } else { 0 };
    let top = (h - ch).div_euclid(2) + pad(ch, h);
    let left = (w - cw).div_euclid(2) + pad(cw, w);
    let (top_pad, left_pad) = (pad(ch, h), pad(cw, w));
    RgbImage::from_fn(crop_w, crop_h, |x, y| {
        let sy = top + i64::from(y) - top_pad;
        let sx = left + i64::from(x) - left_pad;
        if (0..h).contains(&sy) && (0..w).contains(&sx) { *img.get_pixel(sx as u32, sy as u32) } else { image::Rgb([0, 0, 0]) }
    })
}

/// Resize then center crop: the 8-bit picture the model sees (also what overlays are drawn on).
pub fn resize_and_crop(img: &RgbImage, cfg: &PreprocessConfig) -> RgbImage {
    let resized = match cfg.resize {
        Some(Resize::ShortestEdge(edge)) => {
            let (w, h) = shortest_edge_size(img.width(), img.height(), edge);
            resize_pil(img, w, h, cfg.filter)
        }
        Some(Resize::Exact { height, width }) => resize_pil(img, width, height, cfg.filter),
        None => img.clone(),
    };
    match cfg.crop {
        Some((h, w)) => center_crop(&resized, h, w),
        None => resized,
    }
}

/// CHW float pixels, rescaled and normalised in f32 as HF does.
pub fn normalize(img: &RgbImage, cfg: &PreprocessConfig) -> Vec<f32> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut out = vec![0f32; 3 * h * w];
    for (i, p) in img.pixels().enumerate() {
        for c in 0..3 {
            let x = (f64::from(p[c]) * cfg.rescale_factor) as f32;
            out[c * h * w + i] = (x - cfg.mean[c]) / cfg.std[c];
        }
    }
    out
}

/// The whole recipe: decoded RGB to the model's CHW input.
pub fn preprocess(img: &RgbImage, cfg: &PreprocessConfig) -> Vec<f32> {
    normalize(&resize_and_crop(img, cfg), cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortest_edge_truncates_like_hf() {
        assert_eq!(shortest_edge_size(640, 480, 224), (298, 224));
        assert_eq!(shortest_edge_size(97, 130, 30), (30, 40));
    }

    #[test]
    fn identity_resize_keeps_pixels() {
        let img = RgbImage::from_fn(5, 4, |x, y| image::Rgb([x as u8 * 40, y as u8 * 50, 7]));
        assert_eq!(resize_pil(&img, 5, 4, Filter::Bicubic), img);
    }

    #[test]
    fn crop_pads_when_larger() {
        let img = RgbImage::from_pixel(2, 2, image::Rgb([9, 9, 9]));
        let c = center_crop(&img, 4, 4);
        assert_eq!(c.get_pixel(0, 0)[0], 0);
        assert_eq!(c.get_pixel(1, 1)[0], 9);
        assert_eq!(c.get_pixel(2, 2)[0], 9);
        assert_eq!(c.get_pixel(3, 3)[0], 0);
    }
}
