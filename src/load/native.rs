//! The local file system as the loader's transport (the CLI, training, the tests), and the
//! folder-level calls built on it.
//!
//! Folders are [`Location::Path`]s; a hub id ([`Location::Hub`], e.g. the `base_model` of a
//! PEFT checkpoint) is a local folder of that name if there is one, else looked up in the local
//! Hugging Face cache (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`),
//! as `transformers` finds it offline.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use burn::tensor::Device;

use crate::error::{Error, Result};
use crate::hf::weights::Weights;
use crate::load::checkpoint::{self, Layout};
use crate::load::driver::Loader;
use crate::load::io::{Io, check_small};
use crate::load::models::{self, CaptionerSpec, LoadedCaptioner};
use crate::load::request::{Location, Request, Response};
use crate::model::captioner::{Captioner, CaptionerConfig};
use crate::model::clip::Towers;
use crate::model::peft::PeftCheckpoint;
use crate::task::embed::Clip;
use crate::tokenize::{BUNDLED_CLIP_TOKENIZER, BUNDLED_GPT2_TOKENIZER};

/// Answers a request from local files.
pub fn serve(request: &Request) -> Result<Response> {
    let (at, name) = request.file();
    if let Location::Bundled(which) = at {
        return Ok(match (which.as_str(), name) {
            ("clip", "tokenizer.json") => Response::Bytes { bytes: BUNDLED_CLIP_TOKENIZER.to_vec(), file_len: None },
            ("gpt2", "tokenizer.json") => Response::Bytes { bytes: BUNDLED_GPT2_TOKENIZER.to_vec(), file_len: None },
            _ => Response::Missing,
        });
    }
    let path = folder(at)?.join(name);
    let len = match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => m.len(),
        Ok(_) => return Err(Error::Usage(format!("{}: not a regular file", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Response::Missing),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let (start, end) = match *request {
        Request::File { .. } => {
            check_small(&path.display().to_string(), len)?;
            (0, len)
        }
        Request::Range { start, end, .. } => (start.min(len), end.min(len)),
        Request::Tail { len: n, .. } => (len.saturating_sub(n), len),
    };
    let mut file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
    file.seek(SeekFrom::Start(start)).map_err(|e| Error::io(&path, e))?;
    let mut bytes = Vec::with_capacity(end.saturating_sub(start) as usize);
    file.take(end.saturating_sub(start)).read_to_end(&mut bytes).map_err(|e| Error::io(&path, e))?;
    Ok(Response::Bytes { bytes, file_len: Some(len) })
}

/// The local folder of a location.
fn folder(at: &Location) -> Result<PathBuf> {
    match at {
        Location::Path(p) => {
            let p = PathBuf::from(p);
            if p.is_dir() { Ok(p) } else { Err(Error::NotFound(format!("{}: model folder not found", p.display()))) }
        }
        // A local folder of that name wins, as it does for `from_pretrained`.
        Location::Hub(id) if Path::new(id).is_dir() => Ok(PathBuf::from(id)),
        Location::Hub(id) => hub_snapshot(id),
        Location::Url(u) => Err(Error::Unsupported(format!(
            "{u}: the command line reads local folders; download the model first (e.g. `huggingface-cli download <id>`) and give its folder"
        ))),
        Location::Dropped(_) | Location::Bundled(_) => Err(Error::Internal(format!("{}: not a local folder", at.folder()))),
    }
}

/// The cached snapshot of hub model `id` (its `refs/main`, else its only snapshot).
fn hub_snapshot(id: &str) -> Result<PathBuf> {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    let cache = env("HF_HUB_CACHE")
        .or_else(|| env("HF_HOME").map(|h| h.join("hub")))
        .or_else(|| env("XDG_CACHE_HOME").map(|c| c.join("huggingface/hub")))
        .or_else(|| env("HOME").map(|h| h.join(".cache/huggingface/hub")))
        .unwrap_or_else(|| PathBuf::from(".cache/huggingface/hub"));
    let repo = cache.join(format!("models--{}", id.replace('/', "--")));
    let snapshots = repo.join("snapshots");
    let by_ref = std::fs::read_to_string(repo.join("refs/main")).ok().map(|r| snapshots.join(r.trim())).filter(|p| p.is_dir());
    let only = || {
        let dirs: Vec<PathBuf> =
            std::fs::read_dir(&snapshots).ok()?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_dir()).collect();
        (dirs.len() == 1).then(|| dirs[0].clone())
    };
    by_ref.or_else(only).ok_or_else(|| {
        Error::NotFound(format!(
            "hub model `{id}` is not in the local Hugging Face cache ({}): download it first (`huggingface-cli download {id}`), or give its folder",
            cache.display()
        ))
    })
}

/// Runs a loader over local files.
pub fn run<T>(mut loader: Loader<'_, T>) -> Result<T> {
    while let Some(r) = loader.next()? {
        loader.answer(serve(&r)?)?;
    }
    loader.finish()
}

/// The location of a local folder.
pub fn at(dir: &Path) -> Location {
    Location::Path(dir.display().to_string())
}

/// A CLIP model from a local folder.
pub fn clip(dir: &Path, device: &Device, towers: Towers) -> Result<Clip> {
    let at = at(dir);
    run(Loader::new(|link| async move { models::clip(&Io::new(link), device, &at, towers).await }))
}

/// A captioner from local folders (or cached hub models the PEFT names).
pub fn captioner(spec: CaptionerSpec, device: &Device) -> Result<LoadedCaptioner> {
    run(Loader::new(|link| async move { models::captioner(&Io::new(link), device, spec).await }))
}

/// Reads the weights of a local model folder into `w` (see [`Layout::Model`]): `rename` maps
/// each key to its name in `w`, or `None` to skip it. Returns the names stored.
pub fn read_weights(dir: &Path, rename: &dyn Fn(&str) -> Option<String>, w: &mut Weights) -> Result<Vec<String>> {
    let at = at(dir);
    run(Loader::new(|link| async move {
        let io = Io::new(link);
        let files = checkpoint::open(&io, &at, Layout::Model, rename, w).await?;
        checkpoint::fetch(&io, files, w).await
    }))
}

/// The captioner's folder loaders, as training and the tests call them: thin callers of
/// [`captioner`].
pub mod folders {
    use super::*;

    fn spec(
        model: Option<&Path>,
        parts: Option<(&Path, &Path)>,
        peft: Option<&Path>,
        method: Option<PeftCheckpoint>,
        fresh: bool,
    ) -> CaptionerSpec {
        CaptionerSpec {
            model: model.map(at),
            encoder: parts.map(|p| at(p.0)),
            decoder: parts.map(|p| at(p.1)),
            peft: peft.map(at),
            method,
            fresh,
        }
    }

    fn split(l: LoadedCaptioner) -> (Captioner, CaptionerConfig) {
        (l.model, l.config)
    }

    /// An encoder folder, a decoder folder and an optional PEFT folder. `peft` is required
    /// unless `fresh` or the decoder checkpoint itself carries cross-attention.
    pub fn load(encoder: &Path, decoder: &Path, peft: Option<&Path>, device: &Device, fresh: bool) -> Result<(Captioner, CaptionerConfig)> {
        load_with(encoder, decoder, peft, None, device, fresh)
    }

    /// Like [`load`], with the PEFT method given by the caller (the start of training).
    pub fn load_with(
        encoder: &Path,
        decoder: &Path,
        peft: Option<&Path>,
        method: Option<PeftCheckpoint>,
        device: &Device,
        fresh: bool,
    ) -> Result<(Captioner, CaptionerConfig)> {
        captioner(spec(None, Some((encoder, decoder)), peft, method, fresh), device).map(split)
    }

    /// A published `VisionEncoderDecoderModel` folder, with an optional PEFT trained on it.
    pub fn load_pretrained(dir: &Path, peft: Option<&Path>, device: &Device) -> Result<(Captioner, CaptionerConfig)> {
        load_pretrained_with(dir, peft, None, device, false)
    }

    /// Like [`load_pretrained`], with the PEFT method a training run wants and `fresh`
    /// initialisation of what no checkpoint holds.
    pub fn load_pretrained_with(
        dir: &Path,
        peft: Option<&Path>,
        method: Option<PeftCheckpoint>,
        device: &Device,
        fresh: bool,
    ) -> Result<(Captioner, CaptionerConfig)> {
        captioner(spec(Some(dir), None, peft, method, fresh), device).map(split)
    }
}
