//! HF's image-processor recipe on a decoded picture: shortest-edge or exact resize (Pillow's
//! resampler), center crop, rescale and normalise in f32 as HF does.

use image::RgbImage;

use super::resize::resize_pil;
use crate::hf::preprocessor::{PreprocessConfig, Resize};

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
    use crate::hf::preprocessor::Filter;

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
