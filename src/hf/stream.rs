//! A safetensors file that arrives in pieces: the header first, then the tensors a model needs,
//! in any order. The page drives it from HTTP range requests (or one streamed response), the
//! CLI from seeks in a local file; both upload each tensor as soon as its bytes are in, so the
//! host never holds more than one tensor of the file.
//!
//! 1. [`StreamedFile::open`] parses the header (the first `8 + n` bytes) and decides, tensor by
//!    tensor, whether the model wants it (a `rename` rule: `None` = not fetched at all);
//! 2. [`StreamedFile::plan`] groups the wanted tensors into byte ranges to fetch;
//! 3. [`StreamedFile::put`] takes one tensor's bytes and uploads it into [`Weights`];
//! 4. [`StreamedFile::finish`] checks that every wanted tensor arrived.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::hf::safetensors::{Header, PREFIX_LEN};
use crate::hf::weights::Weights;

/// One tensor to fetch: its index in the header and its absolute byte range.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WantedTensor {
    /// Index into the header's tensors (what [`StreamedFile::put`] takes).
    pub index: usize,
    /// First byte in the file.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

/// A byte range to fetch in one request: consecutive wanted tensors.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Chunk {
    /// First byte in the file.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
    /// The tensors it holds, in file order.
    pub tensors: Vec<WantedTensor>,
}

/// What to fetch of a file.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Plan {
    /// Size of the header including its 8-byte length prefix.
    pub header_len: u64,
    /// Size of the whole file as the header announces it.
    pub file_len: u64,
    /// Bytes to fetch (the wanted tensors only).
    pub bytes: u64,
    /// Requests to make, in file order.
    pub chunks: Vec<Chunk>,
}

/// A safetensors file being received.
pub struct StreamedFile {
    source: String,
    header: Header,
    /// Per header tensor: the name it is stored under, or `None` when the model does not want it.
    names: Vec<Option<String>>,
    received: Vec<bool>,
}

impl StreamedFile {
    /// Parses the header from the first bytes of the file (at least `8 + header length`; see
    /// [`Header::header_len`]). `total_len`, when the transport knows it, is checked against what
    /// the header announces, so a truncated file is refused before anything is fetched.
    /// Every wanted tensor is admitted by `weights`' budget here, before any of its bytes are read.
    pub fn open(
        start: &[u8],
        source: &str,
        total_len: Option<u64>,
        rename: &dyn Fn(&str) -> Option<String>,
        weights: &mut Weights,
    ) -> Result<Self> {
        let header = Header::parse(start, source)?;
        if let Some(len) = total_len {
            header.check_len(len, source)?;
        }
        let names: Vec<Option<String>> = header.tensors.iter().map(|t| rename(&t.name)).collect();
        weights.set_source(source);
        for (t, name) in header.tensors.iter().zip(&names) {
            if name.is_some() {
                weights.admit(source, &t.name, &t.shape)?;
            }
        }
        let received = vec![false; names.len()];
        Ok(Self { source: source.to_string(), header, names, received })
    }

    /// Where the file came from (for messages).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The parsed header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The requests to make: wanted tensors that follow one another are merged up to
    /// `max_chunk` bytes (a larger tensor gets a request of its own). Gaps (tensors the model
    /// does not want) are never fetched.
    pub fn plan(&self, max_chunk: u64) -> Plan {
        let mut chunks: Vec<Chunk> = Vec::new();
        let mut bytes = 0;
        for (index, t) in self.header.tensors.iter().enumerate() {
            if self.names[index].is_none() {
                continue;
            }
            let w = WantedTensor { index, start: t.range.start, end: t.range.end };
            bytes += w.end - w.start;
            match chunks.last_mut() {
                Some(c) if c.end == w.start && w.end - c.start <= max_chunk => {
                    c.end = w.end;
                    c.tensors.push(w);
                }
                _ => chunks.push(Chunk { start: w.start, end: w.end, tensors: vec![w] }),
            }
        }
        let header_len = self.header.tensors.first().map_or(self.header.file_len, |t| t.range.start);
        Plan { header_len: header_len.max(PREFIX_LEN as u64), file_len: self.header.file_len, bytes, chunks }
    }

    /// Uploads tensor `index` of the header from its bytes. Returns the name it is stored under.
    pub fn put(&mut self, index: usize, bytes: Vec<u8>, weights: &mut Weights) -> Result<String> {
        let (t, name) = match (self.header.tensors.get(index), self.names.get(index)) {
            (Some(t), Some(Some(name))) => (t, name.clone()),
            _ => {
                return Err(Error::Internal(format!("{}: tensor #{index} was not asked for", self.source)));
            }
        };
        let want = t.range.end - t.range.start;
        if bytes.len() as u64 != want {
            return Err(Error::Safetensors {
                path: self.source.clone(),
                message: format!("tensor `{}`: received {} bytes, expected {want} (download cut short?)", t.name, bytes.len()),
            });
        }
        weights.set_source(&self.source);
        weights.insert(&name, t.dtype, &t.shape, bytes).map_err(|e| e.with_file_key(&t.name))?;
        self.received[index] = true;
        Ok(name)
    }

    /// Ends the file: an error naming the first wanted tensor that never arrived, else the
    /// names stored. Unwanted tensors are recorded in `weights` as skipped.
    pub fn finish(self, weights: &mut Weights) -> Result<Vec<String>> {
        let mut stored = Vec::new();
        for ((t, name), got) in self.header.tensors.iter().zip(self.names).zip(self.received) {
            match (name, got) {
                (Some(name), true) => stored.push(name),
                (Some(_), false) => {
                    return Err(Error::Safetensors {
                        path: self.source,
                        message: format!("tensor `{}` was never received (download interrupted?)", t.name),
                    });
                }
                (None, _) => weights.skip(&t.name),
            }
        }
        Ok(stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    fn file(tensors: &[(&str, usize)]) -> Vec<u8> {
        let mut meta = serde_json::Map::new();
        let mut off = 0;
        for (name, n) in tensors {
            meta.insert(name.to_string(), serde_json::json!({"dtype": "F32", "shape": [n], "data_offsets": [off, off + 4 * n]}));
            off += 4 * n;
        }
        let json = serde_json::to_vec(&meta).unwrap();
        let mut out = (json.len() as u64).to_le_bytes().to_vec();
        out.extend(json);
        out.extend((0..off / 4).flat_map(|i| (i as f32).to_le_bytes()));
        out
    }

    #[test]
    fn plans_skip_unwanted_tensors_and_merge_neighbours() {
        let bytes = file(&[("a.x", 4), ("a.y", 4), ("b.z", 4), ("a.w", 100)]);
        let keep = |k: &str| k.starts_with("a.").then(|| k.to_string());
        let mut w = Weights::new(&Device::flex());
        let f = StreamedFile::open(&bytes, "f", Some(bytes.len() as u64), &keep, &mut w).unwrap();
        let plan = f.plan(64);
        assert_eq!(plan.bytes, 4 * 108);
        assert_eq!(plan.chunks.len(), 2, "{plan:?}");
        assert_eq!(plan.chunks[0].tensors.len(), 2);
        assert_eq!(plan.chunks[0].end - plan.chunks[0].start, 32);
        assert_eq!(plan.chunks[1].tensors[0].end - plan.chunks[1].tensors[0].start, 400, "a large tensor gets its own request");
        assert_eq!(plan.file_len, bytes.len() as u64);
    }

    #[test]
    fn truncation_and_missing_tensors_are_named() {
        let bytes = file(&[("a", 4), ("b", 4)]);
        let all = |k: &str| Some(k.to_string());
        let device = Device::flex();
        let mut w = Weights::new(&device);
        let err = StreamedFile::open(&bytes, "m.safetensors", Some(bytes.len() as u64 - 3), &all, &mut w).err().unwrap().to_string();
        assert!(err.contains("truncated") && err.contains("`b`"), "{err}");

        let mut f = StreamedFile::open(&bytes, "m.safetensors", None, &all, &mut w).unwrap();
        let plan = f.plan(1 << 20);
        let t = &plan.chunks[0].tensors[0];
        let err = f.put(t.index, bytes[t.start as usize..t.end as usize - 1].to_vec(), &mut w).unwrap_err().to_string();
        assert!(err.contains("received 15 bytes, expected 16"), "{err}");
        f.put(t.index, bytes[t.start as usize..t.end as usize].to_vec(), &mut w).unwrap();
        let err = f.finish(&mut w).unwrap_err().to_string();
        assert!(err.contains("`b` was never received"), "{err}");
    }
}
