//! GIF's first frame as Pillow's GifImagePlugin shows it, then `convert("RGB")`.
//!
//! Pillow opens the first frame as "P" over the logical screen (grown to hold a frame that
//! extends past it): the area outside the frame holds the frame's transparent index if it has
//! one, else index 0; every pixel of the frame keeps its index, transparent or not; the frame's
//! palette is its local table, else the global one; indices past the table are black. Without
//! any colour table the indices are grey levels ("L"). Later frames and their disposal do not
//! change the first frame.

use std::io::Cursor;

use gif::{ColorOutput, DecodeOptions, MemoryLimit};

use super::convert;
use super::error::DecodeError;
use super::{Decoded, Limits};

const GIF: &str = "GIF";

fn error(e: gif::DecodingError) -> DecodeError {
    match e {
        gif::DecodingError::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            DecodeError::truncated(GIF, "the file ends inside the first frame")
        }
        other => DecodeError::corrupt(GIF, other),
    }
}

pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Decoded, DecodeError> {
    let mut opts = DecodeOptions::new();
    opts.set_color_output(ColorOutput::Indexed);
    opts.set_memory_limit(MemoryLimit::Bytes(std::num::NonZeroU64::new(limits.max_alloc() as u64).expect("non-zero limit")));
    let mut decoder = opts.read_info(Cursor::new(bytes)).map_err(error)?;
    let global = decoder.global_palette().map(<[u8]>::to_vec);
    let (screen_w, screen_h) = (u32::from(decoder.width()), u32::from(decoder.height()));
    let frame = decoder.read_next_frame().map_err(error)?.ok_or_else(|| DecodeError::corrupt(GIF, "the file has no image"))?;
    let (left, top, fw, fh) = (u32::from(frame.left), u32::from(frame.top), u32::from(frame.width), u32::from(frame.height));
    let width = screen_w.max(left + fw);
    let height = screen_h.max(top + fh);
    limits.check(width, height)?;
    if frame.buffer.len() < fw as usize * fh as usize {
        return Err(DecodeError::truncated(GIF, "the first frame has fewer pixels than its size"));
    }
    let fill = frame.transparent.unwrap_or(0);
    let mut idx = vec![fill; width as usize * height as usize];
    for y in 0..fh as usize {
        let src = &frame.buffer[y * fw as usize..(y + 1) * fw as usize];
        let at = (top as usize + y) * width as usize + left as usize;
        idx[at..at + fw as usize].copy_from_slice(src);
    }
    let palette = frame.palette.clone().or(global);
    let rgb = match palette {
        Some(p) => convert::from_palette(width, height, &idx, &p),
        None => convert::from_gray(width, height, idx.iter().copied()),
    };
    let xmp = decoder.xmp_metadata().map(<[u8]>::to_vec);
    Ok(Decoded { rgb, orientation: xmp.as_deref().and_then(super::orient::from_xmp) })
}
