//! The one loading sequence (`glimpse::load`), driven natively: the requests it makes for each
//! model kind and file layout, in order, and the models it makes. The page runs the same
//! sequence; only its transport differs (fetch + Cache API instead of the file system).

use std::collections::BTreeMap;
use std::path::Path;

use burn::tensor::Device;
use glimpse::error::ErrorKind;
use glimpse::load::io::{HEAD_LEN, Io};
use glimpse::load::native::{self, folders};
use glimpse::load::{CaptionerSpec, Loaded, LoadedCaptioner, Loader, Location, Request, Response, Spec, models};
use glimpse::model::clip::Towers;
use glimpse::task::caption::CaptionPipeline;
use glimpse::task::embed::Clip;
use glimpse::task::generate::{GenerateConfig, Overrides};

use crate::common::fixtures;

fn at(name: &str) -> Location {
    native::at(&fixtures().join(name))
}

/// A load over local files that records every request (and whether the file was there).
fn recorded(spec: Spec) -> (glimpse::Result<Loaded>, Vec<(Request, bool)>) {
    let device = Device::flex();
    let mut loader = Loader::new(|link| models::load(Io::new(link), device, spec));
    let mut log = Vec::new();
    let result = (|| {
        while let Some(r) = loader.next()? {
            let answer = native::serve(&r)?;
            log.push((r, answer != Response::Missing));
            loader.answer(answer)?;
        }
        loader.finish()
    })();
    (result, log)
}

/// A request as a short line: `file config.json`, `range model.safetensors 0..1048576`, ...
fn line((r, found): &(Request, bool)) -> String {
    let gone = if *found { "" } else { " (missing)" };
    match r {
        Request::File { at: Location::Bundled(b), name, .. } => format!("bundled {b} {name}{gone}"),
        Request::File { name, .. } => format!("file {name}{gone}"),
        Request::Range { name, start, end, .. } => format!("range {name} {start}..{end}{gone}"),
        Request::Tail { name, len, .. } => format!("tail {name} {len}{gone}"),
    }
}

/// The requests up to (not including) the first range of weights with a nonzero start.
fn opening(log: &[(Request, bool)]) -> Vec<String> {
    log.iter().take_while(|(r, _)| !matches!(r, Request::Range { start, .. } if *start > 2)).map(line).collect()
}

/// Per file, the byte ranges fetched: none overlaps another, so no byte is fetched twice.
fn assert_no_byte_twice(log: &[(Request, bool)]) -> BTreeMap<String, u64> {
    let mut by_file: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
    for (r, found) in log {
        if let (Request::Range { at, name, start, end, .. }, true) = (r, found) {
            by_file.entry(at.show(name)).or_default().push((*start, *end));
        }
    }
    by_file
        .into_iter()
        .map(|(f, mut ranges)| {
            ranges.sort();
            for w in ranges.windows(2) {
                // The head request asks for up to HEAD_LEN bytes of a shorter file: only its real bytes count.
                assert!(w[0].0 == 0 || w[0].1 <= w[1].0, "{f}: ranges {:?} and {:?} overlap", w[0], w[1]);
            }
            let bytes = ranges.iter().map(|(a, b)| b - a).sum();
            (f, bytes)
        })
        .collect()
}

fn clip_of(r: glimpse::Result<Loaded>) -> Clip {
    match r.unwrap() {
        Loaded::Clip(c) => c,
        Loaded::Captioner(_) => panic!("expected CLIP"),
    }
}

fn captioner_of(r: glimpse::Result<Loaded>) -> LoadedCaptioner {
    match r {
        Ok(Loaded::Captioner(c)) => c,
        Ok(Loaded::Clip(_)) => panic!("expected a captioner"),
        Err(e) => panic!("{e}"),
    }
}

fn embeds(clip: &Clip) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let img = glimpse::image::open(&fixtures().join("zeroshot/0_0.png")).unwrap();
    let texts = vec!["a photo of a cat".to_string()];
    (pollster::block_on(clip.embed_images(&[&img])).unwrap(), pollster::block_on(clip.embed_texts(&texts)).unwrap())
}

fn caption(c: LoadedCaptioner, image: &str, o: &Overrides) -> Vec<u32> {
    let cfg = GenerateConfig::resolve(&c.config.generation, o);
    let p = CaptionPipeline::new(c.model, c.config, c.tokenizer, &Device::flex());
    let img = glimpse::image::open(&fixtures().join(image)).unwrap();
    pollster::block_on(p.caption(&img, &cfg)).unwrap().tokens
}

#[test]
fn clip_single_safetensors_without_tokenizer() {
    let (r, log) = recorded(Spec::Clip { model: at("clip_a"), towers: Towers::Both });
    assert_eq!(
        opening(&log),
        [
            "file config.json",
            "file preprocessor_config.json",
            "file tokenizer.json (missing)",
            "bundled clip tokenizer.json",
            &format!("range model.safetensors 0..{HEAD_LEN}"),
        ]
    );
    let fetched = assert_no_byte_twice(&log);
    let len = std::fs::metadata(fixtures().join("clip_a/model.safetensors")).unwrap().len();
    let total: u64 = fetched.values().sum();
    assert!(total <= len + HEAD_LEN, "fetched {total} of a {len}-byte file");
    let clip = clip_of(r);
    assert_eq!(embeds(&clip), embeds(&native::clip(&fixtures().join("clip_a"), &Device::flex(), Towers::Both).unwrap()));
}

#[test]
fn clip_sharded_safetensors_equals_the_single_file() {
    let (r, log) = recorded(Spec::Clip { model: at("clip_a_sharded"), towers: Towers::Both });
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("clip_a_sharded/model.safetensors.index.json")).unwrap()).unwrap();
    let mut shards: Vec<&str> = index["weight_map"].as_object().unwrap().values().map(|v| v.as_str().unwrap()).collect();
    shards.sort();
    shards.dedup();
    assert!(shards.len() >= 3, "{shards:?}");
    let mut want = vec![
        "file config.json".to_string(),
        "file preprocessor_config.json".into(),
        "file tokenizer.json (missing)".into(),
        "bundled clip tokenizer.json".into(),
        format!("range model.safetensors 0..{HEAD_LEN} (missing)"),
        "file model.safetensors.index.json".into(),
    ];
    // Every shard's header before any tensor.
    want.extend(shards.iter().map(|s| format!("range {s} 0..{HEAD_LEN}")));
    assert_eq!(opening(&log), want);
    assert_no_byte_twice(&log);
    let sharded = clip_of(r);
    let single = native::clip(&fixtures().join("clip_a"), &Device::flex(), Towers::Both).unwrap();
    assert_eq!(embeds(&sharded), embeds(&single), "the same weights, split into shards");
}

#[test]
fn the_text_tower_is_never_fetched_for_captions() {
    let spec = |towers| Spec::Clip { model: at("clip_a"), towers };
    let bytes = |log: &[(Request, bool)]| assert_no_byte_twice(log).values().sum::<u64>();
    let (_, all) = recorded(spec(Towers::Both));
    let (_, vision) = recorded(spec(Towers::Vision));
    assert!(!vision.iter().any(|(r, _)| r.file().1 == "tokenizer.json"), "no tokenizer for the vision tower");
    let (a, v) = (bytes(&all) - HEAD_LEN.min(bytes(&all)), bytes(&vision));
    assert!(v * 2 < a + HEAD_LEN, "vision tower: {v} bytes fetched, both towers {a}");
}

fn published(dir: &str) -> Spec {
    Spec::Captioner(Box::new(CaptionerSpec { model: Some(at(dir)), ..Default::default() }))
}

#[test]
fn published_captioner_single_and_sharded_pytorch_bin() {
    let reference = caption(captioner_of(recorded(published("ved_vit")).0), "images/portrait.png", &Overrides::default());

    let (r, log) = recorded(published("ved_vit_bin"));
    let lines: Vec<String> = log.iter().map(line).collect();
    let tail = lines.iter().position(|l| l.starts_with("tail ")).unwrap();
    assert_eq!(
        lines[tail - 2..tail + 2],
        [
            format!("range model.safetensors 0..{HEAD_LEN} (missing)"),
            "file model.safetensors.index.json (missing)".into(),
            format!("tail pytorch_model.bin {}", glimpse::hf::torch_zip::TAIL_LEN),
            // The pickle comes first in the zip, after its "PK" signature: one request for both.
            "range pytorch_model.bin 0..".to_string() + lines[tail + 1].rsplit("..").next().unwrap(),
        ]
    );
    assert_eq!(caption(captioner_of(r), "images/portrait.png", &Overrides::default()), reference);

    let (r, log) = recorded(published("ved_vit_sharded_bin"));
    let o: Vec<String> = log.iter().map(line).collect();
    let first_tail = o.iter().position(|l| l.starts_with("tail pytorch_model.bin ")).unwrap();
    assert_eq!(o[first_tail], format!("tail pytorch_model.bin {} (missing)", glimpse::hf::torch_zip::TAIL_LEN));
    assert_eq!(o[first_tail + 1], "file pytorch_model.bin.index.json");
    let shards: Vec<&String> = o[first_tail + 2..].iter().filter(|l| l.starts_with("tail pytorch_model-")).collect();
    assert!(shards.len() >= 3, "{o:#?}");
    assert_no_byte_twice(&log);
    let c = captioner_of(r);
    // Same weights as ved_vit; the sharded folder's generation config differs, so compare under fixed options.
    let fixed = Overrides { beams: Some(3), max_tokens: Some(8), length_penalty: Some(1.0), no_repeat_ngram: Some(0), no_stop: false };
    let v = captioner_of(recorded(published("ved_vit")).0);
    assert_eq!(caption(c, "images/portrait.png", &fixed), caption(v, "images/portrait.png", &fixed));
}

#[test]
fn generation_config_sets_every_default() {
    let r = crate::common::reference_json("ved_vit_sharded");
    let load = || captioner_of(recorded(published("ved_vit_sharded")).0);
    let g = GenerateConfig::defaults(&load().config.generation);
    let s = &r["settings"];
    assert_eq!(g.beams as u64, s["num_beams"].as_u64().unwrap());
    assert_eq!(g.max_tokens as u64 + 1, s["max_length"].as_u64().unwrap());
    assert_eq!(g.length_penalty, s["length_penalty"].as_f64().unwrap());
    assert_eq!(g.no_repeat_ngram as u64, s["no_repeat_ngram_size"].as_u64().unwrap());
    let ids = |v: &serde_json::Value| v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect::<Vec<_>>();
    let images = ["images/portrait.png", "images/alpha.png"];
    // HF `generate()` with no arguments (the generation config applies) equals glimpse with none,
    // and each ablation (one field set by the user) equals HF with that field overridden.
    let mut runs = vec![("main".to_string(), Overrides::default(), &r["sequences"])];
    for (name, a) in r["ablations"].as_object().unwrap() {
        let o = &a["override"];
        let n = |k: &str| o.get(k).and_then(serde_json::Value::as_u64).map(|v| v as usize);
        let overrides = Overrides {
            beams: n("num_beams"),
            max_tokens: n("max_length").map(|l| l - 1),
            length_penalty: o.get("length_penalty").and_then(serde_json::Value::as_f64),
            no_repeat_ngram: n("no_repeat_ngram_size"),
            no_stop: false,
        };
        runs.push((name.clone(), overrides, &a["sequences"]));
    }
    for (name, overrides, want) in runs {
        for (k, image) in images.iter().enumerate() {
            assert_eq!(caption(load(), image, &overrides), ids(&want[k]), "{name} on {image}");
        }
    }
}

#[test]
fn captioner_from_parts_with_peft_and_a_peft_alone_following_its_base() {
    let spec =
        CaptionerSpec { encoder: Some(at("clip_b")), decoder: Some(at("gpt2_plain")), peft: Some(at("peft_b")), ..Default::default() };
    let (r, log) = recorded(Spec::Captioner(Box::new(spec)));
    assert_eq!(
        opening(&log),
        [
            "file adapter_config.json",
            "file config.json",
            "file preprocessor_config.json",
            "file config.json",
            "file tokenizer.json (missing)",
            "bundled gpt2 tokenizer.json",
            &format!("range model.safetensors 0..{HEAD_LEN}"),
            &format!("range model.safetensors 0..{HEAD_LEN}"),
            &format!("range adapter_model.safetensors 0..{HEAD_LEN}"),
        ]
    );
    let o = Overrides { beams: Some(3), max_tokens: Some(10), ..Default::default() };
    let explicit = caption(captioner_of(r), "zeroshot/1_0.png", &o);

    // The same PEFT, its adapter_config.json naming the base parts by path.
    let tmp = crate::common::tempdir();
    let peft = tmp.path().join("peft");
    std::fs::create_dir(&peft).unwrap();
    std::fs::copy(fixtures().join("peft_b/adapter_model.safetensors"), peft.join("adapter_model.safetensors")).unwrap();
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("peft_b/adapter_config.json")).unwrap()).unwrap();
    cfg["base_encoder"] = fixtures().join("clip_b").display().to_string().into();
    cfg["base_decoder"] = fixtures().join("gpt2_plain").display().to_string().into();
    std::fs::write(peft.join("adapter_config.json"), cfg.to_string()).unwrap();
    let alone = CaptionerSpec { peft: Some(native::at(&peft)), ..Default::default() };
    let (r, log) = recorded(Spec::Captioner(Box::new(alone)));
    assert_eq!(line(&log[0]), "file adapter_config.json");
    assert_eq!(log[1].0.file().0, &at("clip_b"), "then the encoder it names");
    assert_eq!(caption(captioner_of(r), "zeroshot/1_0.png", &o), explicit);
}

#[test]
fn a_peft_naming_hub_models_finds_them_in_the_local_hugging_face_cache() {
    let tmp = crate::common::tempdir();
    let hub = tmp.path().join("hub");
    for (id, dir) in [("someone/tiny-clip", "clip_b"), ("someone/tiny-gpt2", "gpt2_plain")] {
        let repo = hub.join(format!("models--{}", id.replace('/', "--")));
        let snapshot = repo.join("snapshots/0123abcd");
        std::fs::create_dir_all(&snapshot).unwrap();
        for f in std::fs::read_dir(fixtures().join(dir)).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, snapshot.join(f.file_name().unwrap())).unwrap();
        }
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs/main"), "0123abcd\n").unwrap();
    }
    let peft = tmp.path().join("peft");
    std::fs::create_dir(&peft).unwrap();
    std::fs::copy(fixtures().join("peft_b/adapter_model.safetensors"), peft.join("adapter_model.safetensors")).unwrap();
    let mut cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("peft_b/adapter_config.json")).unwrap()).unwrap();
    cfg["base_encoder"] = "someone/tiny-clip".into();
    cfg["base_decoder"] = "someone/tiny-gpt2".into();
    std::fs::write(peft.join("adapter_config.json"), cfg.to_string()).unwrap();
    let img = fixtures().join("zeroshot/1_0.png");
    let run = |cache: &Path, extra: &[&str]| {
        let mut args = vec!["caption", "--backend", "cpu", "--max-tokens", "6", "--peft", peft.to_str().unwrap()];
        args.extend(extra);
        args.push(img.to_str().unwrap());
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_glimpse")).args(&args).env("HF_HUB_CACHE", cache).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    let (code, from_hub, err) = run(&hub, &[]);
    assert_eq!(code, Some(0), "{err}");
    let (enc, dec) = (fixtures().join("clip_b"), fixtures().join("gpt2_plain"));
    let (_, explicit, _) = run(&hub, &["--encoder", enc.to_str().unwrap(), "--decoder", dec.to_str().unwrap()]);
    assert_eq!(from_hub, explicit);
    let (code, _, err) = run(&tmp.path().join("empty"), &[]);
    assert_ne!(code, Some(0));
    assert!(err.contains("someone/tiny-clip") && err.contains("not in the local Hugging Face cache"), "{err}");
}

#[test]
fn missing_files_are_named_with_their_kind() {
    let tmp = crate::common::tempdir();
    let e = |spec| match recorded(spec).0 {
        Err(e) => e,
        Ok(_) => panic!("loaded"),
    };
    let err = e(Spec::Clip { model: native::at(&tmp.path().join("nowhere")), towers: Towers::Both });
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("model folder not found"), "{err}");
    let err = e(Spec::Clip { model: native::at(tmp.path()), towers: Towers::Both });
    assert!(err.to_string().contains("config.json: not found"), "{err}");
    // A config and no weights: every layout tried is listed.
    std::fs::copy(fixtures().join("clip_a/config.json"), tmp.path().join("config.json")).unwrap();
    let err = e(Spec::Clip { model: native::at(tmp.path()), towers: Towers::Vision });
    assert_eq!(err.kind(), ErrorKind::NotFound);
    for name in ["model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json"] {
        assert!(err.to_string().contains(name), "{err}");
    }
    // An index naming a shard that is not there, or a file outside the folder.
    std::fs::write(tmp.path().join("model.safetensors.index.json"), r#"{"weight_map": {"a": "model-00001-of-00002.safetensors"}}"#)
        .unwrap();
    let err = e(Spec::Clip { model: native::at(tmp.path()), towers: Towers::Vision });
    assert!(
        err.to_string().contains("model-00001-of-00002.safetensors: not found") && err.to_string().contains("lists it as a shard"),
        "{err}"
    );
    std::fs::write(tmp.path().join("model.safetensors.index.json"), r#"{"weight_map": {"a": "../clip_a/model.safetensors"}}"#).unwrap();
    let err = e(Spec::Clip { model: native::at(tmp.path()), towers: Towers::Vision });
    assert_eq!(err.kind(), ErrorKind::InvalidFile);
    assert!(err.to_string().contains("not a file in this folder"), "{err}");
    // A PEFT folder without its weights, whichever way the captioner is given.
    let peft = tmp.path().join("peft");
    std::fs::create_dir(&peft).unwrap();
    std::fs::copy(fixtures().join("peft_b/adapter_config.json"), peft.join("adapter_config.json")).unwrap();
    let spec =
        CaptionerSpec { encoder: Some(at("clip_b")), decoder: Some(at("gpt2_plain")), peft: Some(native::at(&peft)), ..Default::default() };
    let err = e(Spec::Captioner(Box::new(spec)));
    assert!(err.to_string().contains("adapter_model.safetensors") && err.to_string().contains("adapter_model.bin"), "{err}");
    let err = folders::load_pretrained(&fixtures().join("ved_vit"), Some(&peft), &Device::flex()).err().unwrap();
    assert!(err.to_string().contains("no weights found"), "{err}");
}

#[test]
fn truncated_files_are_refused_naming_the_file() {
    let tmp = crate::common::tempdir();
    for f in ["config.json", "preprocessor_config.json"] {
        std::fs::copy(fixtures().join("clip_a").join(f), tmp.path().join(f)).unwrap();
    }
    let bytes = std::fs::read(fixtures().join("clip_a/model.safetensors")).unwrap();
    std::fs::write(tmp.path().join("model.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
    let err = native::clip(tmp.path(), &Device::flex(), Towers::Vision).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::InvalidFile);
    assert!(err.to_string().contains("model.safetensors") && err.to_string().contains("truncated"), "{err}");
}

#[test]
fn a_transport_that_answers_out_of_turn_is_an_internal_error() {
    let device = Device::flex();
    let spec = Spec::Clip { model: at("clip_a"), towers: Towers::Vision };
    let mut loader = Loader::new(|link| models::load(Io::new(link), device, spec));
    assert_eq!(loader.answer(Response::Missing).unwrap_err().kind(), ErrorKind::Internal);
    let first = loader.next().unwrap().unwrap();
    assert_eq!(loader.next().unwrap().unwrap(), first, "asking again gives the same request");
    let config = std::fs::read(fixtures().join("clip_a/config.json")).unwrap();
    loader.answer(Response::Bytes { bytes: config, file_len: None }).unwrap();
    assert_eq!(line(&(loader.next().unwrap().unwrap(), true)), "file preprocessor_config.json");
    assert_eq!(loader.finish().err().unwrap().kind(), ErrorKind::Internal, "finishing early");
}
