//! Small raster helpers for the PNGs the CLI writes (attention figures, training plots):
//! an 8x8 bitmap font drawn at 2x, lines, and the viridis colour map.

use font8x8::UnicodeFonts;
use image::{Rgb, RgbImage};

/// Height of a line of text drawn by [`draw_text`].
pub const TEXT_HEIGHT: u32 = 16;

/// Draws `text` at (x0, y0) in 16 px glyphs, clipped to `max_width`.
pub fn draw_text(img: &mut RgbImage, x0: u32, y0: u32, text: &str, max_width: u32, color: [u8; 3]) {
    let mut x = x0;
    for ch in text.chars() {
        if x + 16 > x0 + max_width {
            break;
        }
        let glyph = font8x8::BASIC_FONTS
            .get(ch)
            .or_else(|| font8x8::LATIN_FONTS.get(ch))
            .or_else(|| font8x8::BASIC_FONTS.get('?'))
            .unwrap_or([0; 8]);
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8u32 {
                if bits & (1 << col) != 0 {
                    for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                        let (px, py) = (x + col * 2 + dx, y0 + row as u32 * 2 + dy);
                        if px < img.width() && py < img.height() {
                            img.put_pixel(px, py, Rgb(color));
                        }
                    }
                }
            }
        }
        x += 16;
    }
}

/// Draws a line segment (2 px wide).
pub fn draw_line(img: &mut RgbImage, (x0, y0): (f32, f32), (x1, y1): (f32, f32), color: [u8; 3]) {
    let steps = ((x1 - x0).abs().max((y1 - y0).abs()).ceil() as usize).max(1);
    for s in 0..=steps {
        let t = s as f32 / steps as f32;
        let (x, y) = (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t);
        for (dx, dy) in [(0, 0), (1, 0), (0, 1)] {
            let (px, py) = (x as i64 + dx, y as i64 + dy);
            if px >= 0 && py >= 0 && (px as u32) < img.width() && (py as u32) < img.height() {
                img.put_pixel(px as u32, py as u32, Rgb(color));
            }
        }
    }
}
