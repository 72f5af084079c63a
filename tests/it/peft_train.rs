//! Each PEFT method trains only what it should: after an AdamW step, every frozen parameter is
//! bit-identical and every trainable group moved.

use std::collections::BTreeMap;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{AdamWConfig, GradientsParams};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use glimpse::hf::{ClipConfig, EncoderConfig, Gpt2Config, Weights};
use glimpse::load::native::read_weights;
use glimpse::model::captioner::{Captioner, CaptionerConfig, decoder_key};
use glimpse::model::peft::{AdapterConfig, LoraConfig, PeftCheckpoint, PeftMethod, Placement, PrefixConfig};

use crate::common::*;

#[derive(Default)]
struct Snapshot {
    path: Vec<String>,
    values: BTreeMap<String, Vec<f32>>,
}

impl ModuleVisitor for Snapshot {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let key = format!("{}#{}", self.path.join("."), self.values.len());
        self.values.insert(key, param.val().into_data().convert::<f32>().try_into_vec::<f32>().unwrap());
    }
}

pub fn snapshot(m: &Captioner) -> BTreeMap<String, Vec<f32>> {
    let mut s = Snapshot::default();
    m.visit(&mut s);
    s.values
}

pub const TRAINABLE: [&str; 6] = ["crossattention", "ln_cross_attn", "enc_to_dec_proj", "lora", "adapter", "prefix"];

fn build(method: PeftMethod, device: &Device) -> (Captioner, CaptionerConfig) {
    let f = fixtures();
    let clip = ClipConfig::from_file(f.join("clip_b/config.json")).unwrap();
    let gpt2 = Gpt2Config::from_file(f.join("gpt2_plain/config.json")).unwrap();
    let mut w = Weights::new(device);
    read_weights(&f.join("clip_b"), &|k| k.starts_with("vision_model.").then(|| k.to_string()), &mut w).unwrap();
    read_weights(&f.join("gpt2_plain"), &decoder_key, &mut w).unwrap();
    let peft = PeftCheckpoint { method, base_encoder: None, base_decoder: None, base_model: None };
    let cfg = CaptionerConfig::new(EncoderConfig::clip(clip.vision), None, gpt2, None, Some(peft), true).unwrap();
    let model = Captioner::load(&mut w, &cfg, true);
    w.finish().unwrap();
    (model, cfg)
}

fn one_step(method: PeftMethod) {
    let name = method.name();
    let device = Device::flex().autodiff();
    let (model, cfg) = build(method, &device);
    let before = snapshot(&model);
    let s = cfg.encoder.vision.image_size;
    let pixels = Tensor::<4>::from_data(TensorData::new(vec![0.1f32; 3 * s * s], [1, 3, s, s]), &device);
    let seq: Vec<u32> = vec![50256, 64, 2266, 9197, 319, 257, 50256];
    let enc = model.encode(pixels);
    let mut cache = model.decoder.start(Some(enc));
    let logits = model.decoder.forward(&[seq[..seq.len() - 1].to_vec()], &mut cache, false).logits; // [1, t, v]
    let [_, t, v] = logits.dims();
    let target: Vec<i64> = seq[1..].iter().map(|&x| i64::from(x)).collect();
    let target = Tensor::<1, Int>::from_data(TensorData::new(target, [t]), &device).reshape([t, 1]);
    let loss = -log_softmax(logits.reshape([t, v]), 1).gather(1, target).mean();
    let grads = GradientsParams::from_grads(loss.backward(), &model);
    let mut optim = AdamWConfig::new().init();
    let model = optim.step(1e-2, model, grads);
    let after = snapshot(&model);
    let mut moved_groups = std::collections::BTreeSet::new();
    for (k, b) in &before {
        let a = &after[k];
        let trainable = TRAINABLE.iter().any(|t| k.contains(t));
        if trainable {
            // Every trainable tensor gets a gradient, so AdamW's decay moves it even where the
            // gradient is zero at the first step (LoRA A while B = 0, adapter down while up = 0).
            assert!(a != b, "{name}: trainable parameter {k} did not move (no gradient?)");
            moved_groups.insert(TRAINABLE.iter().find(|t| k.contains(*t)).unwrap().to_string());
        } else {
            assert!(a == b, "{name}: frozen parameter {k} changed");
        }
    }
    let mut want: Vec<&str> = vec!["crossattention", "enc_to_dec_proj"];
    match name {
        "LORA" => want.push("lora"),
        "ADAPTER" => want.push("adapter"),
        "PREFIX_TUNING" => want.push("prefix"),
        _ => {}
    }
    for g in want {
        assert!(moved_groups.contains(g), "{name}: trainable group {g} did not move ({moved_groups:?})");
    }
}

#[test]
fn only_cross_attention_trains_without_peft() {
    one_step(PeftMethod::None);
}

#[test]
fn lora_trains_only_lora_and_cross_attention() {
    one_step(PeftMethod::Lora(LoraConfig {
        r: 2,
        lora_alpha: 4.0,
        lora_dropout: 0.0,
        target_modules: vec!["c_attn".into(), "c_fc".into()],
        use_rslora: false,
    }));
}

#[test]
fn adapter_trains_only_adapters_and_cross_attention() {
    one_step(PeftMethod::Adapter(AdapterConfig { size: Some(8), placement: Placement::Houlsby, ..Default::default() }));
}

#[test]
fn prefix_trains_only_prefix_and_cross_attention() {
    one_step(PeftMethod::Prefix(PrefixConfig { num_virtual_tokens: 5, prefix_projection: true, encoder_hidden_size: Some(16) }));
}

#[test]
fn fresh_adapter_is_identity_and_folded_prefix_equals_mlp() {
    let device = Device::flex();
    let seq: Vec<Vec<u32>> = vec![vec![50256, 64, 2266, 9197]];
    let run = |m: &Captioner| {
        let enc = m.encode(Tensor::<4>::from_data(TensorData::new(vec![0.2f32; 3 * 42 * 42], [1, 3, 42, 42]), &device));
        let mut c = m.decoder.start(Some(enc));
        m.decoder.forward(&seq, &mut c, false).logits.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
    };
    let (m, _) =
        build(PeftMethod::Prefix(PrefixConfig { num_virtual_tokens: 4, prefix_projection: true, encoder_hidden_size: None }), &device);
    let a = run(&m);
    let folded = Captioner { decoder: m.decoder.fold_prefix(), ..m };
    assert!(folded.decoder.prefix.as_ref().unwrap().transform.is_none());
    assert_close("folded prefix", &run(&folded), &a, 1e-5);
    // A fresh adapter (up = 0) leaves the outputs of the same cross-attention unchanged.
    let (m, _) = build(PeftMethod::Adapter(AdapterConfig::default()), &device);
    let with = run(&m);
    let mut plain = m;
    for b in &mut plain.decoder.h {
        b.mlp.adapter = None;
    }
    assert_close("fresh adapter is identity", &with, &run(&plain), 1e-6);
}

#[test]
fn prefix_kv_cache_equals_full_recompute() {
    let device = Device::flex();
    let (m, _) =
        build(PeftMethod::Prefix(PrefixConfig { num_virtual_tokens: 3, prefix_projection: false, encoder_hidden_size: None }), &device);
    let enc = m.encode(Tensor::<4>::from_data(TensorData::new(vec![0.3f32; 3 * 42 * 42], [1, 3, 42, 42]), &device));
    let seq: Vec<u32> = vec![50256, 64, 2266, 9197];
    let mut c = m.decoder.start(Some(enc.clone()));
    let full = m.decoder.forward(&[seq.clone()], &mut c, false).logits.into_data().convert::<f32>().try_into_vec::<f32>().unwrap();
    let mut c = m.decoder.start(Some(enc));
    let mut stepped = Vec::new();
    for &t in &seq {
        stepped.extend(m.decoder.forward(&[vec![t]], &mut c, false).logits.into_data().convert::<f32>().try_into_vec::<f32>().unwrap());
    }
    assert_close("prefix: cached vs uncached", &stepped, &full, 1e-5);
}
