//! From a file's bytes to the RGB picture Pillow gives for
//! `ImageOps.exif_transpose(Image.open(f)).convert("RGB")`: the format is told by its magic
//! bytes (as Pillow does; the file name's extension does not matter), each format's decoder
//! maps its modes to RGB as Pillow converts them, then the EXIF orientation is applied.

use image::RgbImage;

use super::error::DecodeError;
use super::{gif, jpeg, orient, png, webp};

/// Size limits checked from the header, before any pixel buffer is allocated.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest accepted width or height, in pixels.
    pub max_side: u32,
    /// Largest accepted width x height.
    pub max_pixels: u64,
}

impl Limits {
    /// Refuses sizes over the limits or with no pixels.
    pub fn check(&self, width: u32, height: u32) -> Result<(), DecodeError> {
        if width == 0 || height == 0 {
            return Err(DecodeError::NoPixels { width, height });
        }
        if width > self.max_side || height > self.max_side || u64::from(width) * u64::from(height) > self.max_pixels {
            return Err(DecodeError::TooLarge {
                width: width.into(),
                height: height.into(),
                max_side: self.max_side,
                max_pixels: self.max_pixels,
            });
        }
        Ok(())
    }

    /// Bytes a decoder may allocate: 8 bytes a pixel (16-bit RGBA) at the largest size.
    pub fn max_alloc(&self) -> usize {
        usize::try_from(self.max_pixels.saturating_mul(8)).unwrap_or(usize::MAX)
    }
}

/// One format decoder's result: Pillow's picture converted to RGB, before orientation.
pub struct Decoded {
    pub rgb: RgbImage,
    /// The EXIF orientation Pillow's `getexif()` finds (EXIF, else XMP).
    pub orientation: Option<u32>,
}

/// The formats glimpse decodes, told by their first bytes as Pillow's plugins tell them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Png,
    Jpeg,
    WebP,
    Gif,
}

/// Which format the bytes are, or why none.
pub fn sniff(bytes: &[u8]) -> Result<Format, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    Ok(match bytes {
        [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1A, b'\n', ..] => Format::Png,
        [0xFF, 0xD8, 0xFF, ..] => Format::Jpeg,
        [b'G', b'I', b'F', b'8', b'7' | b'9', b'a', ..] => Format::Gif,
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Format::WebP,
        _ => {
            return Err(match ::image::guess_format(bytes) {
                Ok(f) => DecodeError::Unsupported { found: format!("{f:?}") },
                Err(_) => DecodeError::Unrecognised,
            });
        }
    })
}

/// Decodes any supported file to RGB with its EXIF orientation applied.
pub fn decode_rgb(bytes: &[u8], limits: &Limits) -> Result<RgbImage, DecodeError> {
    let d = match sniff(bytes)? {
        Format::Png => png::decode(bytes, limits)?,
        Format::Gif => gif::decode(bytes, limits)?,
        Format::WebP => webp::decode(bytes, limits)?,
        Format::Jpeg => jpeg_decode(bytes, limits)?,
    };
    Ok(orient::apply(d.rgb, d.orientation))
}

fn jpeg_decode(bytes: &[u8], limits: &Limits) -> Result<Decoded, DecodeError> {
    const JPEG: &str = "JPEG";
    let j = jpeg::decode(bytes, limits.max_pixels).map_err(|e| match e {
        jpeg::JpegError::Truncated { context, offset, len } => {
            DecodeError::truncated(JPEG, format!("the file ends inside {context} (at byte {offset} of {len})"))
        }
        jpeg::JpegError::Unsupported(what) => DecodeError::Feature { format: JPEG, detail: what },
        jpeg::JpegError::TooLarge { width, height } => {
            DecodeError::TooLarge { width: width.into(), height: height.into(), max_side: limits.max_side, max_pixels: limits.max_pixels }
        }
        jpeg::JpegError::Corrupt(detail) => DecodeError::corrupt(JPEG, detail),
    })?;
    limits.check(j.width, j.height)?;
    let rgb = match j.color {
        jpeg::Color::Gray => super::convert::from_gray(j.width, j.height, j.pixels.iter().copied()),
        jpeg::Color::Rgb => super::convert::from_interleaved(j.width, j.height, &j.pixels, 3),
        jpeg::Color::Cmyk => super::convert::from_cmyk(j.width, j.height, &j.pixels),
    };
    Ok(Decoded { rgb, orientation: orient::resolve(j.exif.as_deref(), j.xmp.as_deref()) })
}
