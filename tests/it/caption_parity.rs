//! The captioner against HF transformers / peft: logits, cross-attention, greedy and beam
//! sequences, KV cache, LoRA (peft's and merged), on CPU and wgpu.

use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use glimpse::load::native::folders as files;
use glimpse::model::captioner::{Captioner, CaptionerConfig};
use glimpse::task::embed::read_vec;
use glimpse::task::generate::{GenerateConfig, StepAnswer, generate, unwatched};

use crate::common::*;

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    pollster::block_on(f)
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

/// HF's pixel_values of fixture image `i` of CLIP fixture `clip`.
pub fn pixels(clip: &str, i: usize, device: &Device) -> Tensor<4> {
    let r = &references(clip)["pixel_values"];
    let per = r.data.len() / r.shape[0];
    let s = r.shape[2];
    Tensor::from_data(TensorData::new(r.data[i * per..(i + 1) * per].to_vec(), [1, 3, s, s]), device)
}

fn load(enc: &str, dec: &str, peft: Option<&str>, device: &Device) -> (Captioner, CaptionerConfig) {
    let f = fixtures();
    let peft = peft.map(|p| f.join(p));
    files::load(&f.join(enc), &f.join(dec), peft.as_deref(), device, false).unwrap()
}

/// Teacher-forced logits (every `sub`-th vocabulary entry) and cross-attentions of image 0.
fn teacher(model: &Captioner, clip: &str, teacher_ids: &[u32], sub: usize, device: &Device) -> (Vec<f32>, Vec<Vec<f32>>) {
    let enc = model.encode(pixels(clip, 0, device));
    let mut cache = model.decoder.start(Some(enc));
    let out = model.decoder.forward(&[teacher_ids.to_vec()], &mut cache, true);
    let [_, t, v] = out.logits.dims();
    let all = block(read_vec(out.logits)).unwrap();
    let sub: Vec<f32> = (0..t).flat_map(|i| (0..v).step_by(sub).map(move |j| (i, j))).map(|(i, j)| all[i * v + j]).collect();
    let cross = out.cross_attentions.into_iter().map(|a| block(read_vec(a)).unwrap()).collect();
    (sub, cross)
}

fn check_pair(name: &str, clip: &str, dec: &str, peft: Option<&str>) {
    check_captioner(name, clip, &|device| load(clip, dec, peft, device).0);
}

/// Checks a captioner against the HF references of fixture `name`; images come from the
/// `pixel_values` of fixture `pixel_fixture`.
pub fn check_captioner(name: &str, pixel_fixture: &str, load: &dyn Fn(&Device) -> Captioner) {
    let clip = pixel_fixture;
    let refs = {
        let bytes = std::fs::read(fixtures().join(name).join("reference.safetensors")).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        st.tensors()
            .into_iter()
            .map(|(k, v)| (k, glimpse::hf::weights::to_f32(v.dtype(), v.data()).unwrap()))
            .collect::<std::collections::HashMap<_, _>>()
    };
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join(name).join("reference.json")).unwrap()).unwrap();
    for (backend, device) in devices() {
        let what = |s: &str| format!("{name} on {backend}: {s}");
        let model = load(&device);
        // Encoder states (before enc_to_dec_proj, as HF reports them).
        let h = model.encoder.forward(pixels(clip, 0, &device), false).last_hidden_state;
        assert_close(&what("encoder states"), &block(read_vec(h)).unwrap(), &refs["encoder_hidden_states"], TOL);
        // Teacher-forced logits and cross-attention weights.
        let teacher_ids = ids(&json["teacher_ids"]);
        let (logits, cross) = teacher(&model, clip, &teacher_ids, json["logits_subsample"].as_u64().unwrap() as usize, &device);
        assert_close(&what("logits"), &logits, &refs["teacher_logits_sub"], TOL);
        for (i, c) in cross.iter().enumerate() {
            assert_close(&what(&format!("cross-attention layer {i}")), c, &refs[&format!("cross_attention_{i}")], TOL);
        }
        // Greedy and beam search: HF's sequences exactly.
        let max_new = json["max_new_tokens"].as_u64().unwrap() as usize;
        for (run, cfg) in [
            ("greedy", GenerateConfig { max_new_tokens: max_new, ..Default::default() }),
            ("beam3", GenerateConfig { beams: 3, max_new_tokens: max_new, ..Default::default() }),
            (
                "beam4_nrng2_lp06",
                GenerateConfig { beams: 4, max_new_tokens: max_new, no_repeat_ngram_size: 2, length_penalty: 0.6, ..Default::default() },
            ),
        ] {
            for img in 0..2 {
                let enc = model.encode(pixels(clip, img, &device));
                let cap = block(generate(&model.decoder, enc, &cfg, &mut unwatched())).unwrap();
                assert_eq!(cap.tokens, ids(&json["sequences"][run][img]), "{}", what(&format!("{run} sequence of image {img}")));
                assert_eq!(cap.attention.len(), cap.words(50256).len());
            }
        }
    }
}

#[test]
fn same_width_pair_matches_hf() {
    check_pair("caption_a", "clip_a", "gpt2_xattn", None);
}

#[test]
fn pair_with_enc_to_dec_proj_matches_hf() {
    check_pair("caption_b", "clip_b", "gpt2_plain", Some("peft_b"));
}

#[test]
fn kv_cache_equals_full_recompute() {
    let device = glimpse::device::init(glimpse::device::Backend::Cpu).unwrap();
    let (model, _) = load("clip_b", "gpt2_plain", Some("peft_b"), &device);
    let enc = model.encode(pixels("clip_b", 1, &device));
    let seq: Vec<u32> = vec![50256, 64, 2266, 9197, 319, 257];
    let mut full_cache = model.decoder.start(Some(enc.clone()));
    let full = block(read_vec(model.decoder.forward(&[seq.clone()], &mut full_cache, false).logits)).unwrap();
    let mut cache = model.decoder.start(Some(enc));
    let mut stepped = Vec::new();
    for &t in &seq {
        stepped.extend(block(read_vec(model.decoder.forward(&[vec![t]], &mut cache, false).logits)).unwrap());
    }
    assert_close("cached vs uncached logits", &stepped, &full, 1e-5);
}

#[test]
fn peft_lora_matches_peft_and_merges() {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("lora_peft/reference.json")).unwrap()).unwrap();
    let bytes = std::fs::read(fixtures().join("lora_peft/reference.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let r = |k: &str| glimpse::hf::weights::to_f32(st.tensor(k).unwrap().dtype(), st.tensor(k).unwrap().data()).unwrap();
    for (backend, device) in devices() {
        let (model, _) = load("clip_a", "gpt2_xattn", Some("lora_peft"), &device);
        assert!(model.decoder.h[0].attn.c_attn.lora.is_some() && model.decoder.h[0].crossattention.as_ref().unwrap().q_attn.lora.is_some());
        let teacher_ids = ids(&json["teacher_ids"]);
        let (logits, cross) = teacher(&model, "clip_a", &teacher_ids, json["logits_subsample"].as_u64().unwrap() as usize, &device);
        assert_close(&format!("LoRA logits on {backend}"), &logits, &r("teacher_logits_sub"), TOL);
        assert_close(&format!("LoRA cross-attention on {backend}"), &cross[0], &r("cross_attention_0"), TOL);
        let enc = model.encode(pixels("clip_a", 0, &device));
        let cap =
            block(generate(&model.decoder, enc.clone(), &GenerateConfig { max_new_tokens: 12, ..Default::default() }, &mut unwatched()))
                .unwrap();
        assert_eq!(cap.tokens, ids(&json["greedy"]), "LoRA greedy on {backend}");
        // Merged LoRA gives the unmerged outputs.
        let mut c1 = model.decoder.start(Some(enc.clone()));
        let unmerged = block(read_vec(model.decoder.forward(&[teacher_ids.clone()], &mut c1, false).logits)).unwrap();
        let merged_dec = model.decoder.merge_lora();
        assert!(merged_dec.h[0].attn.c_attn.lora.is_none());
        let mut c2 = merged_dec.start(Some(enc));
        let merged = block(read_vec(merged_dec.forward(&[teacher_ids], &mut c2, false).logits)).unwrap();
        assert_close(&format!("merged vs unmerged LoRA on {backend}"), &merged, &unmerged, 1e-5);
    }
}

/// The page streams captions through the watcher: it sees every step's best sequence (greedy:
/// the final sequence's prefixes; beams: sequences of growing length), the result is the
/// unwatched one, and a watcher that says stop ends decoding with `Error::Cancelled`.
#[test]
fn watched_decoding_streams_steps_and_stops_on_request() {
    let device = Device::default();
    let (model, _) = load("clip_a", "gpt2_xattn", None, &device);
    let enc = model.encode(pixels("clip_a", 0, &device));
    for beams in [1, 3] {
        let cfg = GenerateConfig { beams, max_new_tokens: 10, eos: u32::MAX, ..Default::default() };
        let plain = block(generate(&model.decoder, enc.clone(), &cfg, &mut unwatched())).unwrap();
        let mut seen: Vec<Vec<u32>> = Vec::new();
        let mut watch = |seq: &[u32]| -> StepAnswer {
            seen.push(seq.to_vec());
            Box::pin(std::future::ready(true))
        };
        let watched = block(generate(&model.decoder, enc.clone(), &cfg, &mut watch)).unwrap();
        assert_eq!(watched, plain, "watching changes nothing ({beams} beams)");
        assert!(seen.len() >= 9, "one call per step but the last ({} for {beams} beams)", seen.len());
        for (i, s) in seen.iter().enumerate() {
            assert_eq!(s.len(), i + 2, "step {i}: start token plus i + 1 tokens");
            if beams == 1 {
                assert_eq!(s[..], plain.tokens[..s.len()], "greedy steps are prefixes of the caption");
            }
        }
        let mut calls = 0;
        let mut stop = |_: &[u32]| -> StepAnswer {
            calls += 1;
            Box::pin(std::future::ready(calls < 3))
        };
        let r = block(generate(&model.decoder, enc.clone(), &cfg, &mut stop));
        assert!(matches!(r, Err(glimpse::Error::Cancelled)), "stopped after 3 steps: {r:?}");
        assert_eq!(calls, 3);
    }
}

pub fn caption_args<'a>(f: &'a Path, extra: &[&'a str]) -> Vec<String> {
    let mut v: Vec<String> = ["caption", "--backend", "cpu", "--encoder"].iter().map(|s| s.to_string()).collect();
    v.push(f.join("clip_a").display().to_string());
    v.push("--decoder".into());
    v.push(f.join("gpt2_xattn").display().to_string());
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}
