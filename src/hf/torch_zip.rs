//! `pytorch_model.bin` as `torch.save` writes it (PyTorch 1.6+): an uncompressed zip holding
//! `<name>/data.pkl` (the pickled state dict, read by [`crate::hf::pickle`] as data only) and one
//! member per storage, `<name>/data/<key>`.
//!
//! Read like a safetensors file, in pieces, natively (seeks) and in the page (range requests):
//! 1. [`StreamedTorchFile::open`] reads the zip's central directory from the file's last bytes;
//! 2. [`StreamedTorchFile::set_pickle`] reads `data.pkl` (from [`StreamedTorchFile::pickle_range`])
//!    and decides which tensors the model wants;
//! 3. [`StreamedTorchFile::plan`] lists one byte range per wanted storage;
//! 4. [`StreamedTorchFile::put`] takes one storage and uploads every wanted tensor viewing it
//!    (tied weights share a storage; strided views are gathered).

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::error::{Error, Result};
use crate::hf::pickle::{self, TensorRef};
use crate::hf::stream::{Chunk, Plan, WantedTensor};
use crate::hf::weights::Weights;

/// Bytes read from the end of the file to find the central directory (about 100 bytes a
/// member: this covers tens of thousands of tensors).
pub const TAIL_LEN: u64 = 1 << 20;
/// Bytes read past a member's local header for its name and extra field (torch pads data to
/// 64-byte alignment there).
const HEADER_SLACK: u64 = 30 + 512;

/// One member of the zip.
#[derive(Debug, Clone)]
pub struct ZipEntry {
    /// Path inside the archive.
    pub name: String,
    /// Offset of its local header.
    pub local_offset: u64,
    /// Size of its data (stored: compressed = uncompressed).
    pub size: u64,
    /// 0 = stored; torch never compresses.
    pub method: u16,
}

fn bad(path: &str, message: impl Into<String>) -> Error {
    Error::TorchFile { path: path.to_string(), message: message.into() }
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}
fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}
fn u64_at(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().unwrap())
}

/// The zip's members from the file's last bytes (`tail`, which starts at byte `tail_start`),
/// ZIP64 records understood.
fn entries(tail: &[u8], tail_start: u64, shown: &str) -> Result<Vec<ZipEntry>> {
    let not_zip = || bad(shown, "not a zip archive (no end-of-central-directory record): not a PyTorch checkpoint, or truncated");
    let eocd = (0..tail.len().saturating_sub(21)).rev().find(|&i| u32_at(tail, i) == 0x0605_4b50).ok_or_else(not_zip)?;
    let (mut count, mut cd_size, mut cd_offset) =
        (u16_at(tail, eocd + 10) as u64, u32_at(tail, eocd + 12) as u64, u32_at(tail, eocd + 16) as u64);
    let at = |abs: u64, len: u64| -> Result<&[u8]> {
        abs.checked_sub(tail_start)
            .and_then(|o| tail.get(o as usize..(o + len) as usize))
            .ok_or_else(|| bad(shown, format!("the zip directory lies before the last {} bytes read", tail.len())))
    };
    if count == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_offset == 0xFFFF_FFFF {
        let loc = eocd.checked_sub(20).filter(|&l| u32_at(tail, l) == 0x0706_4b50).ok_or_else(|| bad(shown, "ZIP64 locator missing"))?;
        let rec = at(u64_at(tail, loc + 8), 56)?;
        if u32_at(rec, 0) != 0x0606_4b50 {
            return Err(bad(shown, "ZIP64 end record missing"));
        }
        (count, cd_size, cd_offset) = (u64_at(rec, 32), u64_at(rec, 40), u64_at(rec, 48));
    }
    let cd = at(cd_offset, cd_size)?;
    let mut out = Vec::with_capacity(count as usize);
    let mut i = 0;
    while out.len() < count as usize {
        if i + 46 > cd.len() || u32_at(cd, i) != 0x0201_4b50 {
            return Err(bad(shown, "corrupt zip central directory"));
        }
        let method = u16_at(cd, i + 10);
        let mut size = u32_at(cd, i + 24) as u64;
        let (n, e, c) = (u16_at(cd, i + 28) as usize, u16_at(cd, i + 30) as usize, u16_at(cd, i + 32) as usize);
        let mut local_offset = u32_at(cd, i + 42) as u64;
        if i + 46 + n + e > cd.len() {
            return Err(bad(shown, "corrupt zip central directory"));
        }
        let name = String::from_utf8_lossy(&cd[i + 46..i + 46 + n]).into_owned();
        // ZIP64 extra field: the 64-bit values of the saturated fields, in order.
        let mut x = i + 46 + n;
        while x + 4 <= i + 46 + n + e {
            let (id, len) = (u16_at(cd, x), u16_at(cd, x + 2) as usize);
            if id == 1 {
                let mut f = x + 4;
                if size == 0xFFFF_FFFF {
                    size = u64_at(cd, f);
                    f += 8;
                }
                if u32_at(cd, i + 20) == 0xFFFF_FFFF {
                    f += 8;
                }
                if local_offset == 0xFFFF_FFFF {
                    local_offset = u64_at(cd, f);
                }
            }
            x += 4 + len;
        }
        out.push(ZipEntry { name, local_offset, size, method });
        i += 46 + n + e + c;
    }
    Ok(out)
}

/// A member's data from bytes that start at its local header.
fn member_data<'a>(bytes: &'a [u8], e: &ZipEntry, shown: &str) -> Result<&'a [u8]> {
    if e.method != 0 {
        return Err(bad(shown, format!("zip member `{}` is compressed (method {}); torch.save stores them", e.name, e.method)));
    }
    if bytes.len() < 30 || u32_at(bytes, 0) != 0x0403_4b50 {
        return Err(bad(shown, format!("corrupt zip member `{}`", e.name)));
    }
    let start = 30 + u16_at(bytes, 26) as usize + u16_at(bytes, 28) as usize;
    bytes.get(start..start + e.size as usize).ok_or_else(|| bad(shown, format!("zip member `{}` is cut short (truncated file?)", e.name)))
}

/// A `pytorch_model.bin` being received.
pub struct StreamedTorchFile {
    source: String,
    len: u64,
    entries: Vec<ZipEntry>,
    pickle: ZipEntry,
    prefix: String,
    /// `(key, view, stored name)` of every tensor in the pickle; `None` = not wanted.
    tensors: Vec<(String, TensorRef, Option<String>)>,
    /// Zip members (indices into `entries`) of the wanted storages, in file order.
    storages: Vec<usize>,
    received: Vec<bool>,
}

impl StreamedTorchFile {
    /// Reads the zip directory from the file's last bytes (`tail`, starting at byte `tail_start`
    /// of a `len`-byte file; [`TAIL_LEN`] bytes are enough in practice).
    pub fn open(tail: &[u8], tail_start: u64, len: u64, source: &str) -> Result<Self> {
        if tail_start == 0 && tail.get(..2) != Some(b"PK") {
            return Err(bad(
                source,
                "not a zip-format PyTorch checkpoint (files saved before PyTorch 1.6 use a legacy format glimpse does not read; re-save it, or use model.safetensors)",
            ));
        }
        let entries = entries(tail, tail_start, source)?;
        let pickle = entries
            .iter()
            .find(|e| e.name.ends_with("/data.pkl") || e.name == "data.pkl")
            .ok_or_else(|| bad(source, "no data.pkl in the archive"))?
            .clone();
        let prefix = pickle.name.strip_suffix("data.pkl").unwrap_or("").to_string();
        Ok(Self { source: source.into(), len, entries, pickle, prefix, tensors: Vec::new(), storages: Vec::new(), received: Vec::new() })
    }

    /// Where the file came from (for messages).
    pub fn source(&self) -> &str {
        &self.source
    }

    fn span(&self, e: &ZipEntry) -> (u64, u64) {
        (e.local_offset, (e.local_offset + HEADER_SLACK + e.size).min(self.len))
    }

    /// The bytes to read for `data.pkl` (from its local header).
    pub fn pickle_range(&self) -> (u64, u64) {
        self.span(&self.pickle)
    }

    /// Reads the pickle (bytes from [`Self::pickle_range`]) as data and applies `rename`.
    pub fn set_pickle(&mut self, bytes: &[u8], rename: &dyn Fn(&str) -> Option<String>) -> Result<()> {
        let data = member_data(bytes, &self.pickle, &self.source)?;
        let refs = pickle::state_dict(data, &self.source)?;
        self.tensors = refs
            .into_iter()
            .map(|(k, t)| {
                let n = rename(&k);
                (k, t, n)
            })
            .collect();
        let mut storages = Vec::new();
        for (key, t, name) in &self.tensors {
            if name.is_none() {
                continue;
            }
            let member = format!("{}data/{}", self.prefix, t.storage);
            let i = self
                .entries
                .iter()
                .position(|e| e.name == member)
                .ok_or_else(|| bad(&self.source, format!("tensor `{key}`: storage `{member}` is missing")))?;
            if !storages.contains(&i) {
                storages.push(i);
            }
        }
        storages.sort_by_key(|&i| self.entries[i].local_offset);
        self.storages = storages;
        self.received = vec![false; self.tensors.len()];
        Ok(())
    }

    /// One request per wanted storage, in file order; `index` is what [`Self::put`] takes.
    pub fn plan(&self) -> Plan {
        let chunks: Vec<Chunk> = self
            .storages
            .iter()
            .enumerate()
            .map(|(index, &i)| {
                let (start, end) = self.span(&self.entries[i]);
                Chunk { start, end, tensors: vec![WantedTensor { index, start, end }] }
            })
            .collect();
        let bytes = chunks.iter().map(|c| c.end - c.start).sum();
        Plan { header_len: 0, file_len: self.len, bytes, chunks }
    }

    /// Storage `index` of the plan (its bytes from the local header): uploads every wanted
    /// tensor that views it. Returns their stored names.
    pub fn put(&mut self, index: usize, bytes: &[u8], weights: &mut Weights) -> Result<Vec<String>> {
        let e = self
            .storages
            .get(index)
            .map(|&i| self.entries[i].clone())
            .ok_or_else(|| bad(&self.source, format!("storage #{index} was not asked for")))?;
        let data = member_data(bytes, &e, &self.source)?;
        weights.set_source(&self.source);
        let mut stored = Vec::new();
        for (j, (key, t, name)) in self.tensors.iter().enumerate() {
            let Some(name) = name else { continue };
            if format!("{}data/{}", self.prefix, t.storage) != e.name {
                continue;
            }
            let tensor = t.gather(data).map_err(|m| bad(&self.source, format!("tensor `{key}`: {m}")))?;
            weights.insert(name, t.dtype, &t.shape, tensor).map_err(|e| e.with_file_key(key))?;
            self.received[j] = true;
            stored.push(name.clone());
        }
        Ok(stored)
    }

    /// Ends the file: an error naming a wanted tensor that never arrived, else the names stored.
    pub fn finish(self, weights: &mut Weights) -> Result<Vec<String>> {
        let mut stored = Vec::new();
        for ((key, _, name), got) in self.tensors.into_iter().zip(self.received) {
            match (name, got) {
                (Some(n), true) => stored.push(n),
                (Some(_), false) => {
                    return Err(bad(&self.source, format!("tensor `{key}` was never received (download interrupted?)")));
                }
                (None, _) => weights.skip(&key),
            }
        }
        Ok(stored)
    }
}

fn read_at(file: &mut std::fs::File, path: &Path, start: u64, end: u64) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; (end - start) as usize];
    file.seek(SeekFrom::Start(start)).map_err(|e| Error::io(path, e))?;
    file.read_exact(&mut buf).map_err(|e| Error::io(path, e))?;
    Ok(buf)
}

/// Reads the tensors of a `pytorch_model.bin` into `weights`, one storage at a time, like
/// [`crate::hf::safetensors::read_file`]. The pickle is read as data: any object other than
/// tensors and plain containers is refused, so a file built to run code is never executed.
pub fn read_file(path: &Path, rename: &dyn Fn(&str) -> Option<String>, weights: &mut Weights) -> Result<Vec<String>> {
    let shown = path.display().to_string();
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let tail_start = len.saturating_sub(TAIL_LEN);
    let tail = read_at(&mut file, path, tail_start, len)?;
    let mut t = StreamedTorchFile::open(&tail, tail_start, len, &shown)?;
    if tail_start > 0 && read_at(&mut file, path, 0, 2)? != b"PK" {
        return Err(bad(&shown, "not a zip-format PyTorch checkpoint"));
    }
    let (a, b) = t.pickle_range();
    t.set_pickle(&read_at(&mut file, path, a, b)?, rename)?;
    for chunk in t.plan().chunks {
        let bytes = read_at(&mut file, path, chunk.start, chunk.end)?;
        t.put(chunk.tensors[0].index, &bytes, weights)?;
    }
    t.finish(weights)
}

impl TensorRef {
    /// This tensor's bytes, row-major, from its storage's bytes (strided views are gathered).
    pub fn gather(&self, storage: &[u8]) -> std::result::Result<Vec<u8>, String> {
        let es = self.dtype.bitsize() / 8;
        let n: usize = self.shape.iter().product();
        if n == 0 {
            return Ok(Vec::new());
        }
        let mut expect = 1usize;
        let mut contiguous = true;
        for (d, s) in self.shape.iter().zip(&self.stride).rev() {
            if *d != 1 && *s != expect {
                contiguous = false;
            }
            expect *= d;
        }
        let last = self.offset + self.shape.iter().zip(&self.stride).map(|(d, s)| (d - 1) * s).sum::<usize>();
        if (last + 1) * es > storage.len() {
            return Err(format!("reads past its storage ({} bytes)", storage.len()));
        }
        if contiguous {
            return Ok(storage[self.offset * es..(self.offset + n) * es].to_vec());
        }
        let mut out = Vec::with_capacity(n * es);
        let mut idx = vec![0usize; self.shape.len()];
        for _ in 0..n {
            let at = self.offset + idx.iter().zip(&self.stride).map(|(i, s)| i * s).sum::<usize>();
            out.extend_from_slice(&storage[at * es..(at + 1) * es]);
            for d in (0..idx.len()).rev() {
                idx[d] += 1;
                if idx[d] < self.shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        Ok(out)
    }
}
