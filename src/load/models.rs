//! The loading sequences: what each model kind reads, in what order, from which folder.
//!
//! - CLIP: `config.json`, `preprocessor_config.json` (else derived from the config),
//!   `tokenizer.json` (text tower only; else the bundled one), then the weights.
//! - A captioner from parts: the encoder's `config.json` (+ preprocessor config), the
//!   decoder's `config.json`, the PEFT's `adapter_config.json`, the tokenizer (decoder folder,
//!   else bundled), then every part's weights (all opened before any is fetched).
//! - A published captioner (`VisionEncoderDecoderModel`): `config.json`, the optional
//!   `preprocessor_config.json` and `generation_config.json`, the tokenizer, the weights.
//! - A PEFT checkpoint given alone: its `adapter_config.json` names the base
//!   (`base_model`, else `base_encoder` + `base_decoder`), which is then loaded as above.

use burn::tensor::Device;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::hf::weights::Budget;
use crate::hf::{ClipConfig, EncoderConfig, Gpt2Config, PreprocessConfig, Weights};
use crate::load::checkpoint::{self, Layout, Opened};
use crate::load::io::Io;
use crate::load::request::Location;
use crate::model::budget;
use crate::model::captioner::{Captioner, CaptionerConfig};
use crate::model::clip::Towers;
use crate::model::part::Part;
use crate::model::peft::PeftCheckpoint;
use crate::task::embed::Clip;
use crate::tokenize::{ClipTokenizer, Gpt2Tokenizer};

/// What to load.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Spec {
    /// A CLIP model (`CLIPModel` folder) and the towers wanted of it.
    Clip {
        /// The folder.
        model: Location,
        /// Which towers (default both).
        #[serde(default = "both")]
        towers: Towers,
    },
    /// A captioner.
    Captioner(Box<CaptionerSpec>),
}

fn both() -> Towers {
    Towers::Both
}

/// Where a captioner's parts are: a published captioner (`model`), or an encoder and a decoder
/// (`encoder`, `decoder`), with an optional PEFT checkpoint; a PEFT alone names its base.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct CaptionerSpec {
    /// A published `VisionEncoderDecoderModel` folder.
    #[serde(default)]
    pub model: Option<Location>,
    /// The image encoder's folder (a CLIP model or a ViT).
    #[serde(default)]
    pub encoder: Option<Location>,
    /// The GPT-2 folder.
    #[serde(default)]
    pub decoder: Option<Location>,
    /// The PEFT checkpoint's folder.
    #[serde(default)]
    pub peft: Option<Location>,
    /// The start of training: the PEFT method the run wants (a PEFT given too must match).
    #[serde(skip)]
    pub method: Option<PeftCheckpoint>,
    /// The start of training: what no checkpoint holds is freshly initialised.
    #[serde(skip)]
    pub fresh: bool,
}

/// A loaded captioner, before it is prepared for inference.
pub struct LoadedCaptioner {
    /// The network.
    pub model: Captioner,
    /// Its configuration (generation defaults included).
    pub config: CaptionerConfig,
    /// GPT-2's tokenizer, checked against the decoder's vocabulary.
    pub tokenizer: Gpt2Tokenizer,
}

/// What a load made.
#[allow(clippy::large_enum_variant)] // made once per load and moved into place at once
pub enum Loaded {
    /// A CLIP model.
    Clip(Clip),
    /// A captioner.
    Captioner(LoadedCaptioner),
}

/// Runs the sequence for `spec`.
pub async fn load(io: Io, device: Device, spec: Spec) -> Result<Loaded> {
    match spec {
        Spec::Clip { model, towers } => Ok(Loaded::Clip(clip(&io, &device, &model, towers).await?)),
        Spec::Captioner(c) => Ok(Loaded::Captioner(captioner(&io, &device, *c).await?)),
    }
}

fn budgeted(device: &Device, budget: Budget) -> Weights {
    let mut w = Weights::new(device);
    w.set_budget(budget);
    w
}

/// A CLIP model from the folder `at`.
pub async fn clip(io: &Io, device: &Device, at: &Location, towers: Towers) -> Result<Clip> {
    let config = ClipConfig::from_json_str(&io.required_text(at, "config.json").await?, &at.show("config.json"))?;
    let preprocess = match io.optional_text(at, "preprocessor_config.json").await? {
        Some(text) => PreprocessConfig::from_json_str(&text, &at.show("preprocessor_config.json"))?,
        None => PreprocessConfig::clip(config.vision.image_size as u32),
    };
    let tokenizer = match towers {
        Towers::Vision => None,
        _ => {
            let (json, shown) = tokenizer(io, at, "clip").await?;
            Some(ClipTokenizer::named(&json, &shown, config.text.max_position_embeddings, config.text.vocab_size)?)
        }
    };
    let mut w = budgeted(device, budget::clip(&config, towers));
    let part = Part::Clip(towers);
    let files = checkpoint::open(io, at, Layout::Model, &|k| part.rename(k), &mut w).await?;
    checkpoint::fetch(io, files, &mut w).await?;
    Clip::from_weights(w, config, preprocess, tokenizer, towers)
}

/// `tokenizer.json` of the folder, else the bundled one (`clip` or `gpt2`), and its name.
async fn tokenizer(io: &Io, at: &Location, bundled: &str) -> Result<(Vec<u8>, String)> {
    if let Some(json) = io.optional(at, "tokenizer.json").await? {
        return Ok((json, at.show("tokenizer.json")));
    }
    let fallback = Location::Bundled(bundled.to_string());
    Ok((io.required(&fallback, "tokenizer.json").await?, fallback.show("tokenizer.json")))
}

/// Where a captioner's weights come from.
enum Base {
    Published(Location),
    Parts { encoder: Location, decoder: Location },
}

/// Decides the base from the spec and the PEFT config's references.
fn base(spec: &CaptionerSpec, peft: Option<&PeftCheckpoint>) -> Result<Base> {
    let named = |r: Option<&String>| r.map(|s| Location::from_reference(s));
    match (&spec.model, &spec.encoder, &spec.decoder) {
        (Some(m), None, None) => return Ok(Base::Published(m.clone())),
        (Some(_), _, _) => return Err(Error::Usage("give a published captioner (model) or an encoder and a decoder, not both".into())),
        (None, None, None) => {
            if let Some(m) = named(peft.and_then(|p| p.base_model.as_ref())) {
                return Ok(Base::Published(m));
            }
        }
        _ => {}
    }
    let encoder = spec.encoder.clone().or_else(|| named(peft.and_then(|p| p.base_encoder.as_ref())));
    let decoder = spec.decoder.clone().or_else(|| named(peft.and_then(|p| p.base_decoder.as_ref())));
    match (encoder, decoder) {
        (Some(encoder), Some(decoder)) => Ok(Base::Parts { encoder, decoder }),
        (None, _) if peft.is_some() => {
            Err(Error::Usage("no encoder given, and the PEFT checkpoint names none (base_model or base_encoder)".into()))
        }
        (_, None) if peft.is_some() => Err(Error::Usage(
            "no decoder given, and the PEFT checkpoint names none (base_model, base_decoder or base_model_name_or_path)".into(),
        )),
        _ => Err(Error::Usage("give a published captioner (model), or an encoder and a decoder".into())),
    }
}

/// A captioner as `spec` describes it.
pub async fn captioner(io: &Io, device: &Device, spec: CaptionerSpec) -> Result<LoadedCaptioner> {
    let peft = match &spec.peft {
        Some(at) => {
            let shown = at.show("adapter_config.json");
            Some((PeftCheckpoint::from_json_str(&io.required_text(at, "adapter_config.json").await?, &shown)?, at.folder()))
        }
        None => None,
    };
    let base = base(&spec, peft.as_ref().map(|p| &p.0))?;
    let peft_named = peft.as_ref().map(|(c, shown)| (c.clone(), shown.as_str()));
    let (config, parts, tokenizer_at) = match base {
        Base::Published(at) => {
            let text = io.required_text(&at, "config.json").await?;
            let pre = io.optional_text(&at, "preprocessor_config.json").await?;
            let generation = io.optional_text(&at, "generation_config.json").await?;
            let names = ["config.json", "preprocessor_config.json", "generation_config.json"].map(|n| at.show(n));
            let config = CaptionerConfig::pretrained(
                (&text, &names[0]),
                pre.as_deref().map(|t| (t, names[1].as_str())),
                generation.as_deref().map(|t| (t, names[2].as_str())),
                peft_named,
                spec.method.clone(),
                spec.fresh,
            )?;
            let part = Part::EncoderDecoder(config.encoder.kind);
            (config, vec![(at.clone(), part)], at)
        }
        Base::Parts { encoder, decoder } => {
            let enc = EncoderConfig::from_json_str(&io.required_text(&encoder, "config.json").await?, &encoder.show("config.json"))?;
            let pre_name = encoder.show("preprocessor_config.json");
            let preprocess = io
                .optional_text(&encoder, "preprocessor_config.json")
                .await?
                .map(|t| PreprocessConfig::from_json_str(&t, &pre_name))
                .transpose()?;
            let gpt2 = Gpt2Config::from_json_str(&io.required_text(&decoder, "config.json").await?, &decoder.show("config.json"))?;
            let config = CaptionerConfig::new(enc, preprocess, gpt2, peft_named, spec.method.clone(), spec.fresh)?;
            let part = Part::Encoder(config.encoder.kind);
            (config, vec![(encoder, part), (decoder.clone(), Part::Decoder)], decoder)
        }
    };
    let (json, shown) = tokenizer(io, &tokenizer_at, "gpt2").await?;
    let tokenizer = Gpt2Tokenizer::named(&json, &shown)?.for_vocab(config.gpt2.vocab_size)?;

    let mut w = budgeted(device, budget::captioner(&config));
    let mut files: Vec<Opened> = Vec::new();
    for (at, part) in parts {
        files.extend(checkpoint::open(io, &at, Layout::Model, &|k| part.rename(k), &mut w).await?);
    }
    let peft_files = match &spec.peft {
        Some(at) => checkpoint::open(io, at, Layout::Adapter, &|k| Part::Peft.rename(k), &mut w).await?,
        None => Vec::new(),
    };
    checkpoint::fetch(io, files, &mut w).await?;
    // Every key of the PEFT file must find its place in the model.
    let peft_keys = checkpoint::fetch(io, peft_files, &mut w).await?;
    let model = Captioner::assemble(w, &config, spec.fresh, &peft_keys)?;
    Ok(LoadedCaptioner { model, config, tokenizer })
}
