//! CIDEr-D against pycocoevalcap (tests/fixtures/make_cider_fixtures.py), per image and corpus.

use glimpse::task::metrics::{cider_d, ptb};

use crate::common::fixtures;

fn reference() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("cider/reference.json")).unwrap()).unwrap()
}

#[test]
fn ptb_tokenisation_matches_java() {
    let v = reference();
    let mut bad = Vec::new();
    for im in v["images"].as_array().unwrap() {
        let mut pairs = vec![(im["candidate"].as_str().unwrap(), im["candidate_tokens"].as_str().unwrap())];
        for (r, t) in im["references"].as_array().unwrap().iter().zip(im["reference_tokens"].as_array().unwrap()) {
            pairs.push((r.as_str().unwrap(), t.as_str().unwrap()));
        }
        for (raw, want) in pairs {
            let got = ptb::tokenize(raw);
            if got != want {
                bad.push(format!("{raw:?}\n  ours: {got:?}\n  java: {want:?}"));
            }
        }
    }
    assert!(bad.is_empty(), "{} captions tokenised differently:\n{}", bad.len(), bad.join("\n"));
}

#[test]
fn cider_d_matches_pycocoevalcap() {
    let v = reference();
    let images = v["images"].as_array().unwrap();
    assert!(images.len() >= 50);
    let cands: Vec<String> = images.iter().map(|i| i["candidate"].as_str().unwrap().to_string()).collect();
    let refs: Vec<Vec<String>> =
        images.iter().map(|i| i["references"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_string()).collect()).collect();
    assert!(refs.iter().all(|r| r.len() == 5));
    let c = cider_d(&cands, &refs);
    for (i, im) in images.iter().enumerate() {
        let want = im["cider"].as_f64().unwrap();
        assert!((c.per_image[i] - want).abs() <= 1e-6, "image {i} ({}): {} vs {want}", im["kind"], c.per_image[i]);
    }
    let want = v["corpus"].as_f64().unwrap();
    assert!((c.score - want).abs() <= 1e-6, "corpus {} vs {want}", c.score);
}

fn clipscore_ref() -> Vec<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixtures().join("clipscore.json")).unwrap()).unwrap();
    v["items"].as_array().unwrap().clone()
}

#[test]
fn clipscore_matches_hf_on_cpu_and_wgpu() {
    use glimpse::model::clip::Towers;
    let items = clipscore_ref();
    assert!(items.iter().any(|i| i["cos"].as_f64().unwrap() > 0.0) && items.iter().any(|i| i["cos"].as_f64().unwrap() < 0.0));
    for (backend, device) in crate::common::devices() {
        let clip = glimpse::load::native::clip(&crate::common::model_dir("clip_b"), &device, Towers::Both).unwrap();
        for it in &items {
            let img = glimpse::image::open(&fixtures().join("images").join(it["image"].as_str().unwrap())).unwrap();
            let cap = it["caption"].as_str().unwrap().to_string();
            let s =
                pollster::block_on(glimpse::task::metrics::clip_scores(&clip, &[&img], &[cap], it["prefix"].as_str().unwrap())).unwrap();
            let want = it["clipscore"].as_f64().unwrap();
            assert!((s[0] - want).abs() <= 1e-5, "{backend}: {} / {:?}: {} vs {want}", it["image"], it["caption"], s[0]);
        }
    }
}

#[test]
fn eval_and_score_commands() {
    use crate::cli::glimpse;
    let c = fixtures().join("cider");
    let (code, out, err) =
        glimpse(&["eval", "--pred", c.join("pred.json").to_str().unwrap(), "--refs", c.join("annotations.json").to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!((v["CIDEr"].as_f64().unwrap() - reference()["corpus"].as_f64().unwrap()).abs() <= 1e-6);
    assert!(v["CLIPScore"].is_null());

    // CLIPScore over a small DLCV-style set of fixture images, without the prefix.
    let items: Vec<_> = clipscore_ref().into_iter().filter(|i| i["prefix"] == "" && i["caption"] == "a diagram").collect();
    let tmp = crate::common::tempdir();
    let ann = serde_json::json!({
        "images": items.iter().enumerate().map(|(k, i)| serde_json::json!({"file_name": i["image"], "id": k})).collect::<Vec<_>>(),
        "annotations": items.iter().enumerate().map(|(k, _)| serde_json::json!({"image_id": k, "caption": "a diagram of things"})).collect::<Vec<_>>(),
    });
    let pred: serde_json::Map<String, serde_json::Value> = items
        .iter()
        .map(|i| {
            (
                std::path::Path::new(i["image"].as_str().unwrap()).file_stem().unwrap().to_str().unwrap().to_string(),
                serde_json::json!("a diagram"),
            )
        })
        .collect();
    std::fs::write(tmp.path().join("ann.json"), ann.to_string()).unwrap();
    std::fs::write(tmp.path().join("pred.json"), serde_json::Value::Object(pred).to_string()).unwrap();
    let clip = crate::common::model_dir("clip_b");
    let images = fixtures().join("images");
    let (code, out, err) = glimpse(&[
        "eval",
        "--backend",
        "cpu",
        "--pred",
        tmp.path().join("pred.json").to_str().unwrap(),
        "--refs",
        tmp.path().join("ann.json").to_str().unwrap(),
        "--images",
        images.to_str().unwrap(),
        "--clip",
        clip.to_str().unwrap(),
        "--clipscore-prefix",
        "",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let want = items.iter().map(|i| i["clipscore"].as_f64().unwrap()).sum::<f64>() / items.len() as f64;
    assert!((v["CLIPScore"].as_f64().unwrap() - want).abs() <= 1e-5, "{} vs {want}", v["CLIPScore"]);

    // score: one pair, with Hessel's prefix by default.
    let it = clipscore_ref().into_iter().find(|i| i["prefix"] != "" && i["cos"].as_f64().unwrap() > 0.0).unwrap();
    let img = images.join(it["image"].as_str().unwrap());
    let (code, out, err) = glimpse(&[
        "score",
        "--backend",
        "cpu",
        "--clip",
        clip.to_str().unwrap(),
        "--image",
        img.to_str().unwrap(),
        "--caption",
        it["caption"].as_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!((v["CLIPScore"].as_f64().unwrap() - it["clipscore"].as_f64().unwrap()).abs() <= 1e-5);

    // Bad input: a caption JSON with the wrong fields, a prediction for an unknown image.
    std::fs::write(tmp.path().join("bad.json"), r#"{"images": [{"name": "x.jpg", "id": 0}], "annotations": []}"#).unwrap();
    let (code, _, err) =
        glimpse(&["eval", "--pred", c.join("pred.json").to_str().unwrap(), "--refs", tmp.path().join("bad.json").to_str().unwrap()]);
    assert!(code != 0 && err.contains("bad.json") && err.contains("file_name"), "{err}");
    let (code, _, err) =
        glimpse(&["eval", "--pred", c.join("pred.json").to_str().unwrap(), "--refs", tmp.path().join("ann.json").to_str().unwrap()]);
    assert!(code != 0 && err.contains("prediction for `00000`"), "{err}");
}

fn ptb_fixture(name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("ptb").join(name)).unwrap()).unwrap()
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

/// 7,400 captions of every kind (tests/fixtures/make_ptb_fixtures.py), each batch one
/// pycocoevalcap call: raw Java tokens and pycocoevalcap's filtered strings, all equal.
#[test]
fn ptb_tokens_equal_java_on_the_caption_corpus() {
    let cases = ptb_fixture("cases.json");
    let (mut total, mut bad) = (0, Vec::new());
    for b in cases["batches"].as_array().unwrap() {
        let name = b["name"].as_str().unwrap();
        let caps = strings(&b["captions"]);
        let caps: Vec<&str> = caps.iter().map(String::as_str).collect();
        let raw: Vec<Vec<String>> = b["raw"].as_array().unwrap().iter().map(strings).collect();
        let filtered = strings(&b["filtered"]);
        let (got_raw, got) = (ptb::corpus_tokens(&caps), ptb::tokenize_corpus(&caps));
        assert_eq!((got_raw.len(), got.len()), (raw.len(), filtered.len()), "{name}: line count");
        for i in 0..raw.len() {
            total += 1;
            if got_raw[i] != raw[i] || got[i].join(" ") != filtered[i] {
                bad.push(format!("{name}[{i}] {:?}\n  java {:?}\n  ours {:?}", caps.get(i), raw[i], got_raw[i]));
            }
        }
    }
    assert!(total >= 5000, "corpus too small: {total}");
    assert!(bad.is_empty(), "{} of {total} captions tokenised differently:\n{}", bad.len(), bad.join("\n"));
}

/// CIDEr-D on 1,000 images x 5 references drawn from that corpus, against pycocoevalcap.
#[test]
fn cider_d_equals_pycocoevalcap_on_the_caption_corpus() {
    let caps = strings(&ptb_fixture("cases.json")["batches"][0]["captions"]);
    let c = ptb_fixture("cider.json");
    let pick = |j: &serde_json::Value| caps[j.as_u64().unwrap() as usize].clone();
    let refs: Vec<Vec<String>> = c["refs"].as_array().unwrap().iter().map(|r| r.as_array().unwrap().iter().map(pick).collect()).collect();
    let cands: Vec<String> = c["cands"].as_array().unwrap().iter().map(pick).collect();
    assert_eq!(cands.len(), 1000);
    let got = cider_d(&cands, &refs);
    let want = c["score"].as_f64().unwrap();
    assert!((got.score - want).abs() < 1e-6, "corpus CIDEr-D {} vs pycocoevalcap {want}", got.score);
    for (i, (a, b)) in got.per_image.iter().zip(c["per_image"].as_array().unwrap()).enumerate() {
        let b = b.as_f64().unwrap();
        assert!((a - b).abs() < 1e-6, "image {i}: CIDEr-D {a} vs pycocoevalcap {b}");
    }
}
