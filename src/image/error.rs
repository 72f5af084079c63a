//! What can be wrong with an image file, in the words a user can act on. `crate::image::decode`
//! wraps these with the file's name into [`crate::Error::Image`].

use thiserror::Error;

/// Why a file was refused.
#[derive(Debug, Error)]
pub enum DecodeError {
    /// Not one of the formats glimpse reads (`found` names what the bytes look like, if anything).
    #[error("{found} images are not supported (PNG, JPEG, WebP or GIF)")]
    Unsupported { found: String },
    /// Bytes that are no known image format.
    #[error("not a recognised image (expected PNG, JPEG, WebP or GIF)")]
    Unrecognised,
    /// The file was empty.
    #[error("empty file (0 bytes)")]
    Empty,
    /// The file ends before the image data does (Pillow refuses these too).
    #[error("{format} data is truncated: {detail}")]
    Truncated { format: &'static str, detail: String },
    /// Bytes that break the format's rules.
    #[error("{format} data is corrupt: {detail}")]
    Corrupt { format: &'static str, detail: String },
    /// A valid file using a feature glimpse does not decode.
    #[error("{format} feature not supported: {detail}")]
    Feature { format: &'static str, detail: String },
    /// Header sizes over the limits, refused before any pixel buffer is allocated.
    #[error("image is {width}x{height} pixels, over the limit of {max_side} per side and {max_pixels} pixels")]
    TooLarge { width: u64, height: u64, max_side: u32, max_pixels: u64 },
    /// Zero width or height.
    #[error("image has no pixels ({width}x{height})")]
    NoPixels { width: u32, height: u32 },
}

impl DecodeError {
    pub(crate) fn corrupt(format: &'static str, detail: impl std::fmt::Display) -> Self {
        Self::Corrupt { format, detail: detail.to_string() }
    }
    pub(crate) fn truncated(format: &'static str, detail: impl std::fmt::Display) -> Self {
        Self::Truncated { format, detail: detail.to_string() }
    }
}
