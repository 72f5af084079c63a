//! Decoding and preprocessing against Pillow and HF on the real-world corpus
//! (tests/fixtures/make_image_corpus.py): 440 PNG, JPEG, WebP and GIF files of every mode,
//! sampling, orientation, animation and truncation. For every file glimpse must give Pillow's
//! exact RGB bytes (`exif_transpose(open(f)).convert("RGB")`) or refuse it as Pillow does, and its
//! CLIP and ViT preprocessing must give HF's float32 pixel values bit for bit.

use std::path::PathBuf;

use glimpse::hf::preprocessor::PreprocessConfig;
use glimpse::image;
use sha2::{Digest, Sha256};

use crate::common::fixtures;

/// Files (by name prefix) Pillow decodes that glimpse refuses on purpose, each with the reason.
const KNOWN_REFUSALS: &[(&str, &str)] = &[
    ("other/bmp_file.jpg", "BMP is not a supported format"),
    ("other/tiff_file.png", "TIFF is not a supported format"),
    ("jpeg/cjpeg_arith.jpg", "arithmetic-coded JPEG is not supported"),
    ("jpeg/cut_then_eoi_", "the scan stops early: libjpeg paints the rest grey with a warning, glimpse refuses"),
];

fn corpus() -> PathBuf {
    fixtures().join("image_corpus")
}

fn sha(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn every_file_decodes_and_preprocesses_as_pil_and_hf() {
    let refs: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(corpus().join("reference.json")).unwrap()).unwrap();
    let configs = [
        ("clip", PreprocessConfig::from_file(corpus().join("clip_preprocessor_config.json")).unwrap()),
        ("vit", PreprocessConfig::from_file(corpus().join("vit_preprocessor_config.json")).unwrap()),
    ];
    let cases = refs["cases"].as_array().unwrap();
    assert!(cases.len() >= 300, "corpus too small: {}", cases.len());
    let mut failures = Vec::new();
    let (mut decoded, mut refused) = (0, 0);
    for c in cases {
        let file = c["file"].as_str().unwrap();
        let pil = &c["pil"];
        let bytes = std::fs::read(corpus().join(file)).unwrap();
        let ours = image::decode(&bytes, file);
        let known = KNOWN_REFUSALS.iter().find(|(f, _)| file.starts_with(f));
        match (ours, pil.get("error")) {
            (Err(e), Some(_)) => {
                refused += 1;
                // The message names the file.
                if !e.to_string().contains(file) {
                    failures.push(format!("{file}: message does not name the file: {e}"));
                }
            }
            (Err(e), None) => {
                if known.is_none() {
                    failures.push(format!("{file}: refused ({e}) but Pillow decodes it ({} {})", pil["format"], pil["mode"]));
                }
            }
            (Ok(img), Some(err)) => failures.push(format!("{file}: decoded {}x{} but Pillow refuses it: {err}", img.width(), img.height())),
            (Ok(img), None) => {
                decoded += 1;
                if known.is_some() {
                    failures.push(format!("{file}: listed as a known refusal but decodes; take it off the list"));
                }
                let size = [u64::from(img.width()), u64::from(img.height())];
                let want = [pil["size"][0].as_u64().unwrap(), pil["size"][1].as_u64().unwrap()];
                if size != want {
                    failures.push(format!("{file}: size {size:?}, Pillow {want:?}"));
                    continue;
                }
                if sha(img.as_raw()) != pil["rgb_sha256"].as_str().unwrap() {
                    failures.push(format!("{file}: RGB pixels differ from Pillow's (mode {})", pil["mode"]));
                    continue;
                }
                for (name, cfg) in &configs {
                    if sha(image::resize_and_crop(&img, cfg).as_raw()) != c[format!("{name}_u8")].as_str().unwrap() {
                        failures.push(format!("{file}: {name} resized 8-bit picture differs from HF's"));
                    } else if sha(&f32_bytes(&image::preprocess(&img, cfg))) != c[*name].as_str().unwrap() {
                        failures.push(format!("{file}: {name} pixel_values differ from HF's"));
                    }
                }
            }
        }
    }
    eprintln!(
        "image corpus: {} files, {decoded} decoded as Pillow, {refused} refused as Pillow, {} known refusals",
        cases.len(),
        KNOWN_REFUSALS.len()
    );
    assert!(failures.is_empty(), "{} of {} files differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn every_refusal_says_what_is_wrong() {
    for (file, what) in [
        ("jpeg/trunc_base.jpg.cut70.jpg", "truncated"),
        ("jpeg/preview_in_exif_main_cut.jpg", "truncated"),
        ("png/trunc.png.cut70.png", "truncated"),
        ("other/bmp_file.jpg", "Bmp images are not supported"),
        ("other/empty.jpg", "empty file"),
        ("other/not_an_image.png", "not a recognised image"),
    ] {
        let e = image::decode(&std::fs::read(corpus().join(file)).unwrap(), file).unwrap_err().to_string();
        assert!(e.contains(file) && e.contains(what), "{file}: {e}");
    }
}

/// The picture make_image_corpus.py's `synthetic` makes.
fn synthetic(w: u32, h: u32, seed: u64) -> ::image::RgbImage {
    let raw = (0..u64::from(w) * u64::from(h) * 3)
        .map(|i| {
            let v = ((i * 2_654_435_761 + seed * 40_503) & 0xFFFF_FFFF) >> 7;
            ((v + (i / 3 % u64::from(w.max(1))) * 3) & 0xFF) as u8
        })
        .collect();
    ::image::RgbImage::from_raw(w, h, raw).unwrap()
}

#[test]
fn resize_equals_pillow_on_random_size_pairs() {
    use glimpse::hf::preprocessor::Filter;
    let pairs: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(corpus().join("resize.json")).unwrap()).unwrap();
    let pairs = pairs.as_array().unwrap();
    assert!(pairs.len() >= 1000);
    let mut bad = Vec::new();
    for p in pairs {
        let s = |k: &str, i: usize| p[k][i].as_u64().unwrap();
        let src = synthetic(s("src", 0) as u32, s("src", 1) as u32, s("src", 2));
        let filter = if p["filter"] == "bicubic" { Filter::Bicubic } else { Filter::Bilinear };
        let out = image::resize_pil(&src, s("size", 0) as u32, s("size", 1) as u32, filter);
        if sha(out.as_raw()) != p["sha256"].as_str().unwrap() {
            bad.push(format!("{}x{} -> {}x{} {}", s("src", 0), s("src", 1), s("size", 0), s("size", 1), p["filter"]));
        }
    }
    assert!(bad.is_empty(), "{} of {} resizes differ from Pillow's:\n{}", bad.len(), pairs.len(), bad.join("\n"));
}
