//! `pytorch_model.bin` as `torch.save` writes it (PyTorch 1.6+): an uncompressed zip holding
//! `<name>/data.pkl` (the pickled state dict, read by [`crate::hf::pickle`] as data only) and one
//! entry per storage, `<name>/data/<key>`. The zip's central directory gives each storage's
//! place, so tensors are read one at a time, as from a safetensors file.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::error::{Error, Result};
use crate::hf::pickle::{self, TensorRef};
use crate::hf::weights::Weights;

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
    Error::TorchFile {
        path: path.to_string(),
        message: message.into(),
    }
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

/// Reads byte ranges of one file.
pub struct RangeReader<'a> {
    file: &'a mut std::fs::File,
    path: &'a Path,
    /// The file's size.
    pub len: u64,
}

impl RangeReader<'_> {
    fn read(&mut self, start: u64, len: u64) -> Result<Vec<u8>> {
        if start + len > self.len {
            return Err(bad(
                &self.path.display().to_string(),
                format!(
                    "needs bytes {start}..{}, the file has {} (truncated?)",
                    start + len,
                    self.len
                ),
            ));
        }
        let mut buf = vec![0u8; len as usize];
        self.file
            .seek(SeekFrom::Start(start))
            .map_err(|e| Error::io(self.path, e))?;
        self.file
            .read_exact(&mut buf)
            .map_err(|e| Error::io(self.path, e))?;
        Ok(buf)
    }
}

/// The zip's members, from its central directory (ZIP64 records understood).
pub fn entries(r: &mut RangeReader, shown: &str) -> Result<Vec<ZipEntry>> {
    let tail_len = r.len.min(65_557 + 20);
    let tail_start = r.len - tail_len;
    let tail = r.read(tail_start, tail_len)?;
    let eocd = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| u32_at(&tail, i) == 0x0605_4b50)
        .ok_or_else(|| bad(shown, "not a zip archive (no end-of-central-directory record): not a PyTorch checkpoint, or truncated"))?;
    let (mut count, mut cd_size, mut cd_offset) = (
        u16_at(&tail, eocd + 10) as u64,
        u32_at(&tail, eocd + 12) as u64,
        u32_at(&tail, eocd + 16) as u64,
    );
    if count == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_offset == 0xFFFF_FFFF {
        let loc = eocd
            .checked_sub(20)
            .filter(|&l| u32_at(&tail, l) == 0x0706_4b50)
            .ok_or_else(|| bad(shown, "ZIP64 locator missing"))?;
        let rec = r.read(u64_at(&tail, loc + 8), 56)?;
        if u32_at(&rec, 0) != 0x0606_4b50 {
            return Err(bad(shown, "ZIP64 end record missing"));
        }
        (count, cd_size, cd_offset) = (u64_at(&rec, 32), u64_at(&rec, 40), u64_at(&rec, 48));
    }
    let cd = r.read(cd_offset, cd_size)?;
    let mut out = Vec::with_capacity(count as usize);
    let mut i = 0;
    while out.len() < count as usize {
        if i + 46 > cd.len() || u32_at(&cd, i) != 0x0201_4b50 {
            return Err(bad(shown, "corrupt zip central directory"));
        }
        let method = u16_at(&cd, i + 10);
        let (mut size, n, e, c) = (
            u32_at(&cd, i + 24) as u64,
            u16_at(&cd, i + 28) as usize,
            u16_at(&cd, i + 30) as usize,
            u16_at(&cd, i + 32) as usize,
        );
        let mut local_offset = u32_at(&cd, i + 42) as u64;
        let name = String::from_utf8_lossy(&cd[i + 46..i + 46 + n]).into_owned();
        // ZIP64 extra field: the 64-bit values of the fields saturated above, in order.
        let mut x = i + 46 + n;
        while x + 4 <= i + 46 + n + e {
            let (id, len) = (u16_at(&cd, x), u16_at(&cd, x + 2) as usize);
            if id == 1 {
                let mut f = x + 4;
                if size == 0xFFFF_FFFF {
                    size = u64_at(&cd, f);
                    f += 8;
                }
                if u32_at(&cd, i + 20) == 0xFFFF_FFFF {
                    f += 8;
                }
                if local_offset == 0xFFFF_FFFF {
                    local_offset = u64_at(&cd, f);
                }
            }
            x += 4 + len;
        }
        out.push(ZipEntry {
            name,
            local_offset,
            size,
            method,
        });
        i += 46 + n + e + c;
    }
    Ok(out)
}

/// The data of one member.
pub fn entry_data(r: &mut RangeReader, e: &ZipEntry, shown: &str) -> Result<Vec<u8>> {
    if e.method != 0 {
        return Err(bad(
            shown,
            format!(
                "zip member `{}` is compressed (method {}); torch.save writes them stored",
                e.name, e.method
            ),
        ));
    }
    let head = r.read(e.local_offset, 30)?;
    if u32_at(&head, 0) != 0x0403_4b50 {
        return Err(bad(shown, format!("corrupt zip member `{}`", e.name)));
    }
    let start = e.local_offset + 30 + u16_at(&head, 26) as u64 + u16_at(&head, 28) as u64;
    r.read(start, e.size)
}

/// Reads the tensors of a `pytorch_model.bin` into `weights`, one storage at a time, like
/// [`crate::hf::safetensors::read_file`]. The pickle is read as data: any object other than
/// tensors and plain containers is refused, so a file built to run code is never executed.
pub fn read_file(
    path: &Path,
    rename: &dyn Fn(&str) -> Option<String>,
    weights: &mut Weights,
) -> Result<Vec<String>> {
    let shown = path.display().to_string();
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut r = RangeReader {
        file: &mut file,
        path,
        len,
    };
    let mut magic = [0u8; 2];
    if len >= 2 {
        magic.copy_from_slice(&r.read(0, 2)?);
    }
    if magic != *b"PK" {
        return Err(bad(
            &shown,
            "not a zip-format PyTorch checkpoint (files saved before PyTorch 1.6 use the legacy format, which glimpse does not read; re-save it, or use model.safetensors)",
        ));
    }
    let members = entries(&mut r, &shown)?;
    let pkl = members
        .iter()
        .find(|e| e.name.ends_with("/data.pkl") || e.name == "data.pkl")
        .ok_or_else(|| bad(&shown, "no data.pkl in the archive"))?
        .clone();
    let prefix = pkl.name.strip_suffix("data.pkl").unwrap_or("").to_string();
    let tensors = pickle::state_dict(&entry_data(&mut r, &pkl, &shown)?, &shown)?;
    weights.set_source(&shown);
    let mut stored = Vec::new();
    let mut cache: Option<(String, Vec<u8>)> = None; // the last storage read (tied weights share one)
    for (key, t) in tensors {
        let Some(name) = rename(&key) else {
            weights.skip(&key);
            continue;
        };
        let member = format!("{prefix}data/{}", t.storage);
        if cache.as_ref().map(|c| &c.0) != Some(&member) {
            let e = members.iter().find(|e| e.name == member).ok_or_else(|| {
                bad(
                    &shown,
                    format!("tensor `{key}`: storage `{member}` is missing"),
                )
            })?;
            cache = Some((member.clone(), entry_data(&mut r, e, &shown)?));
        }
        let bytes = t
            .gather(&cache.as_ref().unwrap().1)
            .map_err(|m| bad(&shown, format!("tensor `{key}`: {m}")))?;
        weights.insert(&name, t.dtype, &t.shape, bytes)?;
        stored.push(name);
    }
    Ok(stored)
}

impl TensorRef {
    /// This tensor's bytes, row-major, from its storage's bytes (strided views are gathered).
    pub fn gather(&self, storage: &[u8]) -> std::result::Result<Vec<u8>, String> {
        let es = self.dtype.bitsize() / 8;
        let n: usize = self.shape.iter().product();
        let contiguous = {
            let mut expect = 1usize;
            let mut ok = true;
            for (d, s) in self.shape.iter().zip(&self.stride).rev() {
                if *d != 1 && *s != expect {
                    ok = false;
                }
                expect *= d;
            }
            ok
        };
        let need = |last: usize| {
            if last * es > storage.len() {
                Err(format!("reads past its storage ({} bytes)", storage.len()))
            } else {
                Ok(())
            }
        };
        if n == 0 {
            return Ok(Vec::new());
        }
        if contiguous {
            need(self.offset + n)?;
            return Ok(storage[self.offset * es..(self.offset + n) * es].to_vec());
        }
        let max = self.offset
            + self
                .shape
                .iter()
                .zip(&self.stride)
                .map(|(d, s)| (d - 1) * s)
                .sum::<usize>();
        need(max + 1)?;
        let mut out = Vec::with_capacity(n * es);
        let mut idx = vec![0usize; self.shape.len()];
        for _ in 0..n {
            let at = self.offset
                + idx
                    .iter()
                    .zip(&self.stride)
                    .map(|(i, s)| i * s)
                    .sum::<usize>();
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
