//! The page's loading path (`task::load::Loading`: configs as text, each safetensors file header
//! first, then tensor by tensor in planned chunks) run natively: it must give the same models as
//! the CLI's folder loaders, and refuse truncated or incomplete downloads.

use burn::tensor::Device;
use glimpse::model::captioner::files;
use glimpse::model::clip::Towers;
use glimpse::task::caption::CaptionPipeline;
use glimpse::task::embed::Clip;
use glimpse::task::generate::GenerateConfig;
use glimpse::task::load::Loading;
use glimpse::tokenize::{BUNDLED_CLIP_TOKENIZER, BUNDLED_GPT2_TOKENIZER, Gpt2Tokenizer};

use crate::common::{fixtures, max_abs_diff};

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    pollster::block_on(f)
}

fn text(path: &str) -> String {
    std::fs::read_to_string(fixtures().join(path)).unwrap()
}

/// Feeds one file (a fixture path, or an absolute one) to `l` as the page does: the first
/// bytes, then the planned chunks, each tensor sliced out of its chunk.
pub fn stream(l: &mut Loading, part: &str, path: &str) {
    let bytes = std::fs::read(fixtures().join(path)).unwrap();
    let head = &bytes[..bytes.len().min(1 << 20)];
    let plan = l.open(part, path, head, Some(bytes.len() as u64)).unwrap();
    assert!(plan.bytes <= bytes.len() as u64);
    for chunk in plan.chunks {
        let data = &bytes[chunk.start as usize..chunk.end as usize];
        for t in chunk.tensors {
            l.put(part, t.index, data[(t.start - chunk.start) as usize..(t.end - chunk.start) as usize].to_vec()).unwrap();
        }
    }
}

#[test]
fn streamed_clip_equals_the_folder_loader() {
    let device = Device::flex();
    let mut l = Loading::clip(
        &device,
        &text("clip_a/config.json"),
        Some(&text("clip_a/preprocessor_config.json")),
        Some(BUNDLED_CLIP_TOKENIZER),
        Towers::Both,
    )
    .unwrap();
    assert_eq!(l.parts(), ["clip"]);
    stream(&mut l, "clip", "clip_a/model.safetensors");
    let streamed = l.finish_clip().unwrap();
    let folder = Clip::from_dir(&fixtures().join("clip_a"), &device, Towers::Both).unwrap();
    let img = glimpse::image::open(&fixtures().join("zeroshot/0_0.png")).unwrap();
    let a = block(streamed.embed_images(&[&img])).unwrap();
    let b = block(folder.embed_images(&[&img])).unwrap();
    assert_eq!(max_abs_diff(&a[0], &b[0]), 0.0);
    let texts = vec!["a photo of a cat".to_string()];
    assert_eq!(block(streamed.embed_texts(&texts)).unwrap(), block(folder.embed_texts(&texts)).unwrap());
}

#[test]
fn streamed_captioner_with_peft_equals_the_folder_loader() {
    let device = Device::flex();
    let mut l = Loading::captioner(
        &device,
        &text("clip_b/config.json"),
        Some(&text("clip_b/preprocessor_config.json")),
        &text("gpt2_plain/config.json"),
        Some(&text("peft_b/adapter_config.json")),
        BUNDLED_GPT2_TOKENIZER,
    )
    .unwrap();
    assert_eq!(l.parts(), ["decoder", "encoder", "peft"]);
    stream(&mut l, "encoder", "clip_b/model.safetensors");
    stream(&mut l, "decoder", "gpt2_plain/model.safetensors");
    stream(&mut l, "peft", "peft_b/adapter_model.safetensors");
    let streamed = l.finish_captioner().unwrap();
    let f = fixtures();
    let (model, config) = files::load(&f.join("clip_b"), &f.join("gpt2_plain"), Some(&f.join("peft_b")), &device, false).unwrap();
    let folder = CaptionPipeline::new(model, config, Gpt2Tokenizer::from_bytes(BUNDLED_GPT2_TOKENIZER).unwrap(), &device);
    let img = glimpse::image::open(&f.join("zeroshot/1_0.png")).unwrap();
    let cfg = GenerateConfig { beams: 3, max_new_tokens: 12, ..GenerateConfig::default() };
    assert_eq!(block(streamed.caption(&img, &cfg)).unwrap(), block(folder.caption(&img, &cfg)).unwrap());
}

#[test]
fn the_text_tower_is_never_fetched_for_captions() {
    let device = Device::flex();
    let bytes = std::fs::read(fixtures().join("clip_a/model.safetensors")).unwrap();
    let mut l =
        Loading::captioner(&device, &text("clip_a/config.json"), None, &text("gpt2_xattn/config.json"), None, BUNDLED_GPT2_TOKENIZER)
            .unwrap();
    let plan = l.open("encoder", "clip_a", &bytes, Some(bytes.len() as u64)).unwrap();
    let mut clip = Loading::clip(&device, &text("clip_a/config.json"), None, Some(BUNDLED_CLIP_TOKENIZER), Towers::Both).unwrap();
    let all = clip.open("clip", "clip_a", &bytes, None).unwrap();
    assert!(plan.bytes * 4 < all.bytes, "encoder plan {} bytes of {} (the text tower's token embedding dominates)", plan.bytes, all.bytes);
}

#[test]
fn incomplete_and_truncated_downloads_are_refused() {
    let device = Device::flex();
    let bytes = std::fs::read(fixtures().join("clip_a/model.safetensors")).unwrap();
    let new = || Loading::clip(&device, &text("clip_a/config.json"), None, Some(BUNDLED_CLIP_TOKENIZER), Towers::Both).unwrap();
    let err = new()
        .open("clip", "https://host/clip_a/model.safetensors", &bytes[..16384], Some(bytes.len() as u64 / 2))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("https://host/clip_a/model.safetensors") && err.contains("truncated"), "{err}");

    let mut l = new();
    let plan = l.open("clip", "m.safetensors", &bytes, None).unwrap();
    let t = &plan.chunks[0].tensors[0];
    l.put("clip", t.index, bytes[t.start as usize..t.end as usize].to_vec()).unwrap();
    let err = l.finish_clip().err().unwrap().to_string();
    assert!(err.contains("was never received"), "{err}");

    let mut l = new();
    let err = l.open("encoder", "x", &bytes, None).unwrap_err().to_string();
    assert!(err.contains("no part `encoder`"), "{err}");
    let err = new().finish_clip().err().unwrap().to_string();
    assert!(err.contains("never opened"), "{err}");
}

#[test]
fn streamed_pytorch_bin_equals_the_folder_loader() {
    use glimpse::hf::torch_zip::TAIL_LEN;
    let device = Device::flex();
    let dir = fixtures().join("ved_vit_bin");
    let bytes = std::fs::read(dir.join("pytorch_model.bin")).unwrap();
    let len = bytes.len() as u64;
    let mut l = Loading::pretrained(
        &device,
        &text("ved_vit_bin/config.json"),
        Some(&text("ved_vit_bin/preprocessor_config.json")),
        Some(&text("ved_vit_bin/generation_config.json")),
        None,
        BUNDLED_GPT2_TOKENIZER,
    )
    .unwrap();
    let tail_start = len.saturating_sub(TAIL_LEN);
    let (a, b) = l.open_torch("model", "pytorch_model.bin", &bytes[tail_start as usize..], tail_start, len).unwrap();
    let plan = l.torch_pickle("model", &bytes[a as usize..b as usize]).unwrap();
    for chunk in plan.chunks {
        l.put("model", chunk.tensors[0].index, bytes[chunk.start as usize..chunk.end as usize].to_vec()).unwrap();
    }
    let streamed = l.finish_captioner().unwrap();
    let (model, config) = files::load_pretrained(&fixtures().join("ved_vit"), None, &device).unwrap();
    let folder = CaptionPipeline::new(model, config, Gpt2Tokenizer::from_bytes(BUNDLED_GPT2_TOKENIZER).unwrap(), &device);
    let img = glimpse::image::open(&fixtures().join("images/portrait.png")).unwrap();
    let cfg = GenerateConfig { beams: 3, max_new_tokens: 8, ..GenerateConfig::default() };
    assert_eq!(block(streamed.caption(&img, &cfg)).unwrap(), block(folder.caption(&img, &cfg)).unwrap());
}
