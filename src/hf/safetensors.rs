//! The safetensors container, read header first and then tensor by tensor.
//!
//! Nothing here needs the whole file in memory: [`Header::parse`] takes the first bytes of the
//! file (8 + header length), and each tensor's bytes are then read (natively with a seek, in the
//! browser with an HTTP range request) and handed to [`Weights::insert`] one at a time, so the
//! peak host memory while loading is one tensor.

use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::Path;

use safetensors::tensor::Dtype;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::hf::stream::StreamedFile;
use crate::hf::weights::Weights;

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
            let range = base.checked_add(begin).zip(base.checked_add(end)).ok_or_else(|| bad(path, format!("tensor `{name}`: offsets overflow")))?;
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

/// Reads the tensors of a safetensors file into `weights`, one at a time, converting them to f32
/// on the way. `rename` maps each key to the name it is stored under, or `None` to skip it
/// (not read at all). Returns the names stored.
pub fn read_file(path: &Path, rename: &dyn Fn(&str) -> Option<String>, weights: &mut Weights) -> Result<Vec<String>> {
    let shown = path.display().to_string();
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut prefix = [0u8; PREFIX_LEN];
    file.read_exact(&mut prefix).map_err(|_| bad(&shown, format!("file is {len} bytes, too short for a header")))?;
    let n = Header::header_len(&prefix, &shown)?;
    if (PREFIX_LEN + n) as u64 > len {
        return Err(bad(&shown, format!("header needs {} bytes, file has {len} (truncated?)", PREFIX_LEN + n)));
    }
    let mut start = prefix.to_vec();
    start.resize(PREFIX_LEN + n, 0);
    file.read_exact(&mut start[PREFIX_LEN..]).map_err(|e| Error::io(path, e))?;
    let mut streamed = StreamedFile::open(&start, &shown, Some(len), rename, weights)?;
    for chunk in streamed.plan(u64::MAX).chunks {
        for t in chunk.tensors {
            let mut buf = vec![0u8; (t.end - t.start) as usize];
            file.seek(SeekFrom::Start(t.start)).map_err(|e| Error::io(path, e))?;
            file.read_exact(&mut buf).map_err(|e| Error::io(path, e))?;
            streamed.put(t.index, buf, weights)?;
        }
    }
    streamed.finish(weights)
}

/// The checkpoint of a HF model folder: `model.safetensors`, else `pytorch_model.bin` (read as
/// data, see [`crate::hf::pickle`]), or an error saying what the folder holds instead.
pub fn find_checkpoint(dir: &Path) -> Result<std::path::PathBuf> {
    for name in ["model.safetensors", "pytorch_model.bin"] {
        let p = dir.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    if dir.join("model.safetensors.index.json").is_file() || dir.join("pytorch_model.bin.index.json").is_file() {
        return Err(Error::invalid(format!(
            "{}: sharded checkpoints (*.index.json) are not supported yet; merge the shards into one file",
            dir.display()
        )));
    }
    Err(Error::invalid(format!("{}: no model.safetensors or pytorch_model.bin in this folder", dir.display())))
}

/// Reads a checkpoint file of either format (by its extension: `.bin`/`.pt`/`.pth` are
/// PyTorch zips, anything else safetensors) tensor by tensor into `weights`.
pub fn read_checkpoint(path: &Path, rename: &dyn Fn(&str) -> Option<String>, weights: &mut Weights) -> Result<Vec<String>> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("bin" | "pt" | "pth") => crate::hf::torch_zip::read_file(path, rename, weights),
        _ => read_file(path, rename, weights),
    }
}
