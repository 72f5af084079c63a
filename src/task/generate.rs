//! Greedy and beam-search decoding with a KV cache, as HF `generate` does it, and the
//! per-token cross-attention maps.
//!
//! Logits are read back once per step and all bookkeeping (top-k, n-gram bans, beam scores) is
//! done on the host: WebGPU has no synchronous read-back, and the vocabulary row is small.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;

use burn::tensor::Tensor;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::hf::GenerationDefaults;
use crate::model::gpt2::{DecoderCache, Gpt2};
use crate::task::embed::read_vec;

/// Decoding options.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateConfig {
    /// 1 = greedy; more = beam search with that many beams.
    pub beams: usize,
    /// Tokens generated at most (after the start token).
    pub max_new_tokens: usize,
    /// Beam score = sum of log-probabilities / length^length_penalty.
    pub length_penalty: f64,
    /// Forbid repeating any n-gram of this size (0 = off).
    pub no_repeat_ngram_size: usize,
    /// The start token (GPT-2's `<|endoftext|>`, 50256).
    pub start: u32,
    /// Generation stops at this token (50256).
    pub eos: u32,
}

impl Default for GenerateConfig {
    fn default() -> Self {
        Self { beams: 1, max_new_tokens: 30, length_penalty: 1.0, no_repeat_ngram_size: 0, start: 50256, eos: 50256 }
    }
}

/// The decoding choices a user made (the CLI's flags, the page's fields); `None` takes the
/// checkpoint's default from its `generation_config.json`, else glimpse's.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Overrides {
    /// Beam width (1 = greedy).
    pub beams: Option<usize>,
    /// Tokens generated at most.
    pub max_tokens: Option<usize>,
    /// Beam length penalty.
    pub length_penalty: Option<f64>,
    /// Forbidden repeated n-gram size (0 = off).
    pub no_repeat_ngram: Option<usize>,
    /// Never stop at `<|endoftext|>` (benchmarks: always `max_tokens` tokens).
    pub no_stop: bool,
}

/// The decoding defaults as a front end shows them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Defaults {
    /// Beam width.
    pub beams: usize,
    /// Tokens generated at most.
    pub max_tokens: usize,
    /// Beam length penalty.
    pub length_penalty: f64,
    /// Forbidden repeated n-gram size.
    pub no_repeat_ngram: usize,
}

impl GenerateConfig {
    /// The one place where a checkpoint's generation defaults meet a user's choices, for the
    /// CLI and the page alike. `max_length` counts the start token, so it allows
    /// `max_length - 1` new tokens.
    pub fn resolve(g: &GenerationDefaults, o: &Overrides) -> Self {
        let base = Self::default();
        Self {
            beams: o.beams.or(g.num_beams).unwrap_or(base.beams),
            max_new_tokens: o.max_tokens.or(g.max_length.map(|l| l.saturating_sub(1).max(1))).unwrap_or(base.max_new_tokens),
            length_penalty: o.length_penalty.or(g.length_penalty).unwrap_or(base.length_penalty),
            no_repeat_ngram_size: o.no_repeat_ngram.or(g.no_repeat_ngram_size).unwrap_or(base.no_repeat_ngram_size),
            eos: if o.no_stop { u32::MAX } else { base.eos },
            ..base
        }
    }

    /// The defaults a checkpoint's generation config gives, as a front end shows them.
    pub fn defaults(g: &GenerationDefaults) -> Defaults {
        let c = Self::resolve(g, &Overrides::default());
        Defaults { beams: c.beams, max_tokens: c.max_new_tokens, length_penalty: c.length_penalty, no_repeat_ngram: c.no_repeat_ngram_size }
    }
}

/// Largest beam width accepted: memory and time grow with beams x tokens (HF's own examples use
/// up to 10; 64 leaves room for experiments).
pub const MAX_BEAMS: usize = 64;

impl GenerateConfig {
    /// Checks the options against a decoder (the CLI and the page both call this).
    pub fn check(&self, decoder: &Gpt2) -> Result<()> {
        if self.beams == 0 {
            return Err(Error::usage("beam width must be at least 1"));
        }
        if self.beams > MAX_BEAMS {
            return Err(Error::usage(format!("beam width {} is over the limit of {MAX_BEAMS}", self.beams)));
        }
        if self.max_new_tokens == 0 {
            return Err(Error::usage("max tokens must be at least 1"));
        }
        let n = decoder.config.n_positions;
        if self.max_new_tokens >= n {
            return Err(Error::usage(format!(
                "max tokens {} does not fit the decoder's position table ({n} positions: at most {})",
                self.max_new_tokens,
                n - 1
            )));
        }
        let vocab = decoder.config.vocab_size;
        if self.start as usize >= vocab {
            return Err(Error::usage(format!(
                "the start token {} (decoder_start_token_id) is outside the decoder's vocabulary of {vocab} tokens",
                self.start
            )));
        }
        Ok(())
    }
}

/// One caption.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Caption {
    /// The whole sequence as HF returns it: start token, generated tokens (with the final
    /// `<|endoftext|>` when it was generated).
    pub tokens: Vec<u32>,
    /// Per generated token (the stop token excluded): per decoder layer, the cross-attention
    /// probabilities over the encoder positions (CLS first), averaged over heads. Taken at the
    /// step that produced the token.
    pub attention: Vec<Vec<Vec<f32>>>,
}

impl Caption {
    /// The generated tokens without the start token and the stop token.
    pub fn words(&self, eos: u32) -> &[u32] {
        let body = &self.tokens[1..];
        body.strip_suffix(&[eos]).unwrap_or(body)
    }
}

fn log_softmax(row: &[f32]) -> Vec<f64> {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = row.iter().map(|&x| (x as f64 - max).exp()).sum();
    let lse = max + sum.ln();
    row.iter().map(|&x| x as f64 - lse).collect()
}

/// Tokens banned after `seq` by HF's `NoRepeatNGramLogitsProcessor`.
pub fn banned_tokens(seq: &[u32], n: usize) -> HashSet<u32> {
    if n == 0 || seq.len() + 1 < n {
        return HashSet::new();
    }
    let mut grams: HashMap<&[u32], HashSet<u32>> = HashMap::new();
    for w in seq.windows(n) {
        grams.entry(&w[..n - 1]).or_default().insert(w[n - 1]);
    }
    grams.get(&seq[seq.len() + 1 - n..]).cloned().unwrap_or_default()
}

/// What a watcher answers after a step: resolves to `true` to go on, `false` to stop (the
/// decoding then fails with [`Error::Cancelled`]). Awaiting it is also where a front end lets
/// other work run between steps (the page answers higher-priority requests there).
pub type StepAnswer = Pin<Box<dyn Future<Output = bool>>>;

/// Called after every decoding step with the best sequence so far (start token first): the
/// greedy sequence, or beam search's best running beam.
pub type Watch<'a> = &'a mut dyn FnMut(&[u32]) -> StepAnswer;

/// A watcher that lets decoding run to the end.
pub fn unwatched() -> impl FnMut(&[u32]) -> StepAnswer {
    |_| Box::pin(std::future::ready(true))
}

async fn ask(watch: &mut Watch<'_>, seq: &[u32]) -> Result<()> {
    if watch(seq).await { Ok(()) } else { Err(Error::Cancelled) }
}

/// Decodes one image's encoder states `enc` `[1, src, n]`; `watch` sees every step.
pub async fn generate(decoder: &Gpt2, enc: Tensor<3>, cfg: &GenerateConfig, mut watch: Watch<'_>) -> Result<Caption> {
    cfg.check(decoder)?;
    // The image's cross-attention keys/values, computed once for decoding and for the maps.
    let fresh = crate::pool::run(|| decoder.start(Some(enc))); // [1, h, src, dh] per layer
    let tokens = if cfg.beams == 1 {
        greedy(decoder, fresh.clone(), cfg, &mut watch).await?
    } else {
        beam(decoder, fresh.select(&vec![0; cfg.beams]), cfg, &mut watch).await? // [beams, h, src, dh] per layer
    };
    let attention = attention_maps(decoder, fresh, &tokens, cfg.eos).await?;
    Ok(Caption { tokens, attention })
}

async fn last_logits(decoder: &Gpt2, rows: &[Vec<u32>], cache: &mut DecoderCache) -> Result<Vec<Vec<f32>>> {
    let out = crate::pool::run(|| decoder.forward(rows, cache, false));
    let [b, t, v] = out.logits.dims();
    let last = out.logits.slice([0..b, t - 1..t, 0..v]).reshape([b, v]); // [b, vocab]
    Ok(read_vec(last).await?.chunks(v).map(<[f32]>::to_vec).collect())
}

/// Greedy decoding from `cache`, fresh for one image.
async fn greedy(decoder: &Gpt2, mut cache: DecoderCache, cfg: &GenerateConfig, watch: &mut Watch<'_>) -> Result<Vec<u32>> {
    let mut seq = vec![cfg.start];
    let mut next = vec![cfg.start];
    for _ in 0..cfg.max_new_tokens {
        let mut row = last_logits(decoder, &[next], &mut cache).await?.remove(0);
        for t in banned_tokens(&seq, cfg.no_repeat_ngram_size) {
            row[t as usize] = f32::NEG_INFINITY;
        }
        let tok = crate::task::zeroshot::argmax(&row) as u32;
        seq.push(tok);
        if tok == cfg.eos {
            break;
        }
        ask(watch, &seq).await?;
        next = vec![tok];
    }
    Ok(seq)
}

/// HF's beam search (`early_stopping=False`, one returned sequence), step for step.
/// `cache`: fresh, one row per beam.
async fn beam(decoder: &Gpt2, mut cache: DecoderCache, cfg: &GenerateConfig, watch: &mut Watch<'_>) -> Result<Vec<u32>> {
    const NEG: f64 = -1.0e9;
    let nb = cfg.beams;
    let keep = 2 * nb;
    let max_len = 1 + cfg.max_new_tokens;
    let mut running: Vec<(Vec<u32>, f64)> = (0..nb).map(|i| (vec![cfg.start], if i == 0 { 0.0 } else { NEG })).collect();
    let mut finished: Vec<(Vec<u32>, f64, bool)> = vec![(Vec::new(), NEG, false); nb];
    let mut improvable = true;
    let mut cur_len = 1;
    loop {
        let rows: Vec<Vec<u32>> = running.iter().map(|(s, _)| vec![*s.last().expect("non-empty")]).collect();
        let logits = last_logits(decoder, &rows, &mut cache).await?;
        // Candidates: (score, beam, token), best first.
        let mut cands: Vec<(f64, usize, u32)> = Vec::with_capacity(nb * logits[0].len());
        for (b, row) in logits.iter().enumerate() {
            let mut lp = log_softmax(row);
            for t in banned_tokens(&running[b].0, cfg.no_repeat_ngram_size) {
                lp[t as usize] = f64::NEG_INFINITY;
            }
            cands.extend(lp.into_iter().enumerate().map(|(t, l)| (l + running[b].1, b, t as u32)));
        }
        cands.select_nth_unstable_by(keep - 1, |a, b| b.0.total_cmp(&a.0));
        cands.truncate(keep);
        cands.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        let hits: Vec<bool> = cands.iter().map(|c| c.2 == cfg.eos || cur_len + 1 >= max_len).collect();

        // Finished hypotheses: only among the top `nb` candidates.
        let norm = ((cur_len + 1 - 1) as f64).powf(cfg.length_penalty);
        let mut merged = finished.clone();
        if improvable {
            for (i, c) in cands.iter().enumerate().take(nb) {
                if hits[i] {
                    let mut s = running[c.1].0.clone();
                    s.push(c.2);
                    merged.push((s, c.0 / norm, true));
                }
            }
        }
        merged.sort_by(|a, b| b.1.total_cmp(&a.1));
        merged.truncate(nb);
        finished = merged;

        // Running beams: the best `nb` candidates that did not stop.
        let mut order: Vec<(f64, usize)> = cands.iter().enumerate().map(|(i, c)| (c.0 + if hits[i] { NEG } else { 0.0 }, i)).collect();
        order.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let chosen: Vec<(f64, usize)> = order.into_iter().take(nb).collect();
        let parents: Vec<usize> = chosen.iter().map(|&(_, i)| cands[i].1).collect();
        running = chosen
            .iter()
            .map(|&(score, i)| {
                let mut s = running[cands[i].1].0.clone();
                s.push(cands[i].2);
                (s, score)
            })
            .collect();
        cache = crate::pool::run(|| cache.select(&parents));
        cur_len += 1;

        // HF's early-stop heuristic and loop condition.
        let best_possible = running[0].1 / ((cur_len - 1) as f64).powf(cfg.length_penalty);
        let all_done = finished.iter().all(|f| f.2);
        let worst = finished.iter().map(|f| f.1).fold(f64::INFINITY, f64::min);
        improvable &= !all_done || best_possible > worst;
        if !improvable || hits.iter().all(|&h| h) {
            break;
        }
        ask(watch, &running[0].0).await?;
    }
    Ok(finished.into_iter().next().map(|f| f.0).filter(|s| !s.is_empty()).unwrap_or_else(|| running.swap_remove(0).0))
}

/// Cross-attention of each generated token (teacher-forced pass over the final sequence, which
/// equals the step-wise attention since decoding is causal): `[token][layer][src]`. `cache`:
/// fresh for the image (one row).
pub async fn attention_maps(decoder: &Gpt2, mut cache: DecoderCache, tokens: &[u32], eos: u32) -> Result<Vec<Vec<Vec<f32>>>> {
    let produced = tokens[1..].iter().filter(|&&t| t != eos).count().min(tokens.len() - 1);
    if produced == 0 {
        return Ok(Vec::new());
    }
    let input = tokens[..produced].to_vec(); // each position predicts the next token
    let out = crate::pool::run(|| decoder.forward(&[input], &mut cache, true));
    let layers = out.cross_attentions.len();
    let maps: Vec<Tensor<3>> = out.cross_attentions.into_iter().map(|a| a.mean_dim(1).squeeze_dim::<3>(1)).collect(); // [1, t, src] each
    let stacked = Tensor::cat(maps, 0); // [layers, t, src]
    let [_, t, src] = stacked.dims();
    let flat = read_vec(stacked).await?;
    Ok((0..t).map(|i| (0..layers).map(|l| flat[(l * t + i) * src..(l * t + i + 1) * src].to_vec()).collect()).collect())
}
