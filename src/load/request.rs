//! What the loader asks of a transport, and what it is answered.
//!
//! A request names a file by the folder it lives in ([`Location`]) and its name there; the
//! transport (the local file system natively, fetch + Cache API + dropped files in the page)
//! turns that into a path or a URL. Absent files are an answer ([`Response::Missing`]), so the
//! loader can try the next layout; only the transport's own failures (offline, a refused
//! download) are errors.

use serde::{Deserialize, Serialize};

/// A model folder.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Location {
    /// A local folder (native).
    Path(String),
    /// A folder URL (the page): files are `<url>/<name>`.
    Url(String),
    /// A Hugging Face hub id, `org/name`: the hub's `resolve/main/` in the page, the local
    /// Hugging Face cache natively.
    Hub(String),
    /// Files the user dropped on the page, by the label the page gave them.
    Dropped(String),
    /// A tokenizer shipped with glimpse: `clip` or `gpt2`.
    Bundled(String),
}

impl Location {
    /// How a PEFT checkpoint's `base_model` (or `base_encoder` / `base_decoder`) is read: a URL,
    /// a hub id (`org/name`; natively a local folder of that name wins), or else a local path
    /// (what `glimpse train` writes). By its spelling alone: no file is looked at here.
    pub fn from_reference(name: &str) -> Self {
        if name.starts_with("http://") || name.starts_with("https://") {
            return Self::Url(name.to_string());
        }
        let hub_like = name.split('/').count() == 2
            && !name.starts_with('.')
            && name.split('/').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)));
        if hub_like { Self::Hub(name.to_string()) } else { Self::Path(name.to_string()) }
    }

    /// The file `name` of this folder, as messages show it.
    pub fn show(&self, name: &str) -> String {
        match self {
            Self::Path(p) => std::path::Path::new(p).join(name).display().to_string(),
            Self::Url(u) => format!("{}/{name}", u.trim_end_matches('/')),
            Self::Hub(id) => format!("{id}/{name} (hub)"),
            Self::Dropped(label) => format!("{name} (dropped: {label})"),
            Self::Bundled(which) => format!("the bundled {which} {name}"),
        }
    }

    /// The folder itself, as messages show it.
    pub fn folder(&self) -> String {
        match self {
            Self::Path(p) | Self::Url(p) => p.clone(),
            Self::Hub(id) => format!("{id} (hub)"),
            Self::Dropped(label) => format!("the dropped files ({label})"),
            Self::Bundled(which) => format!("the bundled {which} files"),
        }
    }
}

/// One thing the loader needs next.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Request {
    /// The whole of a small file (a config, a tokenizer, a shard index).
    File {
        /// The folder.
        at: Location,
        /// The file's name in it.
        name: String,
        /// The loader has a fallback when the file is absent (a transport need not report it).
        optional: bool,
    },
    /// Bytes `start..end` of a file.
    Range {
        /// The folder.
        at: Location,
        /// The file's name in it.
        name: String,
        /// First byte.
        start: u64,
        /// One past the last byte.
        end: u64,
        /// The file may end before `end`: answer what there is.
        short: bool,
        /// The loader's next requests run on to this byte (the rest of a chunk of neighbouring
        /// tensors): a transport may fetch up to here at once and answer them from memory. The
        /// answer itself is `start..end` only, so the engine holds one tensor at a time.
        ahead: u64,
        /// As in [`Request::File`].
        optional: bool,
    },
    /// The last `len` bytes of a file (all of it when shorter), with the file's length.
    Tail {
        /// The folder.
        at: Location,
        /// The file's name in it.
        name: String,
        /// Bytes wanted.
        len: u64,
        /// As in [`Request::File`].
        optional: bool,
    },
}

impl Request {
    /// The folder and name of the file asked for.
    pub fn file(&self) -> (&Location, &str) {
        match self {
            Self::File { at, name, .. } | Self::Range { at, name, .. } | Self::Tail { at, name, .. } => (at, name),
        }
    }
}

/// A transport's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// The bytes asked for, and the file's whole length when the transport knows it (always
    /// for a [`Request::Tail`]).
    Bytes {
        /// The bytes.
        bytes: Vec<u8>,
        /// The file's length.
        file_len: Option<u64>,
    },
    /// The file does not exist (HTTP 404, not among the dropped files, no such local file).
    Missing,
}
