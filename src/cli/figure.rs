//! The attention figure of `caption --attention-dir`, in the style of the seed report: the
//! image the model saw, then one panel per caption token with that token's cross-attention
//! (mean over layers, patches only) upsampled over the image, the token as the panel title.

use font8x8::UnicodeFonts;
use image::{Rgb, RgbImage};

/// Panel side in pixels.
const PANEL: u32 = 224;
/// Title band height (8x8 font drawn at 2x).
const TITLE: u32 = 22;
/// Panels per row.
const COLUMNS: u32 = 5;
/// Overlay opacity.
const ALPHA: f32 = 0.6;

/// Viridis, by a degree-6 polynomial fit (perceptually uniform, colour-blind safe).
pub fn viridis(t: f32) -> [u8; 3] {
    const C: [[f32; 3]; 7] = [
        [0.277_727_3, 0.005_407_345, 0.334_099_8],
        [0.105_093_04, 1.404_613_5, 1.384_590_2],
        [-0.330_861_83, 0.214_847_56, 0.095_095_16],
        [-4.634_230_6, -5.799_101, -19.332_441],
        [6.228_27, 14.179_933, 56.690_55],
        [4.776_385, -13.745_145, -65.353_03],
        [-5.435_456, 4.645_852_6, 26.312_435],
    ];
    let t = t.clamp(0.0, 1.0);
    [0, 1, 2].map(|c| {
        let v = C.iter().rev().fold(0.0, |acc, k| acc * t + k[c]);
        (v.clamp(0.0, 1.0) * 255.0).round() as u8
    })
}

fn draw_text(img: &mut RgbImage, x0: u32, y0: u32, text: &str, max_width: u32) {
    let mut x = x0;
    for ch in text.chars() {
        if x + 16 > x0 + max_width {
            break;
        }
        let glyph = font8x8::BASIC_FONTS.get(ch).or_else(|| font8x8::LATIN_FONTS.get(ch)).or_else(|| font8x8::BASIC_FONTS.get('?')).unwrap_or([0; 8]);
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8u32 {
                if bits & (1 << col) != 0 {
                    for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                        let (px, py) = (x + col * 2 + dx, y0 + row as u32 * 2 + dy);
                        if px < img.width() && py < img.height() {
                            img.put_pixel(px, py, Rgb([20, 20, 20]));
                        }
                    }
                }
            }
        }
        x += 16;
    }
}

/// Bilinear sample of a `grid x grid` map at panel pixel (x, y).
fn sample(map: &[f32], grid: usize, x: u32, y: u32) -> f32 {
    let to = |p: u32| ((p as f32 + 0.5) / PANEL as f32 * grid as f32 - 0.5).clamp(0.0, (grid - 1) as f32);
    let (fx, fy) = (to(x), to(y));
    let (x0, y0) = (fx.floor() as usize, fy.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(grid - 1), (y0 + 1).min(grid - 1));
    let (ax, ay) = (fx - x0 as f32, fy - y0 as f32);
    let v = |xx: usize, yy: usize| map[yy * grid + xx];
    (v(x0, y0) * (1.0 - ax) + v(x1, y0) * ax) * (1.0 - ay) + (v(x0, y1) * (1.0 - ax) + v(x1, y1) * ax) * ay
}

/// Mean over layers of one token's maps, patches only (CLS dropped), scaled to [0, 1].
pub fn token_map(layers: &[Vec<f32>], grid: usize) -> Vec<f32> {
    let mut m = vec![0f32; grid * grid];
    for l in layers {
        for (a, b) in m.iter_mut().zip(&l[1..]) {
            *a += b / layers.len() as f32;
        }
    }
    let (lo, hi) = m.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    m.iter().map(|v| if hi > lo { (v - lo) / (hi - lo) } else { 0.0 }).collect()
}

/// Draws the figure: `seen` is the preprocessed 8-bit image, `words` the token texts and
/// `attention[token][layer][position]`.
pub fn attention_figure(seen: &RgbImage, words: &[String], attention: &[Vec<Vec<f32>>], grid: usize) -> RgbImage {
    let panels = 1 + words.len() as u32;
    let cols = panels.min(COLUMNS);
    let rows = panels.div_ceil(COLUMNS);
    let mut out = RgbImage::from_pixel(cols * PANEL, rows * (PANEL + TITLE), Rgb([255, 255, 255]));
    let base = image::imageops::resize(seen, PANEL, PANEL, image::imageops::FilterType::CatmullRom);
    for p in 0..panels {
        let (px, py) = ((p % COLUMNS) * PANEL, (p / COLUMNS) * (PANEL + TITLE));
        let title = if p == 0 { "<image>".to_string() } else { words[p as usize - 1].trim().to_string() };
        draw_text(&mut out, px + 4, py + 3, if title.is_empty() { "' '" } else { &title }, PANEL - 8);
        let map = (p > 0).then(|| token_map(&attention[p as usize - 1], grid));
        for y in 0..PANEL {
            for x in 0..PANEL {
                let src = base.get_pixel(x, y).0;
                let pixel = match &map {
                    None => src,
                    Some(m) => {
                        let c = viridis(sample(m, grid, x, y));
                        [0, 1, 2].map(|i| (src[i] as f32 * (1.0 - ALPHA) + c[i] as f32 * ALPHA).round() as u8)
                    }
                };
                out.put_pixel(px + x, py + TITLE + y, Rgb(pixel));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viridis_endpoints() {
        // The polynomial fit stays within a few levels of matplotlib's table.
        let close = |a: [u8; 3], b: [u8; 3]| a.iter().zip(b).all(|(x, y)| (*x as i32 - y as i32).abs() <= 5);
        assert!(close(viridis(0.0), [68, 1, 84]), "{:?}", viridis(0.0));
        assert!(close(viridis(1.0), [253, 231, 37]), "{:?}", viridis(1.0));
    }

    #[test]
    fn token_map_drops_cls_and_scales() {
        let m = token_map(&[vec![0.9, 0.1, 0.2, 0.3, 0.4]], 2);
        assert_eq!(m.len(), 4);
        assert_eq!((m[0], m[3]), (0.0, 1.0));
    }
}
