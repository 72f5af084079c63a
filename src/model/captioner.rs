//! The captioner: a frozen image encoder (CLIP's vision tower, or a HF ViT), an optional
//! `enc_to_dec_proj` (when the widths differ, HF `VisionEncoderDecoderModel`'s name), and a
//! frozen GPT-2 with trained cross-attention plus one PEFT method. Published
//! `VisionEncoderDecoderModel` checkpoints (ViT + GPT-2) load into the same structure.

use burn::module::Module;
use burn::tensor::Tensor;

use crate::error::Result;
use crate::hf::{EncoderConfig, EncoderDecoderConfig, EncoderKind, GenerationDefaults, Gpt2Config, PreprocessConfig, Weights};
use crate::model::clip::{ClipVisionTransformer, VisionOutput};
use crate::model::gpt2::{BuildOptions, Gpt2};
use crate::model::nn::{Layout, Linear, linear};
use crate::model::peft::{PeftCheckpoint, PeftMethod};
use crate::model::vit::VitModel;

/// The image encoder.
#[derive(Module, Debug)]
pub enum ImageEncoder {
    /// CLIP's vision tower (`vision_model.*`).
    Clip(ClipVisionTransformer),
    /// HF ViT (`encoder.*`).
    Vit(VitModel),
}

impl ImageEncoder {
    /// Loads the encoder `c` describes from its place in `w` ([`EncoderConfig::prefix`]).
    pub fn load(w: &mut Weights, c: &EncoderConfig) -> Self {
        match c.kind {
            EncoderKind::Clip => Self::Clip(ClipVisionTransformer::load(w, c.prefix(), &c.vision)),
            EncoderKind::Vit => Self::Vit(VitModel::load(w, c.prefix(), &c.vision)),
        }
    }

    /// pixels `[b, c, s, s]` -> the states the decoder attends to (`last_hidden_state`).
    pub fn forward(&self, pixels: Tensor<4>, keep_attentions: bool) -> VisionOutput {
        match self {
            Self::Clip(m) => m.forward(pixels, keep_attentions),
            Self::Vit(m) => m.forward(pixels, keep_attentions),
        }
    }
}

/// Encoder + bridge + decoder.
#[derive(Module, Debug)]
pub struct Captioner {
    /// The image encoder, frozen.
    pub encoder: ImageEncoder,
    /// `enc_to_dec_proj`: encoder width -> decoder width, when they differ.
    pub enc_to_dec_proj: Option<Linear>,
    /// GPT-2 with cross-attention.
    pub decoder: Gpt2,
}

/// Everything needed besides the weights.
#[derive(Debug, Clone)]
pub struct CaptionerConfig {
    /// The image encoder.
    pub encoder: EncoderConfig,
    /// How images are prepared for it.
    pub preprocess: PreprocessConfig,
    /// The decoder.
    pub gpt2: Gpt2Config,
    /// The PEFT method and where it came from, if any.
    pub peft: Option<PeftCheckpoint>,
    /// The token decoding starts from (`decoder_start_token_id`; GPT-2's `<|endoftext|>`).
    pub start_token: u32,
    /// The token that ends a caption (`eos_token_id`).
    pub eos_token: u32,
    /// Decoding defaults shipped with a published checkpoint.
    pub generation: GenerationDefaults,
}

impl Captioner {
    /// Builds from `w`, which holds `vision_model.*` (encoder), the decoder's keys without the
    /// `transformer.` prefix, and the PEFT checkpoint's tensors under the same names. With
    /// `fresh`, what no checkpoint provides (cross-attention, enc_to_dec_proj, LoRA) is freshly
    /// initialised for training; otherwise it is reported missing.
    pub fn load(w: &mut Weights, c: &CaptionerConfig, fresh: bool) -> Self {
        let d_enc = c.encoder.vision.tower.hidden_size;
        let n = c.gpt2.n_embd;
        let encoder = ImageEncoder::load(w, &c.encoder).no_grad();
        let enc_to_dec_proj = (d_enc != n).then(|| {
            if fresh && !w.contains("enc_to_dec_proj.weight") {
                linear(&mut Weights::random(w.device(), 0.02), "enc_to_dec_proj", d_enc, n, true, Layout::OutIn)
            } else {
                linear(w, "enc_to_dec_proj", d_enc, n, true, Layout::OutIn)
            }
        });
        let none = PeftMethod::None;
        let peft = c.peft.as_ref().map_or(&none, |p| &p.method);
        let decoder = Gpt2::load(w, &c.gpt2, BuildOptions { peft, fresh, cross_attention: true });
        Self { encoder, enc_to_dec_proj, decoder }
    }

    /// Encoder states the decoder attends to: `[b, 1 + g*g, n_embd]` (CLS first).
    pub fn encode(&self, pixels: Tensor<4>) -> Tensor<3> {
        self.project(self.encoder.forward(pixels, false).last_hidden_state)
    }

    /// `enc_to_dec_proj` (when the widths differ) on raw encoder states `[b, src, d_enc]`.
    pub fn project(&self, h: Tensor<3>) -> Tensor<3> {
        match &self.enc_to_dec_proj {
            Some(p) => p.forward(h), // [b, src, n]
            None => h,
        }
    }

    /// Side of the patch grid (the attention maps are `grid x grid` plus CLS).
    pub fn grid(&self, c: &CaptionerConfig) -> usize {
        c.encoder.vision.grid()
    }

    /// Checks the sequence budget: the start token plus `max_new_tokens` must fit the position table.
    pub fn check_length(&self, max_new_tokens: usize) -> Result<()> {
        let n = self.decoder.config.n_positions;
        if max_new_tokens + 1 > n {
            return Err(crate::Error::usage(format!(
                "max tokens {max_new_tokens} does not fit the decoder's {n} positions (at most {})",
                n - 1
            )));
        }
        Ok(())
    }
}

/// Maps a decoder checkpoint key to the decoder's names (`transformer.` dropped; the tied
/// `lm_head` and the causal-mask buffers skipped).
pub fn decoder_key(key: &str) -> Option<String> {
    let k = key.strip_prefix("transformer.").unwrap_or(key);
    if k == "lm_head.weight" || k.ends_with(".attn.bias") || k.ends_with(".attn.masked_bias") {
        return None;
    }
    Some(k.to_string())
}

impl CaptionerConfig {
    /// Puts the parts' configs together. `method`, when given (the start of training), is the
    /// PEFT method the run wants: a PEFT checkpoint given too must use the same method, and
    /// without one the run starts a fresh PEFT of that method.
    pub fn new(
        encoder: EncoderConfig,
        preprocess: Option<PreprocessConfig>,
        gpt2: Gpt2Config,
        peft: Option<(PeftCheckpoint, &str)>,
        method: Option<PeftCheckpoint>,
        fresh: bool,
    ) -> Result<Self> {
        let preprocess = preprocess.unwrap_or_else(|| encoder.default_preprocess());
        let peft = match (peft, method) {
            (Some((have, path)), Some(want)) if have.method.name() != want.method.name() || (have.method != want.method && !fresh) => {
                return Err(crate::Error::usage(format!(
                    "{path}: the PEFT checkpoint is {} ({:?}), this run is configured for {} ({:?})",
                    have.method.name(),
                    have.method,
                    want.method.name(),
                    want.method
                )));
            }
            (Some((have, _)), _) => Some(have),
            (None, want) => want,
        };
        let eos = gpt2.eos_token_id;
        Ok(Self { encoder, preprocess, gpt2, peft, start_token: eos, eos_token: eos, generation: GenerationDefaults::default() })
    }
}

impl CaptionerConfig {
    /// The config of a published `VisionEncoderDecoderModel` from the texts (and names, for
    /// messages) of its `config.json`, optional `preprocessor_config.json` and
    /// `generation_config.json`, and an optional PEFT checkpoint trained on it.
    pub fn pretrained(
        config: (&str, &str),
        preprocessor: Option<(&str, &str)>,
        generation: Option<(&str, &str)>,
        peft: Option<(PeftCheckpoint, &str)>,
        method: Option<PeftCheckpoint>,
        fresh: bool,
    ) -> Result<Self> {
        let ved = EncoderDecoderConfig::from_json_str(config.0, config.1)?;
        let preprocess = preprocessor.map(|(t, p)| PreprocessConfig::from_json_str(t, p)).transpose()?;
        let generation = match generation {
            Some((t, p)) => ved.generation.clone().overlaid(GenerationDefaults::from_json_str(t, p)?),
            None => ved.generation.clone(),
        };
        let mut c = CaptionerConfig::new(ved.encoder, preprocess, ved.decoder, peft, method, fresh)?;
        c.start_token = ved.decoder_start_token_id;
        c.eos_token = ved.eos_token_id;
        c.generation = generation;
        Ok(c)
    }
}

impl Captioner {
    /// Builds the captioner from weights holding the encoder, decoder and PEFT tensors (see
    /// [`crate::model::part::Part`]) and checks the checkpoint: every problem in one error, and
    /// every key of the PEFT file (`peft_keys`) must have found its place.
    pub fn assemble(mut w: Weights, config: &CaptionerConfig, fresh: bool, peft_keys: &[String]) -> Result<Self> {
        w.check_coverage()?;
        let model = Captioner::load(&mut w, config, fresh);
        let unused = w.finish_strict(&|k| peft_keys.iter().any(|p| p == k))?;
        log::debug!("unused tensors: {unused:?}");
        Ok(model)
    }

    /// The form used for inference: LoRA folded into the weights, the prefix MLP evaluated once.
    pub fn for_inference(self) -> Self {
        Self { decoder: self.decoder.fold_prefix().merge_lora(), ..self }
    }
}

impl Captioner {
    /// Parameters that training updates: cross-attention, its LayerNorm, enc_to_dec_proj and
    /// the PEFT parameters (LoRA, adapters or prefix).
    pub fn trainable_params(&self) -> usize {
        let lora = |l: &crate::model::peft::LoraLinear| l.lora.as_ref().map_or(0, Module::num_params);
        let mut n = self.enc_to_dec_proj.as_ref().map_or(0, Module::num_params);
        for b in &self.decoder.h {
            n += b.crossattention.as_ref().map_or(0, Module::num_params) + b.ln_cross_attn.as_ref().map_or(0, Module::num_params);
            n += lora(&b.attn.c_attn) + lora(&b.attn.c_proj) + lora(&b.mlp.c_fc) + lora(&b.mlp.c_proj);
            n += b.attn.adapter.as_ref().map_or(0, Module::num_params) + b.mlp.adapter.as_ref().map_or(0, Module::num_params);
        }
        n + self.decoder.prefix.as_ref().map_or(0, Module::num_params)
    }
}
