//! Pillow's `Image.convert("RGB")` from the modes its plugins open files in. Transparency is
//! dropped, never composited: a transparent pixel keeps the colour stored for it (the palette
//! entry of a transparent index, the RGB of an RGBA pixel), as Pillow does.

use image::RgbImage;

/// "L" (and "1", whose samples are 0 or 255): the grey level in all three channels.
pub fn from_gray(width: u32, height: u32, gray: impl IntoIterator<Item = u8>) -> RgbImage {
    from_rgb_iter(width, height, gray.into_iter().map(|g| [g, g, g]))
}

/// "P": palette lookup; an index past the end of the palette is black, as in Pillow.
pub fn from_palette(width: u32, height: u32, indices: &[u8], palette: &[u8]) -> RgbImage {
    let mut table = [[0u8; 3]; 256];
    for (t, c) in table.iter_mut().zip(palette.chunks_exact(3)) {
        *t = [c[0], c[1], c[2]];
    }
    from_rgb_iter(width, height, indices.iter().map(|&i| table[usize::from(i)]))
}

/// "I;16" (16-bit grey): Pillow clips to 255 rather than scaling (`I16_RGB` in Convert.c).
pub fn from_i16(width: u32, height: u32, values: impl IntoIterator<Item = u16>) -> RgbImage {
    from_gray(width, height, values.into_iter().map(|v| v.min(255) as u8))
}

/// "CMYK": Pillow's `cmyk2rgb`, `r = 255 - k - c * (255 - k) / 255` with its rounding.
pub fn from_cmyk(width: u32, height: u32, cmyk: &[u8]) -> RgbImage {
    let muldiv255 = |a: u32, b: u32| {
        let t = a * b + 128;
        ((t >> 8) + t) >> 8
    };
    from_rgb_iter(
        width,
        height,
        cmyk.chunks_exact(4).map(|p| {
            let nk = 255 - u32::from(p[3]);
            let ch = |c: u8| (nk - muldiv255(u32::from(c), nk)) as u8;
            [ch(p[0]), ch(p[1]), ch(p[2])]
        }),
    )
}

/// Interleaved samples with `channels` per pixel, the first three taken as RGB ("RGB", "RGBA").
pub fn from_interleaved(width: u32, height: u32, samples: &[u8], channels: usize) -> RgbImage {
    from_rgb_iter(width, height, samples.chunks_exact(channels).map(|p| [p[0], p[1], p[2]]))
}

fn from_rgb_iter(width: u32, height: u32, px: impl Iterator<Item = [u8; 3]>) -> RgbImage {
    let n = width as usize * height as usize;
    let mut raw = Vec::with_capacity(n * 3);
    for p in px.take(n) {
        raw.extend_from_slice(&p);
    }
    raw.resize(n * 3, 0);
    RgbImage::from_raw(width, height, raw).expect("buffer sized to the dimensions")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmyk_matches_pillow() {
        // Values from Pillow 13: convert("RGB") of these CMYK pixels.
        let img = from_cmyk(5, 1, &[0, 0, 0, 0, 255, 0, 0, 0, 100, 50, 200, 30, 10, 20, 30, 255, 200, 200, 200, 128]);
        let px: Vec<[u8; 3]> = img.pixels().map(|p| p.0).collect();
        assert_eq!(px, [[255, 255, 255], [0, 255, 255], [137, 181, 49], [0, 0, 0], [27, 27, 27]]);
    }

    #[test]
    fn i16_clips_and_short_palettes_are_black() {
        let img = from_i16(4, 1, [0, 200, 256, 65535]);
        assert_eq!(img.pixels().map(|p| p[0]).collect::<Vec<_>>(), [0, 200, 255, 255]);
        let img = from_palette(3, 1, &[0, 1, 2], &[10, 20, 30, 40, 50, 60]);
        assert_eq!(img.get_pixel(2, 0).0, [0, 0, 0]);
    }
}
