//! The one error type of the crate. Every variant names what the user has to look at
//! (a file, a tensor, an option) and what was expected versus found.

use std::fmt;

/// Result with the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One problem with one tensor of a checkpoint (see [`Error::Checkpoint`]).
#[derive(Debug, Clone, PartialEq)]
pub enum TensorProblem {
    /// The model needs this tensor and the checkpoint does not have it.
    Missing { key: String, expected: Vec<usize> },
    /// The checkpoint has the tensor with another shape.
    Shape { key: String, expected: Vec<usize>, found: Vec<usize> },
    /// The checkpoint has a tensor the model has no place for (e.g. a PEFT checkpoint trained
    /// for a deeper decoder).
    Unexpected { key: String },
    /// The checkpoint stores the tensor in a type that cannot be read as floats.
    Dtype { key: String, found: String },
}

impl fmt::Display for TensorProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing { key, expected } => {
                write!(f, "missing tensor `{key}` (expected shape {expected:?})")
            }
            Self::Shape { key, expected, found } => {
                write!(f, "tensor `{key}` has shape {found:?}, expected {expected:?}")
            }
            Self::Unexpected { key } => write!(f, "tensor `{key}` is not used by this model"),
            Self::Dtype { key, found } => {
                write!(f, "tensor `{key}` has dtype {found}, expected a float type (F32, F16, BF16, F64)")
            }
        }
    }
}

/// Everything that can go wrong in glimpse.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },

    /// A JSON/TOML configuration file is malformed or lacks a field.
    #[error("{path}: {message}")]
    Config { path: String, message: String },

    /// The safetensors container itself is unreadable (header, offsets, truncation).
    #[error("{path}: not a valid safetensors file: {message}")]
    Safetensors { path: String, message: String },

    /// A `pytorch_model.bin` that cannot be read, or that holds more than tensors (a pickle
    /// that would run code is refused, never executed).
    #[error("{path}: not a readable PyTorch checkpoint: {message}")]
    TorchFile { path: String, message: String },

    /// The checkpoint does not fit the model described by its config.
    #[error("{path}: checkpoint does not fit the model ({} problem{}):\n  {}",
        problems.len(), if problems.len() == 1 { "" } else { "s" },
        problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
    Checkpoint { path: String, problems: Vec<TensorProblem> },

    /// An image could not be decoded or is unacceptable (size, format).
    #[error("{path}: {message}")]
    Image { path: String, message: String },

    /// The tokenizer could not be loaded or failed on a text.
    #[error("tokenizer: {0}")]
    Tokenizer(String),

    /// A request or option the user can correct: a bad template, an option out of range, a
    /// tower the loaded model lacks, a missing argument.
    #[error("{0}")]
    Usage(String),

    /// A file or folder that does not exist (a model folder, a config, a shard an index lists).
    #[error("{0}")]
    NotFound(String),

    /// Something valid that glimpse does not do (a legacy format, a URL given to the CLI).
    #[error("{0}")]
    Unsupported(String),

    /// A file with fewer bytes than its own header promises (an interrupted download).
    #[error("{0}")]
    Truncated(String),

    /// A broken promise inside glimpse (a transport answering nothing was asked): a bug.
    #[error("internal error: {0}")]
    Internal(String),

    /// The compute device could not be initialised or failed.
    #[error("device: {0}")]
    Device(String),

    /// The work was stopped by whoever asked for it (a caption whose settings changed).
    #[error("cancelled")]
    Cancelled,

    /// A file declares a tensor larger than the model it is loaded for can hold (checked from
    /// the header or pickle, before the tensor's bytes are read).
    #[error(
        "{path}: tensor `{tensor}` declares shape {shape:?} ({}), more than the {limit} {what}: \
         the file does not belong to this model's config.json, or is corrupt",
        elements.map_or("more elements than fit in a u64".to_string(), |n| format!("{n} elements"))
    )]
    TooLarge { path: String, tensor: String, shape: Vec<usize>, elements: Option<u64>, limit: u64, what: &'static str },

    /// The checkpoint holds far fewer parameters than its config describes (checked before
    /// the model is built).
    #[error(
        "{path}: the checkpoint holds {held} of the {expected} parameters its config.json describes: \
         it belongs to another model, or is incomplete"
    )]
    Incomplete { path: String, held: u64, expected: u64 },

    /// A tensor larger than the GPU's largest storage buffer (checked before the upload, which
    /// would otherwise fail later inside the GPU runtime).
    #[error(
        "{path}: tensor `{tensor}` {shape:?} takes {} MB, more than this GPU's largest buffer ({} MB): \
         run on a GPU that allows larger buffers, or natively on the CPU backend (--backend cpu)",
        bytes / 1_000_000, limit / 1_000_000
    )]
    TensorTooLarge { path: String, tensor: String, shape: Vec<usize>, bytes: u64, limit: u64 },

    /// Another `glimpse train` holds the lock on a training output folder (two runs would
    /// overwrite each other's checkpoints and interleave their logs).
    #[error(
        "{folder}: another `glimpse train` is using this output folder ({holder}; lock file {lock}): wait for it to end or \
         train into another output folder; if that run is no longer running, delete {lock} and start again"
    )]
    Locked { folder: String, lock: String, holder: String },
}

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        Self::Io { path: path.as_ref().display().to_string(), source }
    }

    /// A malformed configuration file.
    pub fn config(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Config { path: path.into(), message: message.into() }
    }

    /// A bad image.
    pub fn image(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Image { path: path.into(), message: message.into() }
    }

    /// A request or option the user can correct.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::Usage(message.into())
    }

    /// What users act on: the kind of this error (the page reacts to it).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Usage(_) | Self::Locked { .. } => ErrorKind::InvalidInput,
            Self::NotFound(_) => ErrorKind::NotFound,
            Self::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            Self::Io { .. } => ErrorKind::Io,
            Self::Unsupported(_) => ErrorKind::Unsupported,
            Self::Config { .. }
            | Self::Safetensors { .. }
            | Self::TorchFile { .. }
            | Self::Checkpoint { .. }
            | Self::Image { .. }
            | Self::Tokenizer(_)
            | Self::TooLarge { .. }
            | Self::Incomplete { .. }
            | Self::Truncated(_) => ErrorKind::InvalidFile,
            Self::TensorTooLarge { .. } => ErrorKind::OutOfMemory,
            Self::Device(m) if is_out_of_memory(m) => ErrorKind::OutOfMemory,
            Self::Device(_) => ErrorKind::Device,
            Self::Internal(_) => ErrorKind::Internal,
            Self::Cancelled => ErrorKind::Cancelled,
        }
    }

    /// Names a tensor by its key in the checkpoint file (the model tree's name is shorter).
    pub fn with_file_key(self, key: &str) -> Self {
        match self {
            Self::TensorTooLarge { path, shape, bytes, limit, .. } => {
                Self::TensorTooLarge { path, tensor: key.to_string(), shape, bytes, limit }
            }
            other => other,
        }
    }
}

/// What kind of problem an error is: what the user does about it differs by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorKind {
    /// A file or folder is not there: check the path or URL.
    NotFound,
    /// A valid input glimpse does not handle: convert it.
    Unsupported,
    /// A file is corrupt, truncated, or belongs to another model: replace it.
    InvalidFile,
    /// An option or request is wrong: correct it.
    InvalidInput,
    /// Memory ran out, or a tensor exceeds the device's limits: use a smaller model or another backend.
    OutOfMemory,
    /// The compute device failed.
    Device,
    /// Reading or writing a local file failed (permissions, a full disk).
    Io,
    /// A bug in glimpse.
    Internal,
    /// Stopped on request: nothing to report.
    Cancelled,
}

impl ErrorKind {
    /// The kind's name, as the page receives it (`not-found`, `invalid-file`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Self::NotFound => "not-found",
            Self::Unsupported => "unsupported",
            Self::InvalidFile => "invalid-file",
            Self::InvalidInput => "invalid-input",
            Self::OutOfMemory => "out-of-memory",
            Self::Device => "device",
            Self::Io => "io",
            Self::Internal => "internal",
            Self::Cancelled => "cancelled",
        }
    }
}

fn is_out_of_memory(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("out of memory") || m.contains("outofmemory") || m.contains("allocation failed")
}
