//! PNG (and APNG's default image) as Pillow's PngImagePlugin opens it, then `convert("RGB")`.
//!
//! Samples are read raw (the `png` crate with no transformations) and mapped as Pillow's modes
//! and raw modes do: 1-bit grey is "1" (0 or 255), 2- and 4-bit grey are scaled to 8 bits
//! (x85, x17), 16-bit grey is "I;16" (clipped at 255), 16-bit colour keeps the high byte of each
//! sample, palettes are looked up (indices past the palette are black), grey+alpha and RGBA drop
//! the alpha. tRNS never changes a colour. An APNG gives its IDAT image, which is the frame
//! Pillow shows first. EXIF comes from `eXIf` (before or after the image data) or a "Raw profile
//! type exif" text chunk, XMP from the "XML:com.adobe.xmp" text chunk.
//!
//! Integrity as Pillow checks it: every chunk before the image data must have its CRC (Pillow
//! reads those while opening), the image data's zlib stream its Adler-32; the CRCs of IDAT and
//! of later chunks are not checked, and a file that ends after complete image data (no IEND)
//! decodes.

use std::io::Cursor;

use image::RgbImage;
use png::{BitDepth, ColorType, DecodeOptions, Decoder, Transformations};

use super::convert;
use super::error::DecodeError;
use super::{Decoded, Limits};

const PNG: &str = "PNG";

fn error(e: png::DecodingError) -> DecodeError {
    match e {
        png::DecodingError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            DecodeError::truncated(PNG, "the file ends inside the image data")
        }
        png::DecodingError::LimitsExceeded => DecodeError::corrupt(PNG, "the image needs more memory than its size allows"),
        other => DecodeError::corrupt(PNG, other),
    }
}

pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Decoded, DecodeError> {
    check_header_crcs(bytes)?;
    match read(bytes, limits) {
        // Pillow stops at the end of the image data; the png crate wants the chunk after it.
        Err(DecodeError::Truncated { .. }) if !bytes.ends_with(IEND) => {
            let mut ended = bytes.to_vec();
            ended.extend_from_slice(IEND);
            read(&ended, limits).map_err(|_| DecodeError::truncated(PNG, "the file ends inside the image data"))
        }
        other => other,
    }
}

/// An IEND chunk: length 0, type, CRC.
const IEND: &[u8] = b"\0\0\0\0IEND\xae\x42\x60\x82";

/// The CRC of every chunk before the first IDAT, as Pillow verifies them while opening a file.
fn check_header_crcs(bytes: &[u8]) -> Result<(), DecodeError> {
    let mut at = 8usize;
    loop {
        let head = bytes.get(at..at + 8).ok_or_else(|| DecodeError::truncated(PNG, "the file ends before the image data"))?;
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let kind = &head[4..8];
        if kind == b"IDAT" {
            return Ok(());
        }
        let end = at.checked_add(12).and_then(|e| e.checked_add(len)).filter(|&e| e <= bytes.len());
        let end =
            end.ok_or_else(|| DecodeError::truncated(PNG, format!("the file ends inside the {} chunk", String::from_utf8_lossy(kind))))?;
        let stored = u32::from_be_bytes([bytes[end - 4], bytes[end - 3], bytes[end - 2], bytes[end - 1]]);
        if crc32fast::hash(&bytes[at + 4..end - 4]) != stored {
            return Err(DecodeError::corrupt(PNG, format!("bad checksum in the {} chunk", String::from_utf8_lossy(kind))));
        }
        if kind == b"IEND" {
            return Err(DecodeError::corrupt(PNG, "the file has no image data"));
        }
        at = end;
    }
}

fn read(bytes: &[u8], limits: &Limits) -> Result<Decoded, DecodeError> {
    let mut opts = DecodeOptions::default();
    opts.set_ignore_crc(true);
    opts.set_ignore_adler32(false);
    let mut decoder = Decoder::new_with_options(Cursor::new(bytes), opts);
    decoder.set_limits(png::Limits { bytes: limits.max_alloc() });
    decoder.set_transformations(Transformations::IDENTITY);
    let header = decoder.read_header_info().map_err(error)?;
    let (width, height) = header.size();
    limits.check(width, height)?;
    let mut reader = decoder.read_info().map_err(error)?;
    let mut buf = vec![0u8; reader.output_buffer_size().ok_or_else(|| DecodeError::corrupt(PNG, "image size overflows"))?];
    let frame = reader.next_frame(&mut buf).map_err(error)?;
    // Chunks after the image data (eXIf may stand there); Pillow ignores damage there.
    let _ = reader.finish();
    let info = reader.info();
    let stride = frame.line_size;
    let rows = || buf.chunks(stride).take(height as usize);
    let w = width as usize;
    let rgb: RgbImage = match (info.color_type, info.bit_depth) {
        (ColorType::Grayscale, BitDepth::Sixteen) => {
            convert::from_i16(width, height, rows().flat_map(|r| r.chunks_exact(2).take(w).map(|s| u16::from_be_bytes([s[0], s[1]]))))
        }
        (ColorType::Grayscale, depth) => {
            let bits = depth as u8;
            let scale = 255 / ((1u16 << bits) - 1) as u8;
            convert::from_gray(width, height, rows().flat_map(|r| unpack(r, bits, w).map(move |v| v * scale)))
        }
        (ColorType::Indexed, depth) => {
            let idx: Vec<u8> = rows().flat_map(|r| unpack(r, depth as u8, w)).collect();
            let palette = info.palette.as_deref().unwrap_or(&[]);
            convert::from_palette(width, height, &idx, palette)
        }
        (ColorType::GrayscaleAlpha, BitDepth::Sixteen) => {
            convert::from_gray(width, height, rows().flat_map(|r| r.chunks_exact(4).take(w).map(|s| s[0])))
        }
        (ColorType::GrayscaleAlpha, _) => convert::from_gray(width, height, rows().flat_map(|r| r.chunks_exact(2).take(w).map(|s| s[0]))),
        (ColorType::Rgb, BitDepth::Sixteen) => {
            let hi: Vec<u8> = rows().flat_map(|r| r[..w * 6].chunks_exact(2).map(|s| s[0])).collect();
            convert::from_interleaved(width, height, &hi, 3)
        }
        (ColorType::Rgba, BitDepth::Sixteen) => {
            let hi: Vec<u8> = rows().flat_map(|r| r[..w * 8].chunks_exact(2).map(|s| s[0])).collect();
            convert::from_interleaved(width, height, &hi, 4)
        }
        (ColorType::Rgb, _) => {
            convert::from_interleaved(width, height, &rows().flat_map(|r| r[..w * 3].iter().copied()).collect::<Vec<_>>(), 3)
        }
        (ColorType::Rgba, _) => {
            convert::from_interleaved(width, height, &rows().flat_map(|r| r[..w * 4].iter().copied()).collect::<Vec<_>>(), 4)
        }
    };
    Ok(Decoded { rgb, orientation: orientation(info) })
}

/// Samples of `bits` each (1, 2, 4 or 8), most significant first, `n` of them.
fn unpack(row: &[u8], bits: u8, n: usize) -> impl Iterator<Item = u8> + '_ {
    let per = 8 / bits as usize;
    let mask = ((1u16 << bits) - 1) as u8;
    (0..n).map(move |i| {
        let byte = row.get(i / per).copied().unwrap_or(0);
        let shift = 8 - bits as usize * (i % per + 1);
        (byte >> shift) & mask
    })
}

fn orientation(info: &png::Info) -> Option<u32> {
    let texts = || {
        let plain = info.uncompressed_latin1_text.iter().map(|t| (t.keyword.clone(), Some(t.text.clone())));
        let z = info.compressed_latin1_text.iter().map(|t| (t.keyword.clone(), t.get_text().ok()));
        let i = info.utf8_text.iter().map(|t| (t.keyword.clone(), t.get_text().ok()));
        plain.chain(z).chain(i)
    };
    let raw_profile = || {
        texts().find(|(k, _)| k == "Raw profile type exif").and_then(|(_, t)| {
            // "\nexif\n   length\nHEX..." : the hex digits after the third line.
            let hex: String = t?.split('\n').skip(3).collect();
            (0..hex.len() / 2).map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()).collect::<Option<Vec<u8>>>()
        })
    };
    let exif = info.exif_metadata.as_deref().map(<[u8]>::to_vec).or_else(raw_profile);
    let xmp = texts().find(|(k, _)| k == "XML:com.adobe.xmp").and_then(|(_, t)| t);
    super::orient::resolve(exif.as_deref(), xmp.as_deref().map(str::as_bytes))
}
