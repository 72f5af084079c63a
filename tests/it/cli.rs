//! The `glimpse` binary on the fixtures: `embed` and `classify` against HF's numbers.

use std::process::Command;

use serde_json::Value;

use crate::common::*;

pub fn glimpse(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_glimpse")).args(args).output().expect("run glimpse");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

fn ok_json(args: &[&str]) -> Value {
    let (code, out, err) = glimpse(args);
    assert_eq!(code, 0, "glimpse {args:?} failed: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            r.as_array().map_or_else(|| vec![r.as_f64().unwrap() as f32], |a| a.iter().map(|x| x.as_f64().unwrap() as f32).collect())
        })
        .collect()
}

#[test]
fn embed_prints_hf_embeddings_in_argument_order() {
    let dir = model_dir("clip_b");
    let refs = references("clip_b");
    let json = reference_json("clip_b");
    let img = |i: usize| fixtures().join("images").join(json["images"][i].as_str().unwrap()).display().to_string();
    // Images 0 and 3 are a PNG and a WebP (JPEG decoders differ slightly, see clip_parity).
    let (i0, i1) = (img(0), img(3));
    let v = ok_json(&[
        "embed",
        "--model",
        dir.to_str().unwrap(),
        "--backend",
        "cpu",
        "--image",
        &i1,
        "--image",
        &i0,
        "--text",
        "a diagram",
        "--text",
        "a photo of a cat",
    ]);
    let e = refs["image_embeds"].shape[1];
    let ie = floats(&v["image_embeds"]);
    assert_close("image 3", &ie[..e], &refs["image_embeds"].data[3 * e..4 * e], TOL);
    assert_close("image 0", &ie[e..], &refs["image_embeds"].data[..e], TOL);
    let te = floats(&v["text_embeds"]);
    assert_close("text 1", &te[..e], &refs["text_embeds"].data[e..2 * e], TOL);
    assert_close("text 0", &te[e..], &refs["text_embeds"].data[..e], TOL);
}

#[test]
fn classify_single_ensemble_and_compare_match_hf() {
    for name in MODELS {
        let dir = model_dir(name);
        let zs = &reference_json(name)["zeroshot"];
        let labels = fixtures().join("zeroshot/id2label.json");
        let folder = fixtures().join("zeroshot");
        for run in zs["runs"].as_array().unwrap() {
            let templates: Vec<&str> = run["templates"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
            let mut args = vec![
                "classify",
                "--model",
                dir.to_str().unwrap(),
                "--labels",
                labels.to_str().unwrap(),
                "--backend",
                "cpu",
                "--compare",
                "--top-k",
                "2",
            ];
            for t in &templates {
                args.extend(["--template", t]);
            }
            args.push(folder.to_str().unwrap());
            let v = ok_json(&args);
            let preds = v["predictions"].as_array().unwrap();
            assert_eq!(preds.len(), zs["files"].as_array().unwrap().len());
            for (p, f) in preds.iter().zip(zs["files"].as_array().unwrap()) {
                assert!(p["image"].as_str().unwrap().ends_with(f.as_str().unwrap()));
                assert_eq!(p["top"].as_array().unwrap().len(), 2);
            }
            let got: Vec<f32> = preds.iter().flat_map(|p| floats(&p["probs"])).collect();
            assert_close(&format!("{name} {templates:?} probs"), &got, &floats(&run["probs"]), TOL);
            let acc = v["accuracy"].as_f64().unwrap();
            // The reference is a float32 mean of 12 hits/misses.
            assert!((acc - run["accuracy"].as_f64().unwrap()).abs() < 1e-6, "{name} {templates:?}: accuracy {acc}");
            let per = v["per_template"].as_array().unwrap();
            assert_eq!(per.len(), templates.len());
            if templates.len() == 1 {
                assert_eq!(per[0]["accuracy"], v["accuracy"]);
            }
        }
        // --compare per-template rows equal the single-template runs.
        let runs = zs["runs"].as_array().unwrap();
        let mut args =
            vec!["classify", "--model", dir.to_str().unwrap(), "--labels", labels.to_str().unwrap(), "--backend", "cpu", "--compare"];
        for t in ["a photo of a {}", "This is a photo of {}", "No {}, no score."] {
            args.extend(["--template", t]);
        }
        args.push(folder.to_str().unwrap());
        let v = ok_json(&args);
        let per = v["per_template"].as_array().unwrap();
        for (row, run) in [(0, 0), (1, 2), (2, 3)] {
            let (a, b) = (per[row]["accuracy"].as_f64().unwrap(), runs[run]["accuracy"].as_f64().unwrap());
            assert!((a - b).abs() < 1e-6, "{name}: per_template[{row}] accuracy {a} vs {b}");
        }
    }
}

#[test]
fn classify_on_wgpu_matches_cpu() {
    if std::env::var_os("GLIMPSE_SKIP_WGPU").is_some() {
        return;
    }
    let dir = model_dir("clip_a");
    let labels = fixtures().join("zeroshot/id2label.json");
    let folder = fixtures().join("zeroshot");
    let run = |b: &str| {
        ok_json(&[
            "classify",
            "--model",
            dir.to_str().unwrap(),
            "--labels",
            labels.to_str().unwrap(),
            "--backend",
            b,
            folder.to_str().unwrap(),
        ])
    };
    let (c, w) = (run("cpu"), run("wgpu"));
    let p = |v: &Value| v["predictions"].as_array().unwrap().iter().flat_map(|p| floats(&p["probs"])).collect::<Vec<_>>();
    assert_close("wgpu vs cpu probs", &p(&w), &p(&c), TOL);
}

#[test]
fn caption_writes_dlcv_json_and_details_matching_hf() {
    let f = fixtures();
    let tmp = crate::common::tempdir();
    let out = tmp.path().join("pred.json");
    let details = tmp.path().join("details.json");
    let figs = tmp.path().join("attention");
    let img = f.join("images/portrait.png");
    let args = crate::caption_parity::caption_args(
        &f,
        &[
            "--max-tokens",
            "12",
            "--out",
            out.to_str().unwrap(),
            "--details",
            details.to_str().unwrap(),
            "--attention-dir",
            figs.to_str().unwrap(),
            img.to_str().unwrap(),
        ],
    );
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, err) = glimpse(&a);
    assert_eq!(code, 0, "{err}");
    let pred: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert!(pred["portrait"].is_string());
    let d: Value = serde_json::from_str(&std::fs::read_to_string(&details).unwrap()).unwrap();
    let want: Value = serde_json::from_str(&std::fs::read_to_string(f.join("caption_a/reference.json")).unwrap()).unwrap();
    assert_eq!(d["portrait"]["tokens"], want["sequences"]["greedy"][0], "tokens equal HF's greedy sequence");
    assert_eq!(d["portrait"]["grid"], serde_json::json!([4, 4]));
    let att = d["portrait"]["attention"].as_array().unwrap();
    assert_eq!(att.len(), 12);
    // tokens is HF's sequence (start token first); word_ids, words and attention are aligned.
    let (tokens, word_ids) = (d["portrait"]["tokens"].as_array().unwrap(), d["portrait"]["word_ids"].as_array().unwrap());
    assert_eq!(word_ids.len(), att.len());
    assert_eq!(d["portrait"]["words"].as_array().unwrap().len(), att.len());
    assert_eq!(&tokens[1..1 + word_ids.len()], &word_ids[..], "word_ids are tokens without the start token");
    let first = att[0].as_array().unwrap();
    assert_eq!(first.len(), 2, "one map per decoder layer");
    let probs: Vec<f64> = first[0].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    assert_eq!(probs.len(), 17, "CLS + 4x4 patches");
    assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-4);
    assert_eq!(d["portrait"]["text"].as_str().unwrap(), pred["portrait"].as_str().unwrap());
    // The figure: the image plus one panel per token, five panels a row, 224 px panels + titles.
    let fig = ::image::open(figs.join("portrait.png")).unwrap();
    assert_eq!((fig.width(), fig.height()), (5 * 224, 3 * (224 + 22)));
}
