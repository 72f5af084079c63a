//! `pytorch_model.bin` as `torch.save` writes it (PyTorch 1.6+): an uncompressed zip holding
//! `<name>/data.pkl` (the pickled state dict, read by [`crate::hf::pickle`] as data only) and one
//! member per storage, `<name>/data/<key>`.
//!
//! Read like a safetensors file, in pieces, by the loader ([`crate::load::checkpoint`]):
//! 1. [`StreamedTorchFile::open`] reads the zip's central directory from the file's last bytes;
//! 2. [`StreamedTorchFile::set_pickle`] reads `data.pkl` (from [`StreamedTorchFile::pickle_range`])
//!    and decides which tensors the model wants;
//! 3. [`StreamedTorchFile::plan`] lists one byte range per wanted storage;
//! 4. [`StreamedTorchFile::put`] takes one storage and uploads every wanted tensor viewing it
//!    (tied weights share a storage; strided views are gathered).

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

/// Most members a zip may list (a checkpoint has one per storage, plus a handful).
pub const MAX_MEMBERS: usize = 1 << 20;

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
    /// CRC-32 of its data, checked when the data arrives.
    pub crc32: u32,
}

fn bad(path: &str, message: impl Into<String>) -> Error {
    Error::TorchFile { path: path.to_string(), message: message.into() }
}

/// Little-endian reads that fail, rather than panic, past the end of `b`.
struct Le<'a>(&'a [u8]);

impl Le<'_> {
    fn bytes<const N: usize>(&self, i: usize) -> Option<[u8; N]> {
        self.0.get(i..i.checked_add(N)?)?.try_into().ok()
    }
    fn u16(&self, i: usize) -> Option<u16> {
        self.bytes(i).map(u16::from_le_bytes)
    }
    fn u32(&self, i: usize) -> Option<u32> {
        self.bytes(i).map(u32::from_le_bytes)
    }
    fn u64(&self, i: usize) -> Option<u64> {
        self.bytes(i).map(u64::from_le_bytes)
    }
}

/// The zip's members from the file's last bytes (`tail`, which starts at byte `tail_start` of a
/// `len`-byte file), ZIP64 records understood. Every count, offset and size is checked against
/// the bytes that hold it and the file's length before it is used.
fn entries(tail: &[u8], tail_start: u64, len: u64, shown: &str) -> Result<Vec<ZipEntry>> {
    let not_zip = || bad(shown, "not a zip archive (no end-of-central-directory record): not a PyTorch checkpoint, or truncated");
    let corrupt = |what: &str| bad(shown, format!("corrupt zip central directory ({what})"));
    let t = Le(tail);
    let eocd = (0..tail.len().saturating_sub(21)).rev().find(|&i| t.u32(i) == Some(0x0605_4b50)).ok_or_else(not_zip)?;
    let field = |i: usize| t.u32(eocd + i).ok_or_else(not_zip);
    let (mut count, mut cd_size, mut cd_offset) = (t.u16(eocd + 10).ok_or_else(not_zip)? as u64, field(12)? as u64, field(16)? as u64);
    let at = |abs: u64, n: u64| -> Result<&[u8]> {
        abs.checked_sub(tail_start)
            .and_then(|o| Some((usize::try_from(o).ok()?, usize::try_from(o.checked_add(n)?).ok()?)))
            .and_then(|(a, b)| tail.get(a..b))
            .ok_or_else(|| bad(shown, format!("the zip directory lies outside the last {} bytes read", tail.len())))
    };
    if count == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_offset == 0xFFFF_FFFF {
        let loc = eocd.checked_sub(20).filter(|&l| t.u32(l) == Some(0x0706_4b50)).ok_or_else(|| bad(shown, "ZIP64 locator missing"))?;
        let rec = Le(at(t.u64(loc + 8).ok_or_else(not_zip)?, 56)?);
        if rec.u32(0) != Some(0x0606_4b50) {
            return Err(bad(shown, "ZIP64 end record missing"));
        }
        let get = |i| rec.u64(i).ok_or_else(|| corrupt("ZIP64 end record"));
        (count, cd_size, cd_offset) = (get(32)?, get(40)?, get(48)?);
    }
    let cd = at(cd_offset, cd_size)?;
    // Each member takes at least 46 bytes of the directory: a count beyond that is a lie.
    if count > (cd.len() / 46) as u64 || count > MAX_MEMBERS as u64 {
        return Err(corrupt(&format!("it announces {count} members in {} bytes", cd.len())));
    }
    let c = Le(cd);
    let mut out = Vec::with_capacity(count as usize);
    let mut i = 0usize;
    while out.len() < count as usize {
        if c.u32(i) != Some(0x0201_4b50) {
            return Err(corrupt("member record expected"));
        }
        let read = |o: usize| c.u32(i + o).ok_or_else(|| corrupt("member record cut short"));
        let read16 = |o: usize| c.u16(i + o).ok_or_else(|| corrupt("member record cut short"));
        let method = read16(10)?;
        let (crc32, mut size, csize) = (read(16)?, read(24)? as u64, read(20)?);
        let mut local_offset = read(42)? as u64;
        let (n, e, k) = (read16(28)? as usize, read16(30)? as usize, read16(32)? as usize);
        let name = cd.get(i + 46..i + 46 + n).ok_or_else(|| corrupt("member name cut short"))?;
        let name = String::from_utf8_lossy(name).into_owned();
        let extra = cd.get(i + 46 + n..i + 46 + n + e).ok_or_else(|| corrupt("member extra field cut short"))?;
        // ZIP64 extra field: the 64-bit values of the saturated fields, in order.
        let x = Le(extra);
        let mut j = 0;
        while let (Some(id), Some(flen)) = (x.u16(j), x.u16(j + 2)) {
            if id == 1 {
                let z = Le(extra.get(j + 4..j + 4 + flen as usize).ok_or_else(|| corrupt("ZIP64 extra field cut short"))?);
                let mut f = 0;
                let mut next = || {
                    let v = z.u64(f).ok_or_else(|| corrupt("ZIP64 extra field cut short"));
                    f += 8;
                    v
                };
                if size == 0xFFFF_FFFF {
                    size = next()?;
                }
                if csize == 0xFFFF_FFFF {
                    next()?;
                }
                if local_offset == 0xFFFF_FFFF {
                    local_offset = next()?;
                }
            }
            j += 4 + flen as usize;
        }
        let end = local_offset.checked_add(30).and_then(|o| o.checked_add(size));
        if end.is_none_or(|end| end > len) {
            return Err(bad(
                shown,
                format!("zip member `{name}` ({size} bytes at {local_offset}) lies past the end of the {len}-byte file (truncated?)"),
            ));
        }
        out.push(ZipEntry { name, local_offset, size, method, crc32 });
        i += 46 + n + e + k;
    }
    Ok(out)
}

/// A member's data from bytes that start at its local header, its CRC-32 checked.
fn member_data<'a>(bytes: &'a [u8], e: &ZipEntry, shown: &str) -> Result<&'a [u8]> {
    if e.method != 0 {
        return Err(bad(shown, format!("zip member `{}` is compressed (method {}); torch.save stores them", e.name, e.method)));
    }
    let h = Le(bytes);
    let (Some(0x0403_4b50), Some(n), Some(x)) = (h.u32(0), h.u16(26), h.u16(28)) else {
        return Err(bad(shown, format!("corrupt zip member `{}` (no local header)", e.name)));
    };
    let start = 30 + n as usize + x as usize;
    let data = usize::try_from(e.size)
        .ok()
        .and_then(|size| bytes.get(start..start.checked_add(size)?))
        .ok_or_else(|| bad(shown, format!("zip member `{}` is cut short (truncated file?)", e.name)))?;
    let crc = crc32fast::hash(data);
    if crc != e.crc32 {
        return Err(bad(
            shown,
            format!("zip member `{}` fails its CRC-32 check ({crc:08x}, the directory says {:08x}): the file is corrupt", e.name, e.crc32),
        ));
    }
    Ok(data)
}

/// A `pytorch_model.bin` being received.
pub struct StreamedTorchFile {
    source: String,
    len: u64,
    entries: Vec<ZipEntry>,
    /// Every member's local header offset, sorted: a member's bytes end before the next one's.
    starts: Vec<u64>,
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
        let entries = entries(tail, tail_start, len, source)?;
        let pickle = entries
            .iter()
            .find(|e| e.name.ends_with("/data.pkl") || e.name == "data.pkl")
            .ok_or_else(|| bad(source, "no data.pkl in the archive"))?
            .clone();
        if pickle.size > pickle::MAX_PICKLE_BYTES {
            return Err(bad(
                source,
                format!("data.pkl is {} bytes, more than the {} a state dict can need", pickle.size, pickle::MAX_PICKLE_BYTES),
            ));
        }
        let prefix = pickle.name.strip_suffix("data.pkl").unwrap_or("").to_string();
        let mut starts: Vec<u64> = entries.iter().map(|e| e.local_offset).collect();
        starts.sort_unstable();
        Ok(Self {
            source: source.into(),
            len,
            entries,
            starts,
            pickle,
            prefix,
            tensors: Vec::new(),
            storages: Vec::new(),
            received: Vec::new(),
        })
    }

    /// Where the file came from (for messages).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The bytes holding member `e`: its local header (of a length only it says, so with some
    /// slack) and data, never past the next member's header or the end of the file.
    fn span(&self, e: &ZipEntry) -> (u64, u64) {
        let next = self.starts.partition_point(|&s| s <= e.local_offset);
        let limit = self.starts.get(next).copied().unwrap_or(self.len).min(self.len);
        (e.local_offset, e.local_offset.saturating_add(HEADER_SLACK).saturating_add(e.size).min(limit))
    }

    /// The bytes to read for `data.pkl` (from its local header).
    pub fn pickle_range(&self) -> (u64, u64) {
        self.span(&self.pickle)
    }

    /// Reads the pickle (bytes from [`Self::pickle_range`]) as data and applies `rename`; every
    /// wanted tensor, and the storage it views, is admitted by `weights`' budget before any
    /// storage is read.
    pub fn set_pickle(&mut self, bytes: &[u8], rename: &dyn Fn(&str) -> Option<String>, weights: &mut Weights) -> Result<()> {
        let data = member_data(bytes, &self.pickle, &self.source)?;
        let refs = pickle::state_dict(data, &self.source)?;
        weights.set_source(&self.source);
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
            weights.admit(&self.source, key, &t.shape)?;
            let es = (t.dtype.bitsize() / 8).max(1) as u64;
            let storage_elements = self.entries[i].size / es;
            if !storages.contains(&i) {
                // A storage holds its tensor, or tied tensors of one size: one larger than the
                // model's largest tensor is not read.
                weights.admit(
                    &self.source,
                    &format!("{key} (its storage `{member}`)"),
                    &[usize::try_from(storage_elements).unwrap_or(usize::MAX)],
                )?;
                storages.push(i);
            }
            let span = t.span().map_err(|m| bad(&self.source, format!("tensor `{key}`: {m}")))?;
            if span > self.entries[i].size {
                return Err(bad(
                    &self.source,
                    format!("tensor `{key}` reads {span} bytes of storage `{member}`, which has {}", self.entries[i].size),
                ));
            }
        }
        storages.sort_by_key(|&i| self.entries[i].local_offset);
        self.storages = storages;
        self.received = vec![false; self.tensors.len()];
        Ok(())
    }

    /// The requests to make, in file order: each wanted storage's span (its local header and
    /// data; `index` is what [`Self::put`] takes), neighbours that touch or overlap merged up to
    /// `max_chunk` bytes, so no byte is fetched twice.
    pub fn plan(&self, max_chunk: u64) -> Plan {
        let mut chunks: Vec<Chunk> = Vec::new();
        let mut bytes = 0;
        for (index, &i) in self.storages.iter().enumerate() {
            let (start, end) = self.span(&self.entries[i]);
            let w = WantedTensor { index, start, end };
            match chunks.last_mut() {
                Some(c) if start <= c.end && end.max(c.end) - c.start <= max_chunk => {
                    bytes += end.saturating_sub(c.end);
                    c.end = c.end.max(end);
                    c.tensors.push(w);
                }
                _ => {
                    bytes += end - start;
                    chunks.push(Chunk { start, end, tensors: vec![w] });
                }
            }
        }
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

impl TensorRef {
    /// Bytes of its storage the view reaches (one past its last element), checked: an offset
    /// or stride that overflows is an error, not a wrapped index.
    pub fn span(&self) -> std::result::Result<u64, String> {
        let es = (self.dtype.bitsize() / 8) as u64;
        if self.shape.contains(&0) {
            return Ok(0);
        }
        let overflow = || format!("offset {} and strides {:?} reach past any storage", self.offset, self.stride);
        let last = self
            .shape
            .iter()
            .zip(&self.stride)
            .try_fold(self.offset as u64, |acc, (&d, &s)| acc.checked_add((d as u64 - 1).checked_mul(s as u64)?));
        last.and_then(|l| l.checked_add(1)?.checked_mul(es)).ok_or_else(overflow)
    }

    /// This tensor's bytes, row-major, from its storage's bytes (strided views are gathered).
    /// The view must have been admitted ([`Weights::admit`]) and its span checked.
    pub fn gather(&self, storage: &[u8]) -> std::result::Result<Vec<u8>, String> {
        let es = self.dtype.bitsize() / 8;
        let n: usize = self.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d)).ok_or("its size overflows")?;
        if n == 0 {
            return Ok(Vec::new());
        }
        if self.span()? > storage.len() as u64 {
            return Err(format!("reads past its storage ({} bytes)", storage.len()));
        }
        let mut expect = 1usize;
        let mut contiguous = true;
        for (d, s) in self.shape.iter().zip(&self.stride).rev() {
            if *d != 1 && *s != expect {
                contiguous = false;
            }
            expect = expect.saturating_mul(*d);
        }
        // Within the span, so none of the index arithmetic below can overflow.
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
