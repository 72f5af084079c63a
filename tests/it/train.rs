//! Training: learning on a synthetic caption set, resume equals an uninterrupted run, frozen
//! parameters stay bit-identical, bad input, the output folder's lock, the log after a resume and
//! write errors.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use glimpse::error::Error;
use glimpse::model::peft::PeftCheckpoint;
use glimpse::train::checkpoint::{self, TrainerState};
use glimpse::train::config::Method;
use glimpse::train::lock::{Holder, LOCK_FILE, RunLock};
use glimpse::train::{TrainConfig, train};

use crate::common::*;

const COLORS: [(&str, [u8; 3]); 3] = [("red", [230, 30, 30]), ("green", [30, 210, 40]), ("blue", [40, 60, 230])];
const SIDES: [&str; 2] = ["left", "right"];

/// The synthetic caption set: coloured squares on the left or right of a grey field, three
/// phrasings per image. Writes images and a COCO-style JSON into `dir`.
pub fn synthetic_set(dir: &Path, copies: usize) -> (PathBuf, PathBuf) {
    let images = dir.join("images");
    std::fs::create_dir_all(&images).unwrap();
    let mut ims = vec![];
    let mut anns = vec![];
    let mut id = 0;
    for (cname, rgb) in COLORS {
        for side in SIDES {
            for k in 0..copies {
                let x0 = if side == "left" { 2 + k as u32 % 4 } else { 18 + k as u32 % 4 };
                let y0 = 6 + (k as u32 * 3) % 10;
                let img = ::image::RgbImage::from_fn(32, 32, |x, y| {
                    if (x0..x0 + 12).contains(&x) && (y0..y0 + 12).contains(&y) { ::image::Rgb(rgb) } else { ::image::Rgb([128, 128, 128]) }
                });
                let name = format!("{id:04}.png");
                img.save(images.join(&name)).unwrap();
                ims.push(serde_json::json!({"file_name": name, "id": id}));
                for c in [
                    format!("a {cname} square on the {side}."),
                    format!("A {cname} square on the {side} side"),
                    format!("a {cname} square placed on the {side}"),
                ] {
                    anns.push(serde_json::json!({"image_id": id, "caption": c}));
                }
                id += 1;
            }
        }
    }
    let json = dir.join("captions.json");
    std::fs::write(&json, serde_json::json!({"images": ims, "annotations": anns}).to_string()).unwrap();
    (json, images)
}

/// A tiny GPT-2 in HF layout without cross-attention (what training starts from), with token
/// embeddings scaled like a trained GPT-2's (rows of norm 3: logits can be peaked) rather than
/// the 0.02 of a fresh initialisation.
pub fn tiny_gpt2(dir: &Path) -> PathBuf {
    let out = dir.join("gpt2_tiny");
    std::fs::create_dir_all(&out).unwrap();
    let (n, layers, positions, vocab) = (32usize, 2usize, 32usize, 50257usize);
    std::fs::write(
        out.join("config.json"),
        serde_json::json!({"model_type": "gpt2", "n_embd": n, "n_layer": layers, "n_head": 4, "n_positions": positions,
                           "vocab_size": vocab, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5})
        .to_string(),
    )
    .unwrap();
    let mut rng = glimpse::train::rng::Rng::new(&[1234]);
    let mut normal = |count: usize, std: f64| -> Vec<f32> {
        (0..count).map(|_| ((rng.unit() + rng.unit() + rng.unit() - 1.5) * 2.0 * std) as f32).collect()
    };
    // Token embeddings: random directions, all of norm 3 (as a trained GPT-2's rows are of
    // similar norm), so that no token dominates the argmax by its length alone.
    let mut wte = normal(vocab * n, 1.0);
    for row in wte.chunks_mut(n) {
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
        row.iter_mut().for_each(|x| *x *= 3.0 / norm);
    }
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = vec![
        ("wte.weight".into(), vec![vocab, n], wte),
        ("wpe.weight".into(), vec![positions, n], normal(positions * n, 0.1)),
        ("ln_f.weight".into(), vec![n], vec![1.0; n]),
        ("ln_f.bias".into(), vec![n], vec![0.0; n]),
    ];
    for i in 0..layers {
        for (name, shape) in [("attn.c_attn", [n, 3 * n]), ("attn.c_proj", [n, n]), ("mlp.c_fc", [n, 4 * n]), ("mlp.c_proj", [4 * n, n])] {
            tensors.push((format!("h.{i}.{name}.weight"), shape.to_vec(), normal(shape[0] * shape[1], 0.02)));
            tensors.push((format!("h.{i}.{name}.bias"), vec![shape[1]], vec![0.0; shape[1]]));
        }
        for ln in ["ln_1", "ln_2"] {
            tensors.push((format!("h.{i}.{ln}.weight"), vec![n], vec![1.0; n]));
            tensors.push((format!("h.{i}.{ln}.bias"), vec![n], vec![0.0; n]));
        }
    }
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> =
        tensors.into_iter().map(|(k, s, d)| (k, s, d.iter().flat_map(|v| v.to_le_bytes()).collect())).collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = bytes
        .iter()
        .map(|(k, s, b)| (k.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b).unwrap()))
        .collect();
    safetensors::serialize_to_file(views, None, &out.join("model.safetensors")).unwrap();
    out
}

fn config(dir: &Path, method: Method) -> TrainConfig {
    let (captions, images) = synthetic_set(dir, 2);
    let decoder = tiny_gpt2(dir);
    let mut c = TrainConfig {
        encoder: model_dir("clip_a"),
        decoder,
        train_captions: captions.clone(),
        train_images: images.clone(),
        val_captions: Some(captions),
        val_images: Some(images),
        clip: Some(model_dir("clip_a")),
        out: dir.join("out"),
        method,
        epochs: 1,
        batch_size: 6,
        lr: 1e-2,
        weight_decay: 0.0,
        lr_gamma: 1.0,
        augment: false,
        backend: "cpu".into(),
        checkpoint_every: 0,
        max_tokens: 8,
        seed: 7,
        ..TrainConfig::default()
    };
    c.lora.r = 4;
    c.lora.lora_alpha = 4.0;
    c.lora.lora_dropout = 0.0;
    c.lora.target_modules = vec!["c_attn".into(), "q_attn".into(), "c_fc".into()];
    c.adapter.size = Some(16);
    c.adapter.dropout = 0.0;
    c.prefix.num_virtual_tokens = 8;
    c.prefix.encoder_hidden_size = Some(32);
    c
}

fn no_stop() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}

fn trained(dir: &Path) -> std::collections::BTreeMap<String, Vec<f32>> {
    let bytes = std::fs::read(dir.join("adapter_model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors().into_iter().map(|(k, v)| (k, glimpse::hf::weights::to_f32(v.dtype(), v.data()).unwrap())).collect()
}

fn metrics(out: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(out.join("metrics.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// `cfg` as a train.toml (the options the learning and resume tests set).
fn toml_of(cfg: &TrainConfig) -> String {
    let mut v = toml::Value::try_from(cfg).unwrap();
    let t = v.as_table_mut().unwrap();
    t.retain(|_, x| !matches!(x, toml::Value::String(s) if s.is_empty()));
    toml::to_string(&v).unwrap()
}

/// Trains `cfg` in its own process (deterministic: burn's CPU RNG is process-wide) and returns
/// the metrics log.
fn run_training(dir: &Path, cfg: &TrainConfig) -> Vec<serde_json::Value> {
    let file = dir.join(format!("{}.toml", cfg.out.file_name().unwrap().to_str().unwrap()));
    std::fs::write(&file, toml_of(cfg)).unwrap();
    let (code, _, err) = glimpse_in(dir, &["train", "--config", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    metrics(&cfg.out)
}

fn learns(method: Method) {
    let tmp = crate::common::tempdir();
    let mut cfg = config(tmp.path(), method);
    if let Some(seed) = std::env::var("GLIMPSE_SEED").ok().and_then(|s| s.parse().ok()) {
        cfg.seed = seed;
    }
    // Untrained: validation of the freshly initialised model after one step at lr ~ 0.
    let zero = TrainConfig { out: tmp.path().join("zero"), lr: 1e-12, epochs: 1, ..cfg.clone() };
    let base = run_training(tmp.path(), &zero).into_iter().find(|m| m["type"] == "epoch").unwrap();
    cfg.epochs = if method == Method::Prefix { 100 } else { 60 };
    if method == Method::Prefix {
        cfg.lr = 2e-2; // prefix tuning trains slower than the other two
    }
    let m = run_training(tmp.path(), &cfg);
    let steps: Vec<f64> = m.iter().filter(|x| x["type"] == "step").map(|x| x["loss"].as_f64().unwrap()).collect();
    let last_epoch = m.iter().filter(|x| x["type"] == "epoch").last().unwrap().clone();
    let first = steps[0];
    let last = last_epoch["train_loss"].as_f64().unwrap();
    eprintln!("{method:?}: loss {first:.3} -> {last:.3}; CIDEr {} -> {}", base["CIDEr"], last_epoch["CIDEr"]);
    let caps = std::fs::read_to_string(cfg.out.join(format!("val_captions_epoch{}.json", cfg.epochs))).unwrap();
    eprintln!("{method:?} validation captions: {}", caps.replace('\n', " "));
    assert!(last <= first / 2.0, "{method:?}: loss fell from {first} to {last}, not by half");
    let (c0, c1) = (base["CIDEr"].as_f64().unwrap(), last_epoch["CIDEr"].as_f64().unwrap());
    assert!(c1 > c0 + 0.5, "{method:?}: CIDEr {c1} does not clearly beat the untrained {c0}");
    assert!(last_epoch["CLIPScore"].is_number() && last_epoch["val_loss"].is_number());
    assert!(cfg.out.join("best/adapter_model.safetensors").is_file());
    assert!(cfg.out.join("plot.png").is_file());
    // The best checkpoint captions through the CLI.
    let best = cfg.out.join("best");
    let img = cfg.train_images.join("0000.png");
    let (code, stdout, err) = crate::cli::glimpse(&[
        "caption",
        "--backend",
        "cpu",
        "--encoder",
        cfg.encoder.to_str().unwrap(),
        "--decoder",
        cfg.decoder.to_str().unwrap(),
        "--peft",
        best.to_str().unwrap(),
        "--max-tokens",
        "8",
        img.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    eprintln!("{method:?} caption of a red square on the left: {stdout}");
}

#[test]
fn adapter_learns_the_synthetic_set() {
    learns(Method::Adapter);
}

#[test]
fn lora_learns_the_synthetic_set() {
    learns(Method::Lora);
}

#[test]
fn prefix_learns_the_synthetic_set() {
    learns(Method::Prefix);
}

/// Runs `glimpse ARGS` in `dir` (its own process: burn's CPU RNG is process-wide, so runs that
/// must replay dropout exactly cannot share a process with tests running beside them).
fn glimpse_in(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_glimpse")).args(args).current_dir(dir).output().unwrap();
    (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stdout).to_string(), String::from_utf8_lossy(&o.stderr).to_string())
}

#[test]
fn resumed_run_ends_with_the_uninterrupted_weights() {
    let tmp = crate::common::tempdir();
    let cfg = config(tmp.path(), Method::Adapter);
    // Augmentation and dropout on: both must replay identically after the restart.
    let toml = format!(
        "encoder = {:?}\ndecoder = {:?}\ntrain_captions = {:?}\ntrain_images = {:?}\nmethod = \"adapter\"\nepochs = 2\nbatch_size = 6\nlr = 1e-3\naugment = true\nbackend = \"cpu\"\nseed = 5\ncheckpoint_every = 0\n[adapter]\nsize = 16\ndropout = 0.1\n",
        cfg.encoder, cfg.decoder, cfg.train_captions, cfg.train_images
    );
    std::fs::write(tmp.path().join("train.toml"), toml).unwrap();
    let run = |args: &[&str]| {
        let (code, out, err) = glimpse_in(tmp.path(), args);
        assert_eq!(code, 0, "glimpse {args:?}: {err}");
        out
    };
    assert!(run(&["train", "--out", "whole"]).contains("\"steps\": 12"));
    assert!(run(&["train", "--out", "parts", "--max-steps", "5"]).contains("\"steps\": 5"));
    assert!(run(&["train", "--out", "parts", "--resume"]).contains("\"steps\": 12"));
    let a = trained(&tmp.path().join("whole/checkpoints/last"));
    let b = trained(&tmp.path().join("parts/checkpoints/last"));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (k, va) in &a {
        assert_close(&format!("resumed {k}"), &b[k], va, 1e-6);
    }
    // The adapters' up projections (zero at the start) were trained too.
    assert!(a["decoder.transformer.h.0.mlp.adapter.layers.0.up.weight"].iter().any(|x| *x != 0.0));
}

#[test]
fn training_leaves_frozen_parameters_bit_identical() {
    let tmp = crate::common::tempdir();
    let mut cfg = config(tmp.path(), Method::Lora);
    cfg.val_captions = None;
    cfg.val_images = None;
    cfg.max_steps = 3;
    let out = train(&cfg, false, no_stop()).unwrap();
    let device = burn::tensor::Device::flex();
    let (fresh, _) =
        glimpse::load::native::folders::load_with(&cfg.encoder, &cfg.decoder, Some(&out.checkpoint), None, &device, false).unwrap();
    let before = crate::peft_train::snapshot(&fresh);
    let after = crate::peft_train::snapshot(&out.model);
    let mut frozen = 0;
    for (k, v) in &before {
        if !crate::peft_train::TRAINABLE.iter().any(|t| k.contains(t)) {
            let key = k.split('#').next().unwrap();
            let w = after.iter().find(|(ka, _)| ka.split('#').next().unwrap() == key).map(|(_, v)| v).unwrap();
            assert!(w == v, "frozen {key} changed during training");
            frozen += 1;
        }
    }
    assert!(frozen > 20);
}

#[test]
fn train_command_reads_train_toml_and_bad_input_is_refused() {
    let tmp = crate::common::tempdir();
    let cfg = config(tmp.path(), Method::None);
    let toml = format!(
        "encoder = {:?}\ndecoder = {:?}\ntrain_captions = {:?}\ntrain_images = {:?}\nout = {:?}\nmethod = \"none\"\nbatch_size = 6\nmax_steps = 2\naugment = false\ncache_encoder = true\nbackend = \"cpu\"\n",
        cfg.encoder,
        cfg.decoder,
        cfg.train_captions,
        cfg.train_images,
        tmp.path().join("run")
    );
    std::fs::write(tmp.path().join("train.toml"), toml).unwrap();
    let run = |args: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_glimpse")).args(args).current_dir(tmp.path()).output().unwrap();
        (o.status.code().unwrap_or(-1), String::from_utf8_lossy(&o.stdout).to_string(), String::from_utf8_lossy(&o.stderr).to_string())
    };
    let (code, out, err) = run(&["train"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"steps\": 2"), "{out}");
    let last = tmp.path().join("run/checkpoints/last");
    assert!(last.join("adapter_model.safetensors").is_file() && last.join("optimizer.bin").is_file());
    assert!(tmp.path().join("run/encoder_cache/0.f32").is_file(), "encoder outputs cached on disk");
    // Resuming with another method: refused, and the checkpoint is left as it was.
    let before = std::fs::read(last.join("adapter_model.safetensors")).unwrap();
    let (code, _, err) = run(&["train", "--resume", "--method", "lora", "--max-steps", "4"]);
    assert!(code != 0 && err.contains("mismatched PEFT checkpoint"), "{err}");
    assert_eq!(std::fs::read(last.join("adapter_model.safetensors")).unwrap(), before);
    // The checkpoint captions.
    let (code, _, err) = run(&[
        "caption",
        "--backend",
        "cpu",
        "--encoder",
        cfg.encoder.to_str().unwrap(),
        "--decoder",
        cfg.decoder.to_str().unwrap(),
        "--peft",
        last.to_str().unwrap(),
        "--max-tokens",
        "4",
        cfg.train_images.join("0001.png").to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    // A missing image named in the JSON.
    std::fs::remove_file(cfg.train_images.join("0003.png")).unwrap();
    let (code, _, err) = run(&["train", "--out", "run2"]);
    assert!(code != 0 && err.contains("0003.png") && err.contains("missing"), "{err}");
    // Caption JSON with wrong fields; an empty dataset.
    std::fs::write(tmp.path().join("bad.json"), r#"{"images": [{"file": "x.png", "id": 0}], "annotations": []}"#).unwrap();
    let (code, _, err) = run(&["train", "--out", "run2", "--train-captions", "bad.json"]);
    assert!(code != 0 && err.contains("bad.json") && err.contains("file_name"), "{err}");
    std::fs::write(tmp.path().join("empty.json"), r#"{"images": [{"file_name": "0000.png", "id": 0}], "annotations": []}"#).unwrap();
    let (code, _, err) = run(&["train", "--out", "run2", "--train-captions", "empty.json"]);
    assert!(code != 0 && err.contains("no captions to train on"), "{err}");
    // An output folder that cannot be created (its parent is a file).
    std::fs::write(tmp.path().join("afile"), "x").unwrap();
    let (code, _, err) = run(&["train", "--out", "afile/run"]);
    assert!(code != 0 && err.contains("afile/run"), "{err}");
    // Unknown option in train.toml.
    std::fs::write(tmp.path().join("typo.toml"), "epoch = 3\n").unwrap();
    let (code, _, err) = run(&["train", "--config", "typo.toml"]);
    assert!(code != 0 && err.contains("typo.toml") && err.contains("epoch"), "{err}");
}

#[test]
fn ctrl_c_saves_a_checkpoint_before_exiting() {
    let tmp = crate::common::tempdir();
    let cfg = config(tmp.path(), Method::Lora);
    let toml = format!(
        "encoder = {:?}\ndecoder = {:?}\ntrain_captions = {:?}\ntrain_images = {:?}\nmethod = \"lora\"\nepochs = 1000\nbatch_size = 6\naugment = false\nbackend = \"cpu\"\ncheckpoint_every = 0\nout = \"run\"\n",
        cfg.encoder, cfg.decoder, cfg.train_captions, cfg.train_images
    );
    std::fs::write(tmp.path().join("train.toml"), toml).unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_glimpse"))
        .arg("train")
        .current_dir(tmp.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let log = tmp.path().join("run/metrics.jsonl");
    let t0 = std::time::Instant::now();
    while !std::fs::read_to_string(&log).is_ok_and(|s| s.contains("\"step\"")) {
        assert!(t0.elapsed().as_secs() < 120, "training did not start");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("\"interrupted\": true"), "{stdout}");
    assert!(!tmp.path().join("run").join(LOCK_FILE).exists(), "Ctrl-C removes the lock");
    let last = tmp.path().join("run/checkpoints/last");
    assert!(last.join("adapter_model.safetensors").is_file() && last.join("trainer_state.json").is_file());
    // And it resumes from there.
    let (code, _, err) = glimpse_in(tmp.path(), &["train", "--resume", "--max-steps", "1000000", "--epochs", "1"]);
    assert_eq!(code, 0, "{err}");
}

#[test]
fn lora_trains_on_a_published_captioner_and_loads_from_its_base_model_reference() {
    let tmp = crate::common::tempdir();
    let mut cfg = config(tmp.path(), Method::Lora);
    let base = model_dir("ved_vit");
    cfg.model = Some(base.clone());
    cfg.out = tmp.path().join("ved_lora");
    cfg.epochs = 30;
    let m = run_training(tmp.path(), &cfg);
    let steps: Vec<f64> = m.iter().filter(|x| x["type"] == "step").map(|x| x["loss"].as_f64().unwrap()).collect();
    let last = m.iter().filter(|x| x["type"] == "epoch").last().unwrap()["train_loss"].as_f64().unwrap();
    // The fixture's frozen ln_f and small random embedding bound its logits (|logit| < ~2), so the
    // loss cannot fall far below ln(50257) = 10.8 whatever trains; it must still fall clearly.
    assert!(last < steps[0] - 1.0, "loss fell from {} to {last}, not clearly", steps[0]);
    let best = cfg.out.join("best");
    let adapter: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(best.join("adapter_config.json")).unwrap()).unwrap();
    assert_eq!(adapter["base_model"], base.display().to_string());
    assert_eq!(adapter["peft_type"], "LORA");

    // The CLI: --model + --peft, and --peft alone (its base_model names the folder).
    let img = cfg.train_images.join("0000.png");
    let caption = |extra: &[&str]| {
        let mut args = vec!["caption", "--backend", "cpu", "--peft", best.to_str().unwrap(), "--max-tokens", "8"];
        args.extend(extra);
        args.push(img.to_str().unwrap());
        let (code, out, err) = crate::cli::glimpse(&args);
        assert_eq!(code, 0, "{err}");
        out
    };
    let a = caption(&["--model", base.to_str().unwrap()]);
    assert_eq!(caption(&[]), a, "the PEFT alone loads its base_model");
    eprintln!("LoRA on a published captioner: loss {:.3} -> {last:.3}; caption {}", steps[0], a.trim());
}

/// `config` without validation (quick runs that test the output folder, not learning).
fn quick(dir: &Path, method: Method) -> TrainConfig {
    TrainConfig { val_captions: None, val_images: None, clip: None, ..config(dir, method) }
}

/// Writes a lock file naming `holder` into `out`, as a run of that process would have.
fn write_lock(out: &Path, holder: &Holder) -> PathBuf {
    std::fs::create_dir_all(out).unwrap();
    let lock = out.join(LOCK_FILE);
    std::fs::write(&lock, serde_json::to_string(holder).unwrap()).unwrap();
    lock
}

/// Above Linux's largest possible pid (PID_MAX_LIMIT = 2^22): no process has it.
const DEAD_PID: u32 = 4_194_305;

#[test]
fn a_second_run_on_a_locked_folder_is_refused_and_a_stale_lock_taken_over() {
    let tmp = crate::common::tempdir();
    let mut cfg = quick(tmp.path(), Method::None);
    cfg.max_steps = 1;
    let lock = cfg.out.join(LOCK_FILE);
    let me = format!("pid {}", std::process::id());
    // A live run holds the folder: a second one is refused, in this process and in another.
    let held = RunLock::acquire(&cfg.out).unwrap();
    assert_eq!(held.path(), lock);
    let e = train(&cfg, false, no_stop()).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::Locked { .. }), "{msg}");
    assert!(msg.contains(&lock.display().to_string()) && msg.contains(&me) && msg.contains("started") && msg.contains("delete"), "{msg}");
    let file = tmp.path().join("locked.toml");
    std::fs::write(&file, toml_of(&cfg)).unwrap();
    let (code, _, err) = glimpse_in(tmp.path(), &["train", "--config", file.to_str().unwrap()]);
    assert!(code != 0 && err.contains(LOCK_FILE) && err.contains(&me), "{err}");
    drop(held);
    assert!(!lock.exists(), "the lock is removed when its holder ends");
    // Lock files whose run may be alive: a live pid of this host (a filesystem without advisory
    // locks), a pid on another host, an unreadable file. Each is refused and left in place.
    let here = Holder::this_process();
    for (what, text) in [
        ("live pid", serde_json::to_string(&here).unwrap()),
        ("other host", serde_json::to_string(&Holder { pid: DEAD_PID, host: "elsewhere.example".into(), ..here.clone() }).unwrap()),
        ("garbage", "not json".into()),
    ] {
        std::fs::write(&lock, &text).unwrap();
        let msg = train(&cfg, false, no_stop()).unwrap_err().to_string();
        assert!(msg.contains(&lock.display().to_string()) && msg.contains("delete"), "{what}: {msg}");
        assert_eq!(std::fs::read_to_string(&lock).unwrap(), text, "{what}: the lock is left alone");
    }
    // A run that died (kill -9) left its lock: taken over, and removed at the end.
    write_lock(&cfg.out, &Holder { pid: DEAD_PID, ..here });
    let (code, out, err) = glimpse_in(tmp.path(), &["train", "--config", file.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"steps\": 1") && err.contains("taking over") && err.contains(&format!("pid {DEAD_PID}")), "{err}");
    assert!(!lock.exists(), "the lock is removed when training ends");
}

#[test]
fn a_resumed_run_logs_each_step_once() {
    let tmp = crate::common::tempdir();
    let mut cfg = quick(tmp.path(), Method::None);
    cfg.max_steps = 2;
    assert_eq!(train(&cfg, false, no_stop()).unwrap().steps, 2);
    let log = cfg.out.join("metrics.jsonl");
    let kept = std::fs::read_to_string(&log).unwrap();
    // The killed run went on to steps 3 and 4 after its checkpoint at step 2, and kill -9 cut
    // its last line.
    let mut killed = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    for step in [3, 4] {
        writeln!(killed, "{}", serde_json::json!({"type": "step", "step": step, "epoch": 1, "loss": 1.0, "killed": true})).unwrap();
    }
    write!(killed, "{{\"type\": \"step\", \"st").unwrap();
    drop(killed);
    cfg.max_steps = 0;
    let out = train(&cfg, true, no_stop()).unwrap();
    assert_eq!(out.steps, 6, "one epoch of 36 captions in batches of 6");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.starts_with(&kept) && !text.contains("killed"), "{text}");
    let records = metrics(&cfg.out); // every line is JSON
    let steps: Vec<u64> = records.iter().filter(|r| r["type"] == "step").map(|r| r["step"].as_u64().unwrap()).collect();
    assert_eq!(steps, (1..=6).collect::<Vec<_>>(), "strictly increasing, each once");
    assert_eq!(records.iter().filter(|r| r["type"] == "epoch").count(), 1);
    // A fresh run in the same folder starts a new log.
    cfg.max_steps = 1;
    train(&cfg, false, no_stop()).unwrap();
    let steps: Vec<u64> = metrics(&cfg.out).iter().map(|r| r["step"].as_u64().unwrap()).collect();
    assert_eq!(steps, [1]);
}

/// `e` is an I/O error on a path ending in `name` with OS error `errno`.
#[track_caller]
fn assert_io_error(e: &Error, name: &str, errno: i32) {
    assert!(
        matches!(e, Error::Io { path, source } if path.ends_with(name) && source.raw_os_error() == Some(errno)),
        "expected an I/O error (os error {errno}) on {name}, got: {e}"
    );
}

#[test]
fn write_errors_name_the_file() {
    const ENOSPC: i32 = 28;
    const ENOTDIR: i32 = 20;
    let tmp = crate::common::tempdir();
    let cfg = quick(tmp.path(), Method::Lora);
    let device = burn::tensor::Device::flex();
    let wanted = PeftCheckpoint { method: cfg.peft(), base_encoder: None, base_decoder: None, base_model: None };
    let (model, mcfg) = glimpse::load::native::folders::load_with(&cfg.encoder, &cfg.decoder, None, Some(wanted), &device, true).unwrap();
    let state = TrainerState { epoch: 0, micro_in_epoch: 0, step: 0, best_cider: None, method: "LORA".into(), seed: 7 };
    // A checkpoint folder inside a regular file.
    std::fs::write(tmp.path().join("afile"), "x").unwrap();
    let e = checkpoint::save(&tmp.path().join("afile/checkpoints/last"), &model, &mcfg, &state, None).unwrap_err();
    assert_io_error(&e, "afile/checkpoints", ENOTDIR);
    if !Path::new("/dev/full").exists() {
        eprintln!("no /dev/full: the full-disk cases are skipped");
        return;
    }
    // A full disk (/dev/full answers every write with ENOSPC) under the tensors file...
    let dir = tmp.path().join("full");
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink("/dev/full", dir.join("adapter_model.safetensors")).unwrap();
    let e = checkpoint::write_peft(&dir, &model, &mcfg).unwrap_err();
    assert_io_error(&e, "adapter_model.safetensors", ENOSPC);
    // ... and under the training log: the run stops with the error, and leaves no lock.
    let mut run = cfg.clone();
    run.max_steps = 1;
    std::fs::create_dir_all(&run.out).unwrap();
    std::os::unix::fs::symlink("/dev/full", run.out.join("metrics.jsonl")).unwrap();
    let e = train(&run, false, no_stop()).unwrap_err();
    assert_io_error(&e, "metrics.jsonl", ENOSPC);
    assert!(!run.out.join(LOCK_FILE).exists());
}
