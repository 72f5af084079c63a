//! WebP as Pillow opens it (libwebp's animation decoder, for still and animated files alike),
//! then `convert("RGB")`.
//!
//! libwebp starts the first frame of an animation on a transparent black canvas and writes the
//! frame's decoded pixels into its rectangle unblended (the first frame is a key frame), so
//! pixels outside the rectangle are black and transparent pixels keep their decoded colour. A
//! still image is the whole canvas. EXIF and XMP come from the `EXIF` and `XMP ` chunks.

use std::io::Cursor;

use image_webp::{DecodingError, WebPDecoder};

use super::convert;
use super::error::DecodeError;
use super::{Decoded, Limits};

const WEBP: &str = "WebP";

fn error(e: DecodingError) -> DecodeError {
    match e {
        DecodingError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            DecodeError::truncated(WEBP, "the file ends inside the image data")
        }
        DecodingError::ImageTooLarge | DecodingError::MemoryLimitExceeded => {
            DecodeError::corrupt(WEBP, "the image needs more memory than its size allows")
        }
        other => DecodeError::corrupt(WEBP, other),
    }
}

/// Decodes a still WebP to RGB (alpha dropped).
fn still(bytes: &[u8], limits: &Limits) -> Result<(u32, u32, Vec<u8>, usize), DecodeError> {
    let mut d = WebPDecoder::new(Cursor::new(bytes)).map_err(error)?;
    let (w, h) = d.dimensions();
    limits.check(w, h)?;
    d.set_memory_limit(limits.max_alloc());
    let channels = if d.has_alpha() { 4 } else { 3 };
    let mut buf = vec![0u8; d.output_buffer_size().ok_or_else(|| DecodeError::corrupt(WEBP, "image size overflows"))?];
    d.read_image(&mut buf).map_err(error)?;
    Ok((w, h, buf, channels))
}

pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Decoded, DecodeError> {
    let mut d = WebPDecoder::new(Cursor::new(bytes)).map_err(error)?;
    let (width, height) = d.dimensions();
    limits.check(width, height)?;
    let exif = d.exif_metadata().map_err(error)?;
    let xmp = d.xmp_metadata().map_err(error)?;
    let orientation = super::orient::resolve(exif.as_deref(), xmp.as_deref());
    let rgb = if d.is_animated() {
        let (x0, y0, frame) = first_frame(bytes)?;
        let (fw, fh, px, ch) = still(&frame, limits)?;
        if x0.checked_add(fw).is_none_or(|r| r > width) || y0.checked_add(fh).is_none_or(|b| b > height) {
            return Err(DecodeError::corrupt(WEBP, "the first frame lies outside the canvas"));
        }
        let mut canvas = vec![0u8; width as usize * height as usize * 3];
        for y in 0..fh as usize {
            for x in 0..fw as usize {
                let s = (y * fw as usize + x) * ch;
                let o = ((y0 as usize + y) * width as usize + x0 as usize + x) * 3;
                canvas[o..o + 3].copy_from_slice(&px[s..s + 3]);
            }
        }
        convert::from_interleaved(width, height, &canvas, 3)
    } else {
        let (w, h, px, ch) = still(bytes, limits)?;
        convert::from_interleaved(w, h, &px, ch)
    };
    Ok(Decoded { rgb, orientation })
}

/// The first `ANMF` frame of an animated file: its offset and its bitstream as a still WebP.
fn first_frame(bytes: &[u8]) -> Result<(u32, u32, Vec<u8>), DecodeError> {
    let bad = |what: &str| DecodeError::corrupt(WEBP, format!("animation frame: {what}"));
    let mut at = 12usize;
    while let Some(head) = bytes.get(at..at + 8) {
        let size = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
        let body = bytes.get(at + 8..at + 8 + size).ok_or_else(|| DecodeError::truncated(WEBP, "the file ends inside a chunk"))?;
        if &head[..4] == b"ANMF" {
            let u24 =
                |o: usize| body.get(o..o + 3).map(|b| u32::from_le_bytes([b[0], b[1], b[2], 0])).ok_or_else(|| bad("header too short"));
            let (x, y) = (u24(0)? * 2, u24(3)? * 2);
            let (w, h) = (u24(6)? + 1, u24(9)? + 1);
            let chunks = body.get(16..).ok_or_else(|| bad("no bitstream"))?;
            let has_alpha = chunks.starts_with(b"ALPH");
            let mut still = Vec::with_capacity(chunks.len() + 32);
            still.extend_from_slice(b"RIFF\0\0\0\0WEBP");
            if has_alpha {
                still.extend_from_slice(b"VP8X");
                still.extend_from_slice(&10u32.to_le_bytes());
                still.extend_from_slice(&[0x10, 0, 0, 0]);
                still.extend_from_slice(&(w - 1).to_le_bytes()[..3]);
                still.extend_from_slice(&(h - 1).to_le_bytes()[..3]);
            }
            still.extend_from_slice(chunks);
            let riff = u32::try_from(still.len() - 8).map_err(|_| bad("too large"))?;
            still[4..8].copy_from_slice(&riff.to_le_bytes());
            return Ok((x, y, still));
        }
        at += 8 + size + (size & 1);
    }
    Err(bad("the animation has no frame"))
}
