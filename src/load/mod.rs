//! Loading models: one sequence for the CLI and the page, driven by requests.
//!
//! The loader ([`driver::Loader`] running a sequence of [`models`]) says what it needs next: a
//! config's text, a byte range of a named file, the tail of a zip ([`request::Request`]). A
//! transport answers: the local file system natively ([`native`]), fetch + Cache API + dropped
//! files in the page (`www/worker.js`, through `web/`). All file policy (which files to try,
//! the fallback from safetensors to `pytorch_model.bin`, sharded checkpoints, following a PEFT's
//! base model, the bundled tokenizers, chunk planning) lives here.
//!
//! - [`request`]: locations, requests, responses.
//! - [`driver`]: the request loop over an `async` sequence.
//! - [`io`]: typed requests with their checks.
//! - [`index`]: shard indexes.
//! - [`checkpoint`]: which weight files a folder holds, opening and fetching them.
//! - [`models`]: the sequences per model kind.
//! - [`native`]: the file-system transport and folder-level calls.

pub mod checkpoint;
pub mod driver;
pub mod index;
pub mod io;
pub mod models;
#[cfg(not(target_family = "wasm"))]
pub mod native;
pub mod request;

pub use driver::{Loader, Progress};
pub use models::{CaptionerSpec, Loaded, LoadedCaptioner, Spec};
pub use request::{Location, Request, Response};
