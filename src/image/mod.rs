//! Photos in, model input out, exactly as HF transformers with Pillow prepare them.
//!
//! Decoding gives the picture Pillow 13 gives for
//! `ImageOps.exif_transpose(Image.open(f)).convert("RGB")`, pixel for pixel, or refuses the file
//! where Pillow refuses it (truncated or corrupt data): nothing is ever filled in. PNG, GIF and
//! WebP are parsed by the `png`, `gif` and `image-webp` crates with Pillow's mode semantics on
//! top ([`convert`]); JPEG has its own decoder ([`jpeg`]) whose IDCT, upsampling and colour
//! conversion are those of libjpeg-turbo, which Pillow uses. The proof is a corpus of 440 files
//! with Pillow's answers (`tests/fixtures/make_image_corpus.py`, `tests/it/image_corpus.rs`).
//!
//! Preprocessing ([`preprocess()`]) resizes with a port of Pillow's resampler ([`resize`]), then
//! crops, rescales and normalises as HF's `CLIPImageProcessor` / `ViTImageProcessor` do.
//! Everything here runs the same natively and in the page.

mod convert;
mod decode;
mod error;
mod gif;
pub mod jpeg;
mod orient;
mod png;
mod preprocess;
mod resize;
mod webp;

use std::io::Read;

use image::RgbImage;

pub use self::decode::{Decoded, Format, Limits, sniff};
pub use self::error::DecodeError;
pub use self::preprocess::{center_crop, normalize, preprocess, resize_and_crop, shortest_edge_size};
pub use self::resize::resize_pil;
use crate::error::{Error, Result};
pub(crate) use crate::hf::preprocessor::Filter;

/// Largest accepted side, in pixels.
pub const MAX_SIDE: u32 = 16_384;
/// Largest accepted pixel count (width x height).
pub const MAX_PIXELS: u64 = 80_000_000;
/// Largest image file read, in bytes.
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// The limits every decode runs under.
pub const LIMITS: Limits = Limits { max_side: MAX_SIDE, max_pixels: MAX_PIXELS };

/// Decodes an image file's bytes to 8-bit RGB, with EXIF orientation applied.
/// `name` is the file name or path used in error messages.
pub fn decode(bytes: &[u8], name: &str) -> Result<RgbImage> {
    decode::decode_rgb(bytes, &LIMITS).map_err(|e| Error::image(name, e.to_string()))
}

/// Reads and decodes an image file. Only regular files are read (a FIFO or device named
/// `x.png` is refused, not waited on), and at most [`MAX_FILE_BYTES`].
pub fn open(path: &std::path::Path) -> Result<RgbImage> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::image(path.display().to_string(), "not a regular file"));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(Error::image(path.display().to_string(), format!("file is {} bytes, over the limit of {MAX_FILE_BYTES}", meta.len())));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    std::fs::File::open(path).and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)).map_err(|e| Error::io(path, e))?;
    decode(&bytes, &path.display().to_string())
}
