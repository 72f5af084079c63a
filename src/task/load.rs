//! Loading a model from files that arrive piece by piece (the page's downloads): the configs
//! first, then each safetensors file header first and tensor by tensor. Plain Rust, so the
//! same sequence is tested natively; the page's worker only moves bytes.

use std::collections::BTreeMap;

use burn::tensor::Device;

use crate::error::{Error, Result};
use crate::hf::stream::{Plan, StreamedFile};
use crate::hf::torch_zip::StreamedTorchFile;
use crate::hf::weights::Budget;
use crate::hf::{ClipConfig, EncoderConfig, Gpt2Config, PreprocessConfig, Weights};
use crate::model::budget;
use crate::model::captioner::{Captioner, CaptionerConfig};
use crate::model::clip::Towers;
use crate::model::part::Part;
use crate::model::peft::PeftCheckpoint;
use crate::task::caption::CaptionPipeline;
use crate::task::embed::Clip;
use crate::tokenize::{ClipTokenizer, Gpt2Tokenizer};

/// Largest request the planner makes for consecutive tensors (a larger tensor gets its own).
pub const MAX_CHUNK: u64 = 16 << 20;

/// A checkpoint file being received, in either format.
enum Streamed {
    Safetensors(StreamedFile),
    Torch(StreamedTorchFile),
}

impl Streamed {
    fn source(&self) -> &str {
        match self {
            Streamed::Safetensors(f) => f.source(),
            Streamed::Torch(f) => f.source(),
        }
    }
}

enum Target {
    Clip { config: ClipConfig, preprocess: PreprocessConfig, tokenizer: Option<ClipTokenizer>, towers: Towers },
    Captioner { config: CaptionerConfig, tokenizer: Gpt2Tokenizer },
}

/// An empty store bounded by what the model can take.
fn budgeted(device: &Device, budget: Budget) -> Weights {
    let mut w = Weights::new(device);
    w.set_budget(budget);
    w
}

/// A model being loaded.
pub struct Loading {
    target: Target,
    weights: Weights,
    files: BTreeMap<&'static str, (Part, Option<Streamed>)>,
    peft_keys: Vec<String>,
}

impl Loading {
    /// A CLIP model from the texts of its `config.json`, `preprocessor_config.json` (optional:
    /// derived from the config when absent) and `tokenizer.json` (needed for the text tower).
    /// Its weights then come as part `clip`.
    pub fn clip(device: &Device, config: &str, preprocessor: Option<&str>, tokenizer: Option<&[u8]>, towers: Towers) -> Result<Self> {
        let config = ClipConfig::from_json_str(config, "config.json")?;
        let preprocess = match preprocessor {
            Some(text) => PreprocessConfig::from_json_str(text, "preprocessor_config.json")?,
            None => PreprocessConfig::clip(config.vision.image_size as u32),
        };
        let tokenizer = match (towers, tokenizer) {
            (Towers::Vision, _) => None,
            (_, Some(json)) => Some(ClipTokenizer::from_bytes(json, config.text.max_position_embeddings, config.text.vocab_size)?),
            (_, None) => return Err(Error::invalid("the text tower needs a tokenizer.json")),
        };
        let files = BTreeMap::from([("clip", (Part::Clip(towers), None))]);
        Ok(Self {
            weights: budgeted(device, budget::clip(&config, towers)),
            target: Target::Clip { config, preprocess, tokenizer, towers },
            files,
            peft_keys: Vec::new(),
        })
    }

    /// A captioner from the encoder's `config.json` (+ optional preprocessor config), the
    /// decoder's `config.json`, an optional PEFT `adapter_config.json` and GPT-2's
    /// `tokenizer.json`. Its weights then come as parts `encoder`, `decoder` and `peft`.
    pub fn captioner(
        device: &Device,
        encoder_config: &str,
        encoder_preprocessor: Option<&str>,
        decoder_config: &str,
        peft_config: Option<&str>,
        tokenizer: &[u8],
    ) -> Result<Self> {
        let encoder = EncoderConfig::from_json_str(encoder_config, "encoder config.json")?;
        let preprocess =
            encoder_preprocessor.map(|t| PreprocessConfig::from_json_str(t, "encoder preprocessor_config.json")).transpose()?;
        let gpt2 = Gpt2Config::from_json_str(decoder_config, "decoder config.json")?;
        let peft = peft_config.map(|t| PeftCheckpoint::from_json_str(t, "adapter_config.json")).transpose()?;
        let has_peft = peft.is_some();
        let config = CaptionerConfig::new(encoder, preprocess, gpt2, peft.map(|p| (p, "adapter_config.json")), None, false)?;
        let encoder_part = Part::Encoder(config.encoder.kind);
        let mut files = BTreeMap::from([("encoder", (encoder_part, None)), ("decoder", (Part::Decoder, None))]);
        if has_peft {
            files.insert("peft", (Part::Peft, None));
        }
        let tokenizer = Gpt2Tokenizer::from_bytes(tokenizer)?.for_vocab(config.gpt2.vocab_size)?;
        Ok(Self { weights: budgeted(device, budget::captioner(&config)), target: Target::Captioner { config, tokenizer }, files, peft_keys: Vec::new() })
    }

    /// A published captioner (a HF `VisionEncoderDecoderModel`) from the texts of its
    /// `config.json`, optional `preprocessor_config.json` / `generation_config.json`, an
    /// optional PEFT `adapter_config.json` and GPT-2's `tokenizer.json`. Its weights then come as
    /// part `model` (and `peft`).
    pub fn pretrained(
        device: &Device,
        config: &str,
        preprocessor: Option<&str>,
        generation: Option<&str>,
        peft_config: Option<&str>,
        tokenizer: &[u8],
    ) -> Result<Self> {
        let peft = peft_config.map(|t| PeftCheckpoint::from_json_str(t, "adapter_config.json")).transpose()?;
        let has_peft = peft.is_some();
        let config = CaptionerConfig::pretrained(
            (config, "config.json"),
            preprocessor.map(|t| (t, "preprocessor_config.json")),
            generation.map(|t| (t, "generation_config.json")),
            peft.map(|p| (p, "adapter_config.json")),
            None,
            false,
        )?;
        let mut files = BTreeMap::from([("model", (Part::EncoderDecoder(config.encoder.kind), None))]);
        if has_peft {
            files.insert("peft", (Part::Peft, None));
        }
        let tokenizer = Gpt2Tokenizer::from_bytes(tokenizer)?.for_vocab(config.gpt2.vocab_size)?;
        Ok(Self { weights: budgeted(device, budget::captioner(&config)), target: Target::Captioner { config, tokenizer }, files, peft_keys: Vec::new() })
    }

    /// The parts whose safetensors files are still to be opened.
    pub fn parts(&self) -> Vec<&'static str> {
        self.files.iter().filter(|(_, (_, f))| f.is_none()).map(|(k, _)| *k).collect()
    }

    fn slot(&mut self, part: &str) -> Result<(&mut (Part, Option<Streamed>), &mut Weights)> {
        let known: Vec<&str> = self.files.keys().copied().collect();
        let slot =
            self.files.get_mut(part).ok_or_else(|| Error::invalid(format!("this model has no part `{part}` (it has {})", known.join(", "))))?;
        Ok((slot, &mut self.weights))
    }

    /// Opens the safetensors file of `part` from its first bytes (at least the header) and
    /// returns what to fetch. `total_len` is the file size when the transport knows it.
    pub fn open(&mut self, part: &str, source: &str, start: &[u8], total_len: Option<u64>) -> Result<Plan> {
        let (slot, weights) = self.slot(part)?;
        let p = slot.0;
        let file = StreamedFile::open(start, source, total_len, &|k| p.rename(k), weights)?;
        let plan = file.plan(MAX_CHUNK);
        slot.1 = Some(Streamed::Safetensors(file));
        Ok(plan)
    }

    /// Opens the `pytorch_model.bin` of `part` from its last bytes (`tail`, starting at byte
    /// `tail_start` of a `len`-byte file; see [`crate::hf::torch_zip::TAIL_LEN`]). Returns the
    /// byte range of the pickle, to be given to [`Self::torch_pickle`].
    pub fn open_torch(&mut self, part: &str, source: &str, tail: &[u8], tail_start: u64, len: u64) -> Result<(u64, u64)> {
        let (slot, _) = self.slot(part)?;
        let file = StreamedTorchFile::open(tail, tail_start, len, source)?;
        let range = file.pickle_range();
        slot.1 = Some(Streamed::Torch(file));
        Ok(range)
    }

    /// Reads the pickle of `part`'s `pytorch_model.bin` (as data) and returns what to fetch.
    pub fn torch_pickle(&mut self, part: &str, bytes: &[u8]) -> Result<Plan> {
        let (slot, weights) = self.slot(part)?;
        let p = slot.0;
        match &mut slot.1 {
            Some(Streamed::Torch(f)) => {
                f.set_pickle(bytes, &|k| p.rename(k), weights)?;
                Ok(f.plan())
            }
            _ => Err(Error::invalid(format!("part `{part}` is not an opened pytorch_model.bin"))),
        }
    }

    /// Uploads tensor `index` (from the plan) of `part`.
    pub fn put(&mut self, part: &str, index: usize, bytes: Vec<u8>) -> Result<()> {
        let (p, file) = self.files.get_mut(part).ok_or_else(|| Error::invalid(format!("no part `{part}`")))?;
        let file = file.as_mut().ok_or_else(|| Error::invalid(format!("part `{part}` was not opened")))?;
        let names = match file {
            Streamed::Safetensors(f) => vec![f.put(index, bytes, &mut self.weights)?],
            Streamed::Torch(f) => f.put(index, &bytes, &mut self.weights)?,
        };
        if *p == Part::Peft {
            self.peft_keys.extend(names);
        }
        Ok(())
    }

    fn close_files(&mut self) -> Result<()> {
        for (name, (_, file)) in std::mem::take(&mut self.files) {
            let file = file.ok_or_else(|| Error::invalid(format!("the {name} checkpoint was never opened")))?;
            let source = file.source().to_string();
            match file {
                Streamed::Safetensors(f) => f.finish(&mut self.weights)?,
                Streamed::Torch(f) => f.finish(&mut self.weights)?,
            };
            self.weights.set_source(&source);
        }
        Ok(())
    }

    /// Builds the CLIP model (an error when this is a captioner or a file is incomplete).
    pub fn finish_clip(mut self) -> Result<Clip> {
        self.close_files()?;
        match self.target {
            Target::Clip { config, preprocess, tokenizer, towers } => {
                Clip::from_weights(self.weights, config, preprocess, tokenizer, towers)
            }
            Target::Captioner { .. } => Err(Error::invalid("this load is a captioner, not a CLIP model")),
        }
    }

    /// Builds the captioner (an error when this is a CLIP model or a file is incomplete).
    pub fn finish_captioner(mut self) -> Result<CaptionPipeline> {
        self.close_files()?;
        let device = self.weights.device().clone();
        match self.target {
            Target::Captioner { config, tokenizer } => {
                let model = Captioner::assemble(self.weights, &config, false, &self.peft_keys)?;
                Ok(CaptionPipeline::new(model, config, tokenizer, &device))
            }
            Target::Clip { .. } => Err(Error::invalid("this load is a CLIP model, not a captioner")),
        }
    }

    /// Whether this load makes a captioner.
    pub fn is_captioner(&self) -> bool {
        matches!(self.target, Target::Captioner { .. })
    }
}
