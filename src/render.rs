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
}
