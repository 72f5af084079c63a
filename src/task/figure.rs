//! The attention figure of `caption --attention-dir` and of the page's "attention figure"
//! button, in the style of the seed report: the
//! image the model saw, then one panel per caption token with that token's cross-attention
//! (mean over layers, patches only) upsampled over the image, the token as the panel title.

use image::{Rgb, RgbImage};

use crate::render::draw_text;
use crate::task::heatmap::{token_map, viridis};

/// Panel side in pixels.
const PANEL: u32 = 224;
/// Title band height (8x8 font drawn at 2x).
const TITLE: u32 = 22;
/// Panels per row.
const COLUMNS: u32 = 5;
/// Overlay opacity.
const ALPHA: f32 = 0.6;

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
        draw_text(&mut out, px + 4, py + 3, if title.is_empty() { "' '" } else { &title }, PANEL - 8, [20, 20, 20]);
        let map = (p > 0).then(|| token_map(&attention[p as usize - 1], grid * grid, None));
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
