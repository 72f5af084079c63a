//! Which files hold a model folder's weights, and reading them: a single `model.safetensors`,
//! sharded safetensors (`model.safetensors.index.json`), a single `pytorch_model.bin` or sharded
//! ones (`pytorch_model.bin.index.json`), tried in that order as `transformers` does; a PEFT
//! folder's `adapter_model.safetensors`, else `adapter_model.bin`.
//!
//! Every file is opened (header, or zip directory and pickle) before any tensor is fetched, so
//! the total is known for progress and a bad file is refused before the downloads begin.

use crate::error::{Error, Result};
use crate::hf::stream::{Plan, StreamedFile};
use crate::hf::torch_zip::{StreamedTorchFile, TAIL_LEN};
use crate::hf::weights::Weights;
use crate::load::index::ShardIndex;
use crate::load::io::Io;
use crate::load::request::Location;

/// Largest request made for consecutive tensors (a larger tensor gets its own).
pub const MAX_CHUNK: u64 = 16 << 20;

/// The weight files a folder may hold, by model kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// A model: `model.safetensors`, its shards, `pytorch_model.bin`, its shards.
    Model,
    /// A PEFT checkpoint: `adapter_model.safetensors`, else `adapter_model.bin`.
    Adapter,
}

impl Layout {
    /// The files tried, in order; `true` marks an index of shards.
    fn candidates(self) -> &'static [(&'static str, Format, bool)] {
        match self {
            Layout::Model => &[
                ("model.safetensors", Format::Safetensors, false),
                ("model.safetensors.index.json", Format::Safetensors, true),
                ("pytorch_model.bin", Format::Torch, false),
                ("pytorch_model.bin.index.json", Format::Torch, true),
            ],
            Layout::Adapter => &[("adapter_model.safetensors", Format::Safetensors, false), ("adapter_model.bin", Format::Torch, false)],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Safetensors,
    Torch,
}

enum Reader {
    Safetensors(StreamedFile),
    Torch(StreamedTorchFile),
}

/// One weight file, opened: what to fetch of it.
pub struct Opened {
    at: Location,
    name: String,
    reader: Reader,
    plan: Plan,
}

/// Opens the weight files of the folder `at` (see [`Layout`]); `rename` maps each key to its
/// name in the model, or `None` for a key the model does not take (never fetched).
pub async fn open(io: &Io, at: &Location, layout: Layout, rename: &dyn Fn(&str) -> Option<String>, w: &mut Weights) -> Result<Vec<Opened>> {
    for &(name, format, sharded) in layout.candidates() {
        if !sharded {
            if let Some(f) = open_file(io, at, name, format, rename, w).await? {
                return Ok(vec![f]);
            }
            continue;
        }
        let Some(text) = io.optional_text(at, name).await? else { continue };
        let index = ShardIndex::parse(&text, &at.show(name))?;
        let mut files = Vec::new();
        for shard in index.shards() {
            let keep = |k: &str| if index.shard_of(k) == Some(shard) { rename(k) } else { None };
            let f = open_file(io, at, shard, format, &keep, w)
                .await?
                .ok_or_else(|| Error::NotFound(format!("{}: not found, but {} lists it as a shard", at.show(shard), at.show(name))))?;
            files.push(f);
        }
        return Ok(files);
    }
    let names: Vec<&str> = layout.candidates().iter().map(|c| c.0).collect();
    Err(Error::NotFound(format!("{}: no weights found (looked for {})", at.folder(), names.join(", "))))
}

async fn open_file(
    io: &Io,
    at: &Location,
    name: &str,
    format: Format,
    rename: &dyn Fn(&str) -> Option<String>,
    w: &mut Weights,
) -> Result<Option<Opened>> {
    let source = at.show(name);
    let (reader, plan) = match format {
        Format::Safetensors => {
            let Some((head, file_len)) = io.safetensors_head(at, name).await? else { return Ok(None) };
            let file = StreamedFile::open(&head, &source, file_len, rename, w)?;
            let plan = file.plan(MAX_CHUNK);
            (Reader::Safetensors(file), plan)
        }
        Format::Torch => {
            let Some((tail, len)) = io.tail(at, name, TAIL_LEN).await? else { return Ok(None) };
            let tail_start = len - tail.len() as u64;
            let mut file = StreamedTorchFile::open(&tail, tail_start, len, &source)?;
            let (a, b) = file.pickle_range();
            // torch.save writes the pickle first: in a small file it is inside the tail already,
            // and it begins where the zip's "PK" signature must be.
            let pickle = if a >= tail_start {
                tail[(a - tail_start) as usize..(b - tail_start) as usize].to_vec()
            } else {
                io.range(at, name, a, b).await?
            };
            let signature = if a == 0 { pickle.get(..2).map(<[u8]>::to_vec) } else { Some(io.range(at, name, 0, 2).await?) };
            if tail_start > 0 && signature.as_deref() != Some(b"PK") {
                return Err(Error::TorchFile { path: source, message: "not a zip-format PyTorch checkpoint".into() });
            }
            file.set_pickle(&pickle, rename, w)?;
            let plan = file.plan(MAX_CHUNK);
            (Reader::Torch(file), plan)
        }
    };
    io.link().plan(plan.bytes);
    Ok(Some(Opened { at: at.clone(), name: name.to_string(), reader, plan }))
}

/// Fetches the planned tensors of opened files into `w`: one request per tensor (or storage),
/// each saying where its chunk of neighbours ends, so a transport fetches a chunk at once while
/// the engine receives one tensor at a time. Returns the names stored.
pub async fn fetch(io: &Io, files: Vec<Opened>, w: &mut Weights) -> Result<Vec<String>> {
    let mut stored = Vec::new();
    for Opened { at, name, mut reader, plan } in files {
        let source = at.show(&name);
        for chunk in &plan.chunks {
            // Storage spans of a pytorch_model.bin may overlap (local headers): progress counts
            // each byte once.
            let mut covered = chunk.start;
            for t in &chunk.tensors {
                let bytes = io.range_ahead(&at, &name, t.start, t.end, chunk.end).await?;
                match &mut reader {
                    Reader::Safetensors(f) => {
                        f.put(t.index, bytes, w)?;
                    }
                    Reader::Torch(f) => {
                        f.put(t.index, &bytes, w)?;
                    }
                }
                io.link().received(t.end.saturating_sub(covered.max(t.start)), &source);
                covered = covered.max(t.end);
            }
        }
        stored.extend(match reader {
            Reader::Safetensors(f) => f.finish(w)?,
            Reader::Torch(f) => f.finish(w)?,
        });
        w.set_source(&source);
    }
    Ok(stored)
}
