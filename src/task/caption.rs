//! Captioning one image end to end: preprocessing, encoder, decoding, text and per-token
//! attention. The CLI and the page both call [`CaptionPipeline::caption`].

use burn::tensor::{Device, Tensor, TensorData};
use image::RgbImage;
use serde::Serialize;

use crate::error::Result;
use crate::image::{normalize, resize_and_crop};
use crate::model::captioner::{Captioner, CaptionerConfig};
use crate::task::generate::{GenerateConfig, Watch, generate, unwatched};
use crate::tokenize::Gpt2Tokenizer;

/// A captioner ready for images.
pub struct CaptionPipeline {
    /// The network in inference form (LoRA merged, prefix folded).
    pub model: Captioner,
    /// Its configuration.
    pub config: CaptionerConfig,
    /// GPT-2's tokenizer, for the text and the word chips.
    pub tokenizer: Gpt2Tokenizer,
    device: Device,
}

/// One image's caption.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CaptionOutput {
    /// The sequence exactly as HF `generate` returns it: the decoder start token first, then the
    /// generated tokens, then the stop token if one was produced. Not aligned with `words`.
    pub tokens: Vec<u32>,
    /// The caption text (special tokens skipped, trimmed).
    pub text: String,
    /// The generated word tokens' ids (no start or stop token): `tokens` without its first
    /// element and its final stop token. `word_ids`, `words` and `attention` are aligned.
    pub word_ids: Vec<u32>,
    /// Each word token's own text, for chips and panel titles.
    pub words: Vec<String>,
    /// The word chips: `words` merged where byte-level BPE split a character over several
    /// tokens (each alone decodes to U+FFFD). A chip's attention is the mean of its tokens'.
    pub chips: Vec<Chip>,
    /// The patch grid `[rows, cols]` the attention maps cover.
    pub grid: [usize; 2],
    /// `[word][layer][1 + rows * cols]`: cross-attention over the encoder positions (CLS
    /// first), mean over heads.
    pub attention: Vec<Vec<Vec<f32>>>,
}

/// One chip of a caption: its text and the word tokens it covers.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Chip {
    /// The text the tokens decode to together.
    pub text: String,
    /// The first word token (an index into `words` and `attention`).
    pub start: usize,
    /// One past the last word token.
    pub end: usize,
}

impl CaptionPipeline {
    /// Wraps a loaded captioner (converted to its inference form here).
    pub fn new(model: Captioner, config: CaptionerConfig, tokenizer: Gpt2Tokenizer, device: &Device) -> Self {
        Self { model: model.for_inference(), config, tokenizer, device: device.clone() }
    }

    /// The text of a partial sequence (start token first), as decoding goes.
    pub fn partial(&self, seq: &[u32]) -> Result<String> {
        let body = seq.get(1..).unwrap_or_default();
        let body = body.strip_suffix(&[self.config.eos_token]).unwrap_or(body);
        Ok(self.tokenizer.decode(body)?.trim().to_string())
    }

    fn chips(&self, words: &[u32]) -> Result<Vec<Chip>> {
        Ok(self.tokenizer.chips(words)?.into_iter().map(|(text, start, end)| Chip { text, start, end }).collect())
    }

    /// The image as the encoder sees it (resized and cropped), for drawing the maps over.
    pub fn seen(&self, img: &RgbImage) -> RgbImage {
        resize_and_crop(img, &self.config.preprocess)
    }

    /// Captions one decoded image. The start and stop tokens are the model's (a `cfg.eos` of
    /// `u32::MAX`, "never stop", is kept: benchmarks generate a fixed length).
    pub async fn caption(&self, img: &RgbImage, cfg: &GenerateConfig) -> Result<CaptionOutput> {
        self.caption_seen(&self.seen(img), cfg, &mut unwatched()).await
    }

    /// Like [`Self::caption`], for an image already prepared by [`Self::seen`] (callers that
    /// also draw the attention over it resize once); `watch` sees every decoding step (the page
    /// streams the words and lets other work run there).
    pub async fn caption_seen(&self, seen: &RgbImage, cfg: &GenerateConfig, watch: Watch<'_>) -> Result<CaptionOutput> {
        let eos = if cfg.eos == u32::MAX { u32::MAX } else { self.config.eos_token };
        let cfg = &GenerateConfig { start: self.config.start_token, eos, ..cfg.clone() };
        cfg.check(&self.model.decoder)?;
        let (w, h) = seen.dimensions();
        let pixels = normalize(seen, &self.config.preprocess);
        let pixels = Tensor::<4>::from_data(TensorData::new(pixels, [1, 3, h as usize, w as usize]), &self.device); // [1, 3, s, s]
        let enc = crate::pool::run(|| self.model.encode(pixels)); // [1, 1 + g*g, n_embd]
        let cap = generate(&self.model.decoder, enc, cfg, watch).await?;
        let words = cap.words(cfg.eos);
        let text = self.tokenizer.decode(words)?.trim().to_string();
        let pieces = self.tokenizer.pieces(words)?;
        let g = self.config.encoder.vision.grid();
        Ok(CaptionOutput {
            tokens: cap.tokens.clone(),
            text,
            word_ids: words.to_vec(),
            words: pieces,
            chips: self.chips(words)?,
            grid: [g, g],
            attention: cap.attention,
        })
    }
}
