//! The training loop.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use burn::module::{Module, ModuleMapper, Param, ParamId};
use burn::optim::{AdamWConfig, GradientsAccumulator, GradientsParams, ModuleOptimizer};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use super::checkpoint::{self, TrainerState};
use super::config::TrainConfig;
use super::data::{Dataset, spawn_loader};
use super::lock::RunLock;
use super::rng::{Rng, stable_hash};
use super::runlog::MetricsLog;
use crate::error::{Error, Result};
use crate::load::native;
use crate::load::{CaptionerSpec, LoadedCaptioner};
use crate::model::captioner::{Captioner, CaptionerConfig};
use crate::model::clip::Towers;
use crate::model::peft::PeftCheckpoint;
use crate::task::embed::{Clip, read_vec};
use crate::task::generate::{GenerateConfig, generate, unwatched};
use crate::task::metrics::{cider_d, clip_score};
use crate::tokenize::Gpt2Tokenizer;

/// How a run ended.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// Optimiser steps done in total.
    pub steps: usize,
    /// Mean training loss of the last epoch (or of the steps done in it).
    pub last_loss: f64,
    /// Best validation CIDEr-D.
    pub best_cider: Option<f64>,
    /// Stopped by Ctrl-C (after saving).
    pub interrupted: bool,
    /// The last checkpoint.
    pub checkpoint: PathBuf,
    /// The model as training left it (on the training device).
    pub model: Captioner,
}

/// Gives every parameter an id derived from its path, so optimiser state saved by one process
/// finds its parameters in the next.
struct StableIds(Vec<String>);

impl ModuleMapper for StableIds {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.0.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.0.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (_, tensor, mapper) = param.consume();
        Param::from_mapped_value(ParamId::from(stable_hash(&self.0.join("."))), tensor, mapper)
    }
}

/// Teacher-forced cross-entropy of `tokens` (each `[eos] + caption -> caption + [eos]`) given
/// encoder states `enc` `[b, src, n]`; padding is masked out.
pub fn caption_loss(model: &Captioner, enc: Tensor<3>, tokens: &[Vec<u32>], eos: u32) -> Tensor<1> {
    let device = enc.device();
    let t = tokens.iter().map(Vec::len).max().unwrap_or(0) + 1;
    let b = tokens.len();
    let mut inputs = Vec::with_capacity(b);
    let mut targets = Vec::with_capacity(b * t);
    let mut mask = Vec::with_capacity(b * t);
    for tok in tokens {
        let mut inp = vec![eos];
        inp.extend(tok);
        inp.resize(t, eos);
        inputs.push(inp);
        for i in 0..t {
            let target = tok.get(i).copied().unwrap_or(eos);
            targets.push(i64::from(target));
            mask.push(if i <= tok.len() { 1.0f32 } else { 0.0 });
        }
    }
    let mut cache = model.decoder.start(Some(enc));
    let logits = model.decoder.forward(&inputs, &mut cache, false).logits; // [b, t, v]
    let v = logits.dims()[2];
    let logp = log_softmax(logits.reshape([b * t, v]), 1); // [b*t, v]
    let targets = Tensor::<1, Int>::from_data(TensorData::new(targets, [b * t]), &device).reshape([b * t, 1]);
    let nll = -logp.gather(1, targets).reshape([b * t]); // [b*t]
    let mask = Tensor::<1>::from_data(TensorData::new(mask, [b * t]), &device);
    let count = mask.clone().sum();
    (nll * mask).sum() / count
}

/// Reads raw encoder states of dataset image `i` from the on-disk cache, computing (with the
/// frozen `encoder`) and storing them first when absent.
fn cached_states(
    dir: &Path,
    i: usize,
    encoder: &crate::model::captioner::ImageEncoder,
    ds: &Dataset,
    cfg: &CaptionerConfig,
    device: &Device,
) -> Result<Tensor<3>> {
    let src = cfg.encoder.vision.num_positions();
    let d = cfg.encoder.vision.tower.hidden_size;
    let path = dir.join(format!("{i}.f32"));
    let values: Vec<f32> = match std::fs::read(&path) {
        Ok(bytes) if bytes.len() == src * d * 4 => bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        _ => {
            let img = crate::image::open(&ds.images[i])?;
            let s = cfg.encoder.vision.image_size;
            let px = Tensor::<4>::from_data(TensorData::new(crate::image::preprocess(&img, &cfg.preprocess), [1, 3, s, s]), device);
            let h = encoder.forward(px, false).last_hidden_state;
            let v = h.into_data().convert::<f32>().try_into_vec::<f32>().map_err(|e| Error::Device(format!("{e:?}")))?;
            let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
            std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
            v
        }
    };
    Ok(Tensor::from_data(TensorData::new(values, [1, src, d]), device))
}

pub fn train(cfg: &TrainConfig, resume: bool, stop: Arc<AtomicBool>) -> Result<TrainOutcome> {
    cfg.check()?;
    let _lock = RunLock::acquire(&cfg.out)?;
    let last_dir = cfg.out.join("checkpoints").join("last");
    let best_dir = cfg.out.join("best");
    let base = crate::device::init_named(&cfg.backend)?;
    let device = base.clone().autodiff();
    device.seed(cfg.seed);

    let shown = |p: &PathBuf| Some(p.display().to_string());
    let wanted = match &cfg.model {
        Some(m) => PeftCheckpoint { method: cfg.peft(), base_encoder: None, base_decoder: None, base_model: shown(m) },
        None => {
            PeftCheckpoint { method: cfg.peft(), base_encoder: shown(&cfg.encoder), base_decoder: shown(&cfg.decoder), base_model: None }
        }
    };
    let (state, peft_dir) = if resume {
        let dir = checkpoint::find(&last_dir)
            .ok_or_else(|| Error::NotFound(format!("--resume: no checkpoint in {} (nothing to resume)", last_dir.display())))?;
        let state = checkpoint::load_state(&dir)?;
        if state.method != wanted.method.name() {
            return Err(Error::usage(format!(
                "{}: checkpoint was trained with {}, the config says {}: mismatched PEFT checkpoint",
                dir.display(),
                state.method,
                wanted.method.name()
            )));
        }
        (state, Some(dir))
    } else {
        let fresh =
            TrainerState { epoch: 0, micro_in_epoch: 0, step: 0, best_cider: None, method: wanted.method.name().into(), seed: cfg.seed };
        (fresh, None)
    };
    let at = |p: &PathBuf| native::at(p);
    let spec = CaptionerSpec {
        model: cfg.model.as_ref().map(at),
        encoder: cfg.model.is_none().then(|| at(&cfg.encoder)),
        decoder: cfg.model.is_none().then(|| at(&cfg.decoder)),
        peft: peft_dir.as_ref().map(at),
        method: Some(wanted),
        fresh: !resume,
    };
    // The tokenizer comes with the model, checked against the decoder's vocabulary before any
    // caption is encoded with it.
    let LoadedCaptioner { model, config: mcfg, tokenizer: tok } = native::captioner(spec, &device)?;
    let train_ds = Dataset::load(&cfg.train_captions, &cfg.train_images, &tok, cfg.max_caption_tokens)?;
    let val_ds = match (&cfg.val_captions, &cfg.val_images) {
        (Some(c), Some(i)) => Some(Dataset::load(c, i, &tok, cfg.max_caption_tokens)?),
        _ => None,
    };
    let mut model = model.map(&mut StableIds(vec![]));
    eprintln!(
        "training {} ({}): {} trainable of {} parameters; {} captions of {} images",
        mcfg.peft.as_ref().map_or("NONE", |p| p.method.name()),
        cfg.out.display(),
        model.trainable_params(),
        model.num_params(),
        train_ds.examples.len(),
        train_ds.images.len()
    );
    let mut optim = AdamWConfig::new().with_weight_decay(cfg.weight_decay as f32).init();
    if let Some(dir) = &peft_dir {
        let p = dir.join("optimizer.bin");
        let bytes = std::fs::read(&p).map_err(|e| Error::io(&p, e))?;
        optim = optim
            .from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes))
            .map_err(|e| Error::Internal(format!("{}: unreadable optimizer state: {e:?}", p.display())))?;
    }

    let clip = match (&cfg.clip, &val_ds) {
        (Some(dir), Some(_)) => Some(crate::load::native::clip(dir, &base, Towers::Both)?),
        _ => None,
    };
    let cache_dir = cfg.cache_encoder.then(|| cfg.out.join("encoder_cache"));
    // The encoder is frozen: one inference copy serves the cache for the whole run.
    let cache_encoder = cache_dir.as_ref().map(|_| model.valid().encoder);
    if let Some(d) = &cache_dir {
        std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
    }
    let mut log = MetricsLog::open(&cfg.out, state.step)?;

    let micro_per_epoch = train_ds.examples.len().div_ceil(cfg.batch_size);
    let steps_per_epoch = micro_per_epoch.div_ceil(cfg.grad_accum);
    let period = if cfg.lr_step == 0 { (steps_per_epoch / 2).max(1) } else { cfg.lr_step };
    let lr_at = |step: usize| {
        let warm = if cfg.warmup_steps > 0 && step < cfg.warmup_steps { (step + 1) as f64 / cfg.warmup_steps as f64 } else { 1.0 };
        cfg.lr * warm * cfg.lr_gamma.powi((step / period) as i32)
    };
    let total_micro = micro_per_epoch * cfg.epochs;
    let bar = ProgressBar::new(total_micro as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:25}] {pos}/{len} {per_sec} eta {eta}").expect("template").progress_chars("=> "),
    );
    bar.set_position((state.epoch * micro_per_epoch + state.micro_in_epoch) as u64);

    let mut state = state;
    let mut last_loss = f64::NAN;
    let s = mcfg.encoder.vision.image_size;
    let eos = mcfg.gpt2.eos_token_id;
    let save_last = |model: &Captioner, optim: &ModuleOptimizer, state: &TrainerState| -> Result<()> {
        let bytes = optim.into_bytes().map_err(|e| Error::Internal(format!("saving the optimizer state: {e:?}")))?;
        checkpoint::save(&last_dir, model, &mcfg, state, Some(&bytes))
    };

    'epochs: while state.epoch < cfg.epochs {
        let epoch = state.epoch;
        let t0 = Instant::now();
        let order = Rng::new(&[cfg.seed, epoch as u64, 0x0DA7A]).permutation(train_ds.examples.len());
        let batches: Vec<Vec<usize>> = order.chunks(cfg.batch_size).map(<[usize]>::to_vec).skip(state.micro_in_epoch).collect();
        let rx = spawn_loader(&train_ds, batches, &mcfg.preprocess, cfg.augment, cache_dir.is_none(), cfg.seed, epoch as u64, cfg.workers);
        let mut acc = GradientsAccumulator::new();
        let mut pending = 0usize;
        let (mut sum, mut count) = (0.0f64, 0usize);
        let (mut seen_images, t_images) = (0usize, Instant::now());
        while let Ok(batch) = rx.recv() {
            let batch = batch?;
            let b = batch.tokens.len();
            let global_micro = epoch * micro_per_epoch + state.micro_in_epoch;
            device.seed(cfg.seed.wrapping_mul(1_000_003).wrapping_add(global_micro as u64));
            let enc = match (&cache_dir, &cache_encoder) {
                (Some(dir), Some(encoder)) => {
                    let rows = batch
                        .images
                        .iter()
                        .map(|&i| cached_states(dir, i, encoder, &train_ds, &mcfg, &base))
                        .collect::<Result<Vec<_>>>()?;
                    let raw = Tensor::cat(rows, 0); // [b, src, d_enc] on the plain device
                    let raw = Tensor::<3>::from_data(raw.into_data(), &device);
                    model.project(raw)
                }
                _ => model.encode(Tensor::from_data(TensorData::new(batch.pixels, [b, 3, s, s]), &device)),
            };
            let loss = caption_loss(&model, enc, &batch.tokens, eos);
            let value = f64::from(loss.clone().into_scalar::<f32>());
            if !value.is_finite() {
                bar.abandon();
                return Err(Error::usage(format!(
                    "training loss became {value} at step {} (epoch {}); stopped. The last good checkpoint is {} (lower lr?)",
                    state.step,
                    epoch + 1,
                    last_dir.display()
                )));
            }
            let grads = GradientsParams::from_grads((loss / cfg.grad_accum as f64).backward(), &model);
            acc.accumulate(&model, grads);
            pending += 1;
            state.micro_in_epoch += 1;
            sum += value;
            count += 1;
            seen_images += b;
            last_loss = sum / count as f64;
            bar.inc(1);
            let end_of_epoch = state.micro_in_epoch == micro_per_epoch;
            if pending == cfg.grad_accum || end_of_epoch {
                let lr = lr_at(state.step);
                model = optim.step(lr, model, acc.grads());
                pending = 0;
                state.step += 1;
                let ips = seen_images as f64 / t_images.elapsed().as_secs_f64().max(1e-9);
                bar.set_message(format!("epoch {}/{} loss {last_loss:.4} lr {lr:.2e} {ips:.2} img/s", epoch + 1, cfg.epochs));
                log.write(&json!({"type": "step", "step": state.step, "epoch": epoch + 1, "loss": value, "lr": lr, "images_per_s": ips}))?;
                let limit = cfg.max_steps > 0 && state.step >= cfg.max_steps;
                let interrupted = stop.load(Ordering::SeqCst);
                if end_of_epoch {
                    break;
                }
                if interrupted || limit || (cfg.checkpoint_every > 0 && state.step % cfg.checkpoint_every == 0) {
                    save_last(&model, &optim, &state)?;
                }
                if interrupted || limit {
                    bar.abandon_with_message(format!("stopped at step {} (checkpoint saved)", state.step));
                    return Ok(TrainOutcome {
                        steps: state.step,
                        last_loss,
                        best_cider: state.best_cider,
                        interrupted,
                        checkpoint: last_dir,
                        model,
                    });
                }
            }
        }
        if state.micro_in_epoch < micro_per_epoch {
            // The loader stopped early without an error value: a worker died.
            return Err(Error::Internal(String::from("the image loader stopped unexpectedly")));
        }
        // End of epoch: validation, best checkpoint, log, plot.
        let train_time = t0.elapsed().as_secs_f64();
        let mut record =
            json!({"type": "epoch", "epoch": epoch + 1, "train_loss": last_loss, "train_time_s": train_time, "step": state.step});
        if let Some(val) = &val_ds {
            let valid = model.valid();
            let v = validate(&valid, val, &tok, &mcfg, cfg, clip.as_ref(), &base)?;
            let preds: serde_json::Map<String, serde_json::Value> = v.captions.iter().cloned().map(|(k, c)| (k, json!(c))).collect();
            let p = cfg.out.join(format!("val_captions_epoch{}.json", epoch + 1));
            std::fs::write(&p, serde_json::to_string_pretty(&preds).unwrap_or_default()).map_err(|e| Error::io(&p, e))?;
            record["val_loss"] = json!(v.loss);
            record["CIDEr"] = json!(v.cider);
            record["CLIPScore"] = json!(v.clipscore);
            if state.best_cider.is_none_or(|b| v.cider > b) {
                state.best_cider = Some(v.cider);
                let mut best_state = state.clone();
                best_state.epoch += 1;
                best_state.micro_in_epoch = 0;
                checkpoint::save(&best_dir, &model, &mcfg, &best_state, None)?;
            }
            bar.println(format!(
                "epoch {}: train loss {last_loss:.4}, val loss {:.4}, CIDEr-D {:.4}, CLIPScore {}",
                epoch + 1,
                v.loss,
                v.cider,
                v.clipscore.map_or("-".into(), |c| format!("{c:.4}"))
            ));
        }
        log.write(&record)?;
        state.epoch += 1;
        state.micro_in_epoch = 0;
        save_last(&model, &optim, &state)?;
        log.save_plot(&cfg.out)?;
        if stop.load(Ordering::SeqCst) {
            bar.abandon_with_message("interrupted (checkpoint saved)");
            return Ok(TrainOutcome {
                steps: state.step,
                last_loss,
                best_cider: state.best_cider,
                interrupted: true,
                checkpoint: last_dir,
                model,
            });
        }
        if cfg.max_steps > 0 && state.step >= cfg.max_steps {
            break 'epochs;
        }
    }
    bar.finish_and_clear();
    Ok(TrainOutcome { steps: state.step, last_loss, best_cider: state.best_cider, interrupted: false, checkpoint: last_dir, model })
}

/// Validation results.
pub struct Validation {
    /// Mean teacher-forced loss over the validation captions.
    pub loss: f64,
    /// Greedy caption per image stem.
    pub captions: Vec<(String, String)>,
    /// CIDEr-D of those captions.
    pub cider: f64,
    /// Their mean CLIPScore, when a CLIP is configured.
    pub clipscore: Option<f64>,
}

/// Loss, greedy captions, CIDEr-D and CLIPScore on the validation set.
pub fn validate(
    model: &Captioner,
    val: &Dataset,
    tok: &Gpt2Tokenizer,
    mcfg: &CaptionerConfig,
    cfg: &TrainConfig,
    clip: Option<&Clip>,
    device: &Device,
) -> Result<Validation> {
    let s = mcfg.encoder.vision.image_size;
    let limit = if cfg.val_limit == 0 { val.images.len() } else { cfg.val_limit.min(val.images.len()) };
    let eos = mcfg.gpt2.eos_token_id;
    let decoding = GenerateConfig { max_new_tokens: cfg.max_tokens.min(mcfg.gpt2.n_positions - 1), ..GenerateConfig::default() };
    let (mut loss_sum, mut loss_n) = (0.0, 0usize);
    let mut captions = Vec::with_capacity(limit);
    let mut image_embeds = Vec::with_capacity(if clip.is_some() { limit } else { 0 });
    for i in 0..limit {
        let img = crate::image::open(&val.images[i])?;
        let px = Tensor::<4>::from_data(TensorData::new(crate::image::preprocess(&img, &mcfg.preprocess), [1, 3, s, s]), device);
        let enc = model.encode(px);
        let toks: Vec<Vec<u32>> = val.examples.iter().filter(|e| e.image == i).map(|e| e.tokens.clone()).collect();
        if !toks.is_empty() {
            let n = toks.len();
            let [_, src, d] = enc.dims();
            let l = caption_loss(model, enc.clone().expand([n, src, d]), &toks, eos);
            loss_sum += f64::from(pollster::block_on(read_vec(l))?[0]) * n as f64;
            loss_n += n;
        }
        let cap = pollster::block_on(generate(&model.decoder, enc, &decoding, &mut unwatched()))?;
        let text = tok.decode(cap.words(eos))?.trim().to_string();
        let stem = val.images[i].file_stem().and_then(|s| s.to_str()).unwrap_or("image").to_string();
        captions.push((stem, text));
        if let Some(c) = clip {
            image_embeds.extend(pollster::block_on(c.embed_images(&[&img]))?);
        }
    }
    let cands: Vec<String> = captions.iter().map(|c| c.1.clone()).collect();
    let cider = cider_d(&cands, &val.captions[..limit]).score;
    let clipscore = match clip {
        Some(c) => {
            let texts: Vec<String> = cands.iter().map(|t| format!("{}{t}", cfg.clipscore_prefix)).collect();
            let text_embeds = pollster::block_on(c.embed_texts(&texts))?;
            let s: Vec<f64> = image_embeds.iter().zip(&text_embeds).map(|(i, t)| clip_score(i, t)).collect();
            Some(s.iter().sum::<f64>() / s.len().max(1) as f64)
        }
        None => None,
    };
    Ok(Validation { loss: loss_sum / loss_n.max(1) as f64, captions, cider, clipscore })
}
