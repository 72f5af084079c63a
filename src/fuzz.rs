//! Fuzz targets: every reader of untrusted bytes, as a function of those bytes that must
//! return (an `Ok` or a clean `Err`) and never panic, hang or allocate without bound.
//!
//! Two harnesses drive them: `fuzz/` (cargo-fuzz, libFuzzer's coverage guidance; `./build.sh
//! fuzz`) and `tests/it/fuzz.rs` (seed corpora from the fixtures plus deterministic mutations:
//! a short run in every `cargo test`, a long one with `GLIMPSE_FUZZ_SECS`). Each target loads
//! what it parsed the way the CLI and the page do, so the bounds under test are the product's.

use burn::tensor::Device;

use crate::hf::stream::StreamedFile;
use crate::hf::torch_zip::StreamedTorchFile;
use crate::hf::weights::Budget;
use crate::hf::{ClipConfig, EncoderConfig, GenerationDefaults, Gpt2Config, PreprocessConfig, Weights};
use crate::model::captioner::CaptionerConfig;
use crate::model::peft::PeftCheckpoint;
use crate::tokenize::{ClipTokenizer, Gpt2Tokenizer};

/// The budget the targets load under: a small model's (a fuzzer's inputs are small, and the
/// check that matters is that nothing past it is allocated).
const BUDGET: Budget = Budget { largest: 1 << 20, total: 1 << 22, expected: 0 };

/// The targets by name (what `fuzz/fuzz_targets/<name>.rs` and the in-tree harness run).
pub const TARGETS: [(&str, fn(&[u8])); 9] = [
    ("safetensors", safetensors),
    ("torch_zip", torch_zip),
    ("pickle", pickle),
    ("config", config),
    ("tokenizer", tokenizer),
    ("image", image),
    ("captions", captions),
    ("preprocessor", preprocessor),
    ("head", head),
];

fn weights() -> Weights {
    let mut w = Weights::new(&Device::flex());
    w.set_budget(BUDGET);
    w
}

/// A safetensors file: header, plan, then every wanted tensor from the bytes that follow (a
/// range past the input is what a cut download delivers: the bytes there are).
pub fn safetensors(data: &[u8]) {
    let mut w = weights();
    let Ok(mut f) = StreamedFile::open(data, "fuzz.safetensors", Some(data.len() as u64), &|k| Some(k.to_string()), &mut w) else {
        return;
    };
    for chunk in f.plan(1 << 16).chunks {
        for t in chunk.tensors {
            let bytes = data.get(t.start as usize..(t.end as usize).min(data.len())).unwrap_or_default();
            if f.put(t.index, bytes.to_vec(), &mut w).is_err() {
                return;
            }
        }
    }
    let _ = f.finish(&mut w);
    let _ = w.finish();
}

/// A `pytorch_model.bin`: zip directory, pickle, then every wanted storage.
pub fn torch_zip(data: &[u8]) {
    let mut w = weights();
    let len = data.len() as u64;
    let Ok(mut f) = StreamedTorchFile::open(data, 0, len, "fuzz.bin") else { return };
    let range = |(a, b): (u64, u64)| data.get(a as usize..(b as usize).min(data.len())).unwrap_or_default();
    if f.set_pickle(range(f.pickle_range()), &|k| Some(k.to_string()), &mut w).is_err() {
        return;
    }
    for chunk in f.plan(u64::MAX).chunks {
        for t in chunk.tensors {
            if f.put(t.index, range((t.start, t.end)), &mut w).is_err() {
                return;
            }
        }
    }
    let _ = f.finish(&mut w);
}

/// A bare pickle (the `data.pkl` of a checkpoint).
pub fn pickle(data: &[u8]) {
    let _ = crate::hf::pickle::state_dict(data, "fuzz.pkl");
}

/// Every `config.json` family, the generation config, a PEFT `adapter_config.json` and a shard
/// index (`*.index.json`); what parses is put together as the loaders do (a captioner from each
/// encoder/decoder pair, every shard's keys looked up).
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(index) = crate::load::index::ShardIndex::parse(&text, "model.safetensors.index.json") {
        for shard in index.shards() {
            let _ = index.shard_of(shard);
        }
    }
    let _ = ClipConfig::from_json_str(&text, "config.json");
    let _ = GenerationDefaults::from_json_str(&text, "generation_config.json");
    let encoder = EncoderConfig::from_json_str(&text, "config.json");
    let gpt2 = Gpt2Config::from_json_str(&text, "config.json");
    let peft = PeftCheckpoint::from_json_str(&text, "adapter_config.json");
    if let (Ok(e), Ok(g)) = (encoder, gpt2) {
        let _ = CaptionerConfig::new(e, None, g, peft.ok().map(|p| (p, "adapter_config.json")), None, false);
    }
    if let Ok(c) = CaptionerConfig::pretrained((&text, "config.json"), None, Some((&text, "generation_config.json")), None, None, false) {
        let _ = crate::model::budget::captioner(&c);
    }
}

/// `preprocessor_config.json`, and the preprocessing it describes on a small image.
pub fn preprocessor(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(p) = PreprocessConfig::from_json_str(&text, "preprocessor_config.json") {
        let img = ::image::RgbImage::from_pixel(7, 5, ::image::Rgb([10, 200, 30]));
        let _ = crate::image::preprocess(&img, &p);
    }
}

/// `tokenizer.json` for both tokenizers, then a caption through each.
pub fn tokenizer(data: &[u8]) {
    if let Ok(t) = ClipTokenizer::from_bytes(data, 77, 49408) {
        let _ = t.encode("a photo of a cat, 2 dogs & an émoji 🐈");
    }
    if let Ok(t) = Gpt2Tokenizer::from_bytes(data).and_then(|t| t.for_vocab(50257)) {
        if let Ok(ids) = t.encode("a photo of a cat 🐈") {
            let _ = t.decode(&ids);
            let _ = t.pieces(&ids);
        }
        let _ = t.decode(&[0, 1, 50256, u32::MAX]);
    }
}

/// Any image file, decoded as the CLI and the page decode photos.
pub fn image(data: &[u8]) {
    let _ = crate::image::decode(data, "fuzz");
}

/// A few-shot head (`classify --head`, the page's head picker), then one prediction with it.
pub fn head(data: &[u8]) {
    if let Ok(h) = crate::task::fewshot::head::from_bytes(data, "fuzz.safetensors") {
        let _ = h.classifier.probabilities(&vec![0.1; h.classifier.dim()]);
    }
}

/// A COCO-style captions file (training and `eval` references) and an `eval` predictions file.
pub fn captions(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(images) = crate::data::parse_coco(&text, "captions.json") {
        for i in images.iter().take(8) {
            let _ = i.stem();
        }
    }
    let _ = serde_json::from_str::<std::collections::BTreeMap<String, String>>(&text);
}
