//! The loader's typed requests: a whole file, an exact byte range, the head of a safetensors
//! file, the tail of a zip; each checks what came back and names the file when it is wrong.

use crate::error::{Error, Result};
use crate::hf::safetensors::{Header, PREFIX_LEN};
use crate::load::driver::Link;
use crate::load::request::{Location, Request, Response};

/// First request of a safetensors file: its length prefix and (usually all of) its header.
pub const HEAD_LEN: u64 = 1 << 20;
/// Largest config, tokenizer or index file accepted (GPT-2's tokenizer.json is 1.4 MB).
pub const MAX_SMALL_FILE: u64 = 64 << 20;

/// The sequence's end of the link, with a request per need.
pub struct Io {
    link: Link,
}

impl Io {
    /// Asks through `link`.
    pub fn new(link: Link) -> Self {
        Self { link }
    }

    /// The link (for progress).
    pub fn link(&self) -> &Link {
        &self.link
    }

    /// A whole small file, or `None` when it does not exist.
    pub async fn optional(&self, at: &Location, name: &str) -> Result<Option<Vec<u8>>> {
        let r = Request::File { at: at.clone(), name: name.to_string(), optional: true };
        match self.link.ask(r).await {
            Response::Missing => Ok(None),
            Response::Bytes { bytes, .. } => small(at, name, bytes).map(Some),
        }
    }

    /// A whole small file that must exist.
    pub async fn required(&self, at: &Location, name: &str) -> Result<Vec<u8>> {
        let r = Request::File { at: at.clone(), name: name.to_string(), optional: false };
        match self.link.ask(r).await {
            Response::Missing => Err(Error::NotFound(format!("{}: not found (in {})", at.show(name), at.folder()))),
            Response::Bytes { bytes, .. } => small(at, name, bytes),
        }
    }

    /// A small text file, or `None` when it does not exist.
    pub async fn optional_text(&self, at: &Location, name: &str) -> Result<Option<String>> {
        self.optional(at, name).await?.map(|b| utf8(at, name, b)).transpose()
    }

    /// A small text file that must exist.
    pub async fn required_text(&self, at: &Location, name: &str) -> Result<String> {
        utf8(at, name, self.required(at, name).await?)
    }

    /// Bytes `start..end` of a file known to exist, exactly.
    pub async fn range(&self, at: &Location, name: &str, start: u64, end: u64) -> Result<Vec<u8>> {
        self.range_ahead(at, name, start, end, end).await
    }

    /// Like [`Self::range`], saying that the next requests run on to `ahead`.
    pub async fn range_ahead(&self, at: &Location, name: &str, start: u64, end: u64, ahead: u64) -> Result<Vec<u8>> {
        let ahead = ahead.max(end);
        let r = Request::Range { at: at.clone(), name: name.to_string(), start, end, short: false, optional: false, ahead };
        match self.link.ask(r).await {
            Response::Missing => Err(Error::NotFound(format!("{}: not found (it was there a moment ago)", at.show(name)))),
            Response::Bytes { bytes, .. } if bytes.len() as u64 != end - start => Err(Error::Truncated(format!(
                "{}: got {} bytes of range {start}..{end}, expected {} (the file is shorter than its header says, or the download was cut short)",
                at.show(name),
                bytes.len(),
                end - start
            ))),
            Response::Bytes { bytes, .. } => Ok(bytes),
        }
    }

    /// The first `8 + n` bytes of a safetensors file (prefix and header) and the file's length
    /// when the transport knows it; `None` when the file does not exist.
    pub async fn safetensors_head(&self, at: &Location, name: &str) -> Result<Option<(Vec<u8>, Option<u64>)>> {
        let r = Request::Range {
            at: at.clone(),
            name: name.to_string(),
            start: 0,
            end: HEAD_LEN,
            short: true,
            optional: true,
            ahead: HEAD_LEN,
        };
        let (mut head, file_len) = match self.link.ask(r).await {
            Response::Missing => return Ok(None),
            Response::Bytes { bytes, file_len } => (bytes, file_len),
        };
        let need = (PREFIX_LEN + Header::header_len(&head, &at.show(name))?) as u64;
        if need > head.len() as u64 {
            if head.len() < HEAD_LEN as usize {
                return Err(Error::Safetensors {
                    path: at.show(name),
                    message: format!("header needs {need} bytes, file has {} (truncated?)", head.len()),
                });
            }
            head.extend(self.range(at, name, head.len() as u64, need).await?);
        }
        head.truncate(need as usize);
        Ok(Some((head, file_len)))
    }

    /// The last `len` bytes of a file and the file's length; `None` when it does not exist.
    pub async fn tail(&self, at: &Location, name: &str, len: u64) -> Result<Option<(Vec<u8>, u64)>> {
        let r = Request::Tail { at: at.clone(), name: name.to_string(), len, optional: true };
        match self.link.ask(r).await {
            Response::Missing => Ok(None),
            Response::Bytes { file_len: None, .. } => {
                Err(Error::Internal(format!("{}: the transport did not say the file's length", at.show(name))))
            }
            Response::Bytes { bytes, file_len: Some(n) } if bytes.len() as u64 > n || (bytes.len() as u64) < len.min(n) => {
                Err(Error::Truncated(format!("{}: got {} bytes of the last {len} of a {n}-byte file", at.show(name), bytes.len())))
            }
            Response::Bytes { bytes, file_len: Some(n) } => Ok(Some((bytes, n))),
        }
    }
}

/// Refuses a config, tokenizer or index file of `len` bytes over [`MAX_SMALL_FILE`] (checked by
/// a transport before reading it too, so nothing that large is read).
pub fn check_small(shown: &str, len: u64) -> Result<()> {
    if len > MAX_SMALL_FILE {
        return Err(Error::config(shown, format!("is {len} bytes, more than the {MAX_SMALL_FILE} a config, tokenizer or index can need")));
    }
    Ok(())
}

fn small(at: &Location, name: &str, bytes: Vec<u8>) -> Result<Vec<u8>> {
    check_small(&at.show(name), bytes.len() as u64)?;
    Ok(bytes)
}

fn utf8(at: &Location, name: &str, bytes: Vec<u8>) -> Result<String> {
    String::from_utf8(bytes).map_err(|e| Error::config(at.show(name), format!("is not UTF-8 text: {e}")))
}
