//! A baseline + progressive JPEG decoder (std only) whose pixels are bit-for-bit what Pillow
//! (libjpeg-turbo inside, default settings: `JDCT_ISLOW`, fancy upsampling, block smoothing)
//! gives for `Image.open(f)` before any conversion.
//!
//! Each stage is a port of the libjpeg-turbo code that Pillow runs:
//!
//! - [`markers`]: segment parsing as `jdmarker.c` (what is accepted, skipped, rejected), the
//!   colour-space guess of `default_decompress_parms` (JFIF, Adobe transform, component ids) and
//!   Pillow's metadata (`info["exif"]`, `info["xmp"]`) and mode ("L", "RGB", "CMYK" with the
//!   inverted "CMYK;I" raw mode that Pillow always uses for 4-component files);
//! - [`huffman`]: the bit reader and the sequential and progressive entropy decoders
//!   (`jdhuff.c`, `jdphuff.c`), with libjpeg's recovery from damaged data (zero bits after an
//!   unexpected marker, symbol 0 for an invalid code, restart-marker resynchronisation);
//! - [`idct`]: `jpeg_idct_islow` (`jidctint.c`);
//! - [`upsample`]: `jdsample.c` fancy upsampling (h2v1, h1v2, h2v2) and integral replication;
//! - [`color`]: `jdcolor.c` fixed-point YCbCr->RGB and YCCK->CMYK.
//!
//! Truncation follows Pillow: data that ends where libjpeg still wants bytes (inside the
//! entropy-coded data of the image or, for a progressive or multi-scan file, anywhere before
//! the end-of-image marker) is an error ("image file is truncated" in Pillow). One deliberate
//! difference: where a marker cuts a scan short (a file cut and then closed with an EOI, a
//! damaged byte that reads as a marker), libjpeg warns and paints the rest of the segment grey,
//! and Pillow returns that picture; glimpse refuses the file, since those pixels are invented.
//!
//! Progressive files whose low AC coefficients are not fully refined by the end of the data get
//! libjpeg's inter-block smoothing ([`smooth`]), as in Pillow.
//!
//! Refused (an error, where Pillow would decode): arithmetic coding, lossless and hierarchical
//! JPEG. 12-bit and 2-component files are refused as Pillow refuses them.

mod color;
mod decoder;
mod huffman;
mod idct;
mod markers;
mod smooth;
mod upsample;

use std::fmt;

/// A decoded JPEG.
#[derive(Clone, Debug)]
pub struct Jpeg {
    pub width: u32,
    pub height: u32,
    pub color: Color,
    /// Interleaved samples, row-major, `width * height * color.channels()` bytes.
    pub pixels: Vec<u8>,
    /// Pillow's `info["exif"]`: the payload of the first APP1 segment starting `Exif\0\0`
    /// (prefix included), with the payloads of any further Exif APP1 segments appended without
    /// their prefix, as Pillow does. Only segments before the first scan are read.
    pub exif: Option<Vec<u8>>,
    /// Pillow's `info["xmp"]`: the payload after `http://ns.adobe.com/xap/1.0/\0` of the last
    /// such APP1 segment before the first scan (Pillow keeps the last one).
    pub xmp: Option<Vec<u8>>,
}

/// The pixel layout, named after Pillow's mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Color {
    /// "L": one byte per pixel.
    Gray,
    /// "RGB": three bytes per pixel.
    Rgb,
    /// "CMYK": four bytes per pixel, as Pillow stores them (inverted from the file's Adobe
    /// convention: Pillow reads every 4-component JPEG with the "CMYK;I" raw mode).
    Cmyk,
}

impl Color {
    pub fn channels(self) -> usize {
        match self {
            Color::Gray => 1,
            Color::Rgb => 3,
            Color::Cmyk => 4,
        }
    }
}

/// Why a JPEG could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JpegError {
    /// The data ends early. `context` names where, `offset` is the byte where the decoder ran
    /// out (the file's length), `len` the file's length.
    Truncated { context: String, offset: usize, len: usize },
    /// The data is malformed in a way libjpeg treats as fatal.
    Corrupt(String),
    /// A valid JPEG using a feature this decoder does not handle.
    Unsupported(String),
    /// The frame header declares more pixels than allowed (checked before any allocation).
    TooLarge { width: u32, height: u32 },
}

impl fmt::Display for JpegError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JpegError::Truncated { context, offset, len } => {
                write!(f, "JPEG data ends inside {context} (at byte {offset} of {len}); the file is truncated")
            }
            JpegError::Corrupt(m) => write!(f, "corrupt JPEG: {m}"),
            JpegError::Unsupported(m) => write!(f, "{m}"),
            JpegError::TooLarge { width, height } => {
                write!(f, "JPEG is {width}x{height} pixels, more than the allowed number of pixels")
            }
        }
    }
}

impl std::error::Error for JpegError {}

/// Decodes the main image of a JPEG file (the first frame after SOI; APPn payloads such as an
/// EXIF thumbnail are skipped by their length and anything after the main image's EOI is
/// ignored). `max_pixels` bounds `width * height`, checked from the frame header before any
/// pixel or coefficient buffer is allocated.
pub fn decode(bytes: &[u8], max_pixels: u64) -> Result<Jpeg, JpegError> {
    decoder::decode(bytes, max_pixels)
}
