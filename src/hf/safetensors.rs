//! The safetensors container, read header first and then tensor by tensor.
//!
//! Nothing here needs the whole file in memory: [`Header::parse`] takes the first bytes of the
//! file (8 + header length), and each tensor's bytes are then read (natively with a seek, in the
//! browser with an HTTP range request) and handed to [`Weights::insert`] one at a time, so the
//! peak host memory while loading is one tensor.

use std::ops::Range;

use safetensors::tensor::Dtype;
use serde::Deserialize;

use crate::error::{Error, Result};

/// Bytes before the JSON header: its length as a little-endian u64.
pub const PREFIX_LEN: usize = 8;
/// Largest header accepted (the format's own limit).
pub const MAX_HEADER_LEN: usize = 100_000_000;

/// One tensor as the header describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorEntry {
    /// Key, e.g. `vision_model.embeddings.class_embedding`.
    pub name: String,
    /// Stored element type, e.g. `F32`, `F16`, `BF16`.
    pub dtype: Dtype,
    /// Shape, row-major.
    pub shape: Vec<usize>,
    /// Absolute byte range in the file.
    pub range: Range<u64>,
}

/// One tensor's entry in the JSON header.
#[derive(Deserialize)]
struct Info {
    dtype: Dtype,
    shape: Vec<usize>,
    data_offsets: (u64, u64),
}

/// The parsed header of a safetensors file.
#[derive(Debug, Clone)]
pub struct Header {
    /// Tensors in file order.
    pub tensors: Vec<TensorEntry>,
    /// Size the whole file must have: header plus data.
    pub file_len: u64,
}

impl Header {
    /// Length of the JSON header announced by the first 8 bytes (so a caller knows how much to
    /// fetch before [`Header::parse`]).
    pub fn header_len(prefix: &[u8], path: &str) -> Result<usize> {
        let bytes: [u8; PREFIX_LEN] = prefix
            .get(..PREFIX_LEN)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad(path, format!("file is {} bytes, too short for a header", prefix.len())))?;
        let n = u64::from_le_bytes(bytes);
        if n as usize > MAX_HEADER_LEN || n < 2 {
            return Err(bad(path, format!("header length {n} is not plausible (corrupt file?)")));
        }
        Ok(n as usize)
    }

    /// Parses the header from the first `8 + header_len` bytes of the file (more is fine), and
    /// checks it as the format requires, naming the tensor at fault: a known dtype, a shape whose
    /// byte size (computed without overflow) equals its data range, and ranges that tile the
    /// data from its first byte with no gap or overlap.
    pub fn parse(start: &[u8], path: &str) -> Result<Self> {
        let n = Self::header_len(start, path)?;
        let json = start
            .get(PREFIX_LEN..PREFIX_LEN + n)
            .ok_or_else(|| bad(path, format!("header needs {} bytes, file has {}", PREFIX_LEN + n, start.len())))?;
        let text = std::str::from_utf8(json).map_err(|e| bad(path, format!("header is not UTF-8: {e}")))?;
        let meta: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(text).map_err(|e| bad(path, format!("header is not a JSON object: {e}")))?;
        let base = (PREFIX_LEN + n) as u64;
        let mut tensors = Vec::with_capacity(meta.len());
        for (name, value) in &meta {
            if name == "__metadata__" {
                continue;
            }
            let info = Info::deserialize(value).map_err(|e| bad(path, format!("tensor `{name}`: {e}")))?;
            let (begin, end) = info.data_offsets;
            let bits = info.shape.iter().try_fold(info.dtype.bitsize() as u64, |b, &d| b.checked_mul(d as u64));
            let want = bits.filter(|b| b % 8 == 0).map(|b| b / 8);
            if end < begin || want != Some(end - begin) {
                return Err(bad(
                    path,
                    format!(
                        "tensor `{name}`: shape {:?} of {:?} does not fill its data range {begin}..{end} ({})",
                        info.shape,
                        info.dtype,
                        want.map_or("its size overflows".to_string(), |w| format!("it needs {w} bytes"))
                    ),
                ));
            }
            let range = base
                .checked_add(begin)
                .zip(base.checked_add(end))
                .ok_or_else(|| bad(path, format!("tensor `{name}`: offsets overflow")))?;
            tensors.push(TensorEntry { name: name.clone(), dtype: info.dtype, shape: info.shape, range: range.0..range.1 });
        }
        tensors.sort_by_key(|t| (t.range.start, t.range.end));
        let mut at = base;
        for t in &tensors {
            if t.range.start != at {
                let what = if t.range.start < at { "overlaps the tensor before it" } else { "leaves a gap before it" };
                return Err(bad(path, format!("tensor `{}`: data range {}..{} {what}", t.name, t.range.start - base, t.range.end - base)));
            }
            at = t.range.end;
        }
        Ok(Self { tensors, file_len: at })
    }

    /// Checks that a file of `actual_len` bytes holds every tensor the header announces.
    pub fn check_len(&self, actual_len: u64, path: &str) -> Result<()> {
        if actual_len < self.file_len {
            let first_cut = self.tensors.iter().find(|t| t.range.end > actual_len).map(|t| t.name.as_str()).unwrap_or("?");
            return Err(bad(
                path,
                format!(
                    "file is truncated: {actual_len} bytes, the header announces {} (tensor `{first_cut}` and later are cut off)",
                    self.file_len
                ),
            ));
        }
        Ok(())
    }
}

fn bad(path: &str, message: String) -> Error {
    Error::Safetensors { path: path.to_string(), message }
}
