//! Few-shot classifiers against their references (tests/fixtures/make_fewshot_fixtures.py):
//! the linear probe against scikit-learn's LogisticRegression, the cache model against a numpy
//! implementation of Tip-Adapter's formula, on the tiny CLIP's embeddings of generated images
//! and on a corpus of 120 random problems; then `glimpse fewshot` and `classify --head`.

use glimpse::device::{self, Backend};
use glimpse::task::fewshot::cache::{self, ALPHAS, BETAS, CacheModel};
use glimpse::task::fewshot::probe::{self, LinearProbe};
use serde_json::Value;

use crate::cli::glimpse;
use crate::common::*;

fn json(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("fewshot").join(name)).unwrap()).unwrap()
}

fn rows(v: &Value) -> Vec<Vec<f32>> {
    v.as_array().unwrap().iter().map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()).collect()
}

fn classes(v: &Value) -> Vec<usize> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as usize).collect()
}

fn grid(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

fn argmax(p: &[f32]) -> usize {
    p.iter().enumerate().fold(0, |b, (i, &x)| if x > p[b] { i } else { b })
}

#[test]
fn the_search_grids_are_the_references() {
    for name in ["reference.json", "corpus.json"] {
        let r = json(name);
        assert_eq!(grid(&r["tip_alphas"]), ALPHAS, "{name}");
        assert_eq!(grid(&r["tip_betas"]), BETAS, "{name}");
    }
}

#[test]
fn the_cache_model_equals_numpy() {
    let r = json("reference.json");
    let (keys, y, test) = (rows(&r["x_train"]), classes(&r["y_train"]), rows(&r["x_test"]));
    let scale = r["logit_scale_exp"].as_f64().unwrap() as f32;
    for run in r["runs"].as_array().unwrap() {
        let (m, search) = cache::fit(rows(&run["text"]), scale, keys.clone(), y.clone());
        assert_eq!((search.alpha, search.beta), (run["tip"]["alpha"].as_f64().unwrap(), run["tip"]["beta"].as_f64().unwrap()));
        assert_eq!(search.loo_accuracy, run["tip"]["loo_accuracy"].as_f64().unwrap());
        let got: Vec<Vec<f32>> = test.iter().map(|f| m.probabilities(f)).collect();
        assert_close(&format!("tip {}", run["templates"]), &flat(&got), &flat(&rows(&run["tip_probs"])), 1e-5);
    }
    let corpus = json("corpus.json");
    for (i, p) in corpus["problems"].as_array().unwrap().iter().enumerate() {
        let (keys, y, test, text) = (rows(&p["x_train"]), classes(&p["y_train"]), rows(&p["x_test"]), rows(&p["text"]));
        let scale = p["scale"].as_f64().unwrap() as f32;
        let (m, search) = cache::fit(text.clone(), scale, keys.clone(), y.clone());
        assert_eq!((search.alpha, search.beta), (p["tip"]["alpha"].as_f64().unwrap(), p["tip"]["beta"].as_f64().unwrap()), "problem {i}");
        let got: Vec<Vec<f32>> = test.iter().map(|f| m.probabilities(f)).collect();
        assert_close(&format!("problem {i} (searched)"), &flat(&got), &flat(&rows(&p["tip_probs"])), 1e-5);
        let fixed = &p["tip_fixed"];
        let m = CacheModel { alpha: fixed["alpha"].as_f64().unwrap(), beta: fixed["beta"].as_f64().unwrap(), ..m };
        let got: Vec<Vec<f32>> = test.iter().map(|f| m.probabilities(f)).collect();
        assert_close(&format!("problem {i} (fixed)"), &flat(&got), &flat(&rows(&fixed["probs"])), 1e-5);
    }
}

/// Fits the probe on a problem and compares with scikit-learn's probabilities and labels.
fn check_probe(
    what: &str,
    x: &[Vec<f32>],
    y: &[usize],
    test: &[Vec<f32>],
    start: &LinearProbe,
    c: f64,
    probs: &Value,
    pred: &Value,
) -> (usize, f32, bool) {
    let dev = device::init(Backend::Cpu).unwrap();
    let (p, report) = pollster::block_on(probe::fit(&dev, x, y, start, c)).unwrap();
    let got: Vec<Vec<f32>> = test.iter().map(|f| p.probabilities(f)).collect();
    assert_close(&format!("{what} (C={c}, {report:?})"), &flat(&got), &flat(&rows(probs)), 1e-3);
    // The same labels, but where scikit-learn's top two are closer than the tolerance.
    let want = rows(probs);
    for ((g, w), &label) in got.iter().zip(&want).zip(&classes(pred)) {
        let mine = argmax(g);
        assert!(
            mine == label || (w[label] - w[mine]).abs() < 2e-3,
            "{what}: predicted {mine}, scikit-learn {label} (C={c}): {g:?} vs {w:?}"
        );
    }
    (report.iterations, max_abs_diff(&flat(&got), &flat(&want)), report.converged)
}

#[test]
fn the_linear_probe_equals_scikit_learn_on_clip_embeddings() {
    let r = json("reference.json");
    let (x, y, test) = (rows(&r["x_train"]), classes(&r["y_train"]), rows(&r["x_test"]));
    let start = LinearProbe::zero_shot(&rows(&r["runs"][2]["text"]), r["logit_scale_exp"].as_f64().unwrap() as f32);
    for p in r["probe"].as_array().unwrap() {
        check_probe("clip_a embeddings", &x, &y, &test, &start, p["c"].as_f64().unwrap(), &p["probs"], &p["pred"]);
    }
}

#[test]
fn the_linear_probe_equals_scikit_learn_on_a_corpus() {
    let corpus = json("corpus.json");
    let mut fits = Vec::new();
    for (i, p) in corpus["problems"].as_array().unwrap().iter().enumerate() {
        let start = LinearProbe::zero_shot(&rows(&p["text"]), p["scale"].as_f64().unwrap() as f32);
        let (x, y, test) = (rows(&p["x_train"]), classes(&p["y_train"]), rows(&p["x_test"]));
        fits.push(check_probe(
            &format!("problem {i}"),
            &x,
            &y,
            &test,
            &start,
            p["c"].as_f64().unwrap(),
            &p["probe_probs"],
            &p["probe_pred"],
        ));
    }
    let steps: Vec<usize> = fits.iter().map(|f| f.0).collect();
    eprintln!(
        "{} problems: largest probability difference {:.2e}; L-BFGS steps max {}, mean {:.1}; {} stopped before the gradient tolerance",
        fits.len(),
        fits.iter().map(|f| f.1).fold(0.0, f32::max),
        steps.iter().max().unwrap(),
        steps.iter().sum::<usize>() as f64 / steps.len() as f64,
        fits.iter().filter(|f| !f.2).count()
    );
}

#[test]
fn cross_validation_picks_a_c_and_reports_the_grid() {
    let r = json("reference.json");
    let (x, y) = (rows(&r["x_train"]), classes(&r["y_train"]));
    let start = LinearProbe::zero_shot(&rows(&r["runs"][2]["text"]), r["logit_scale_exp"].as_f64().unwrap() as f32);
    let dev = device::init(Backend::Cpu).unwrap();
    let mut calls = Vec::new();
    let (p, _, cv) = pollster::block_on(probe::fit_cross_validated(&dev, &x, &y, &start, &mut |d, t| calls.push((d, t)))).unwrap();
    assert_eq!(cv.folds, 4, "4 shots per class: 4 stratified folds");
    assert_eq!(cv.grid.len(), probe::C_GRID.len());
    assert!(probe::C_GRID.contains(&cv.c) && p.c == cv.c);
    let best = cv.grid.iter().map(|g| g.accuracy).fold(0.0, f64::max);
    assert_eq!(cv.grid.iter().find(|g| g.c == cv.c).unwrap().accuracy, best);
    assert_eq!(calls.last(), Some(&(4 * probe::C_GRID.len() + 1, 4 * probe::C_GRID.len() + 1)));
    // One shot per class: nothing to cross-validate on.
    let one: Vec<usize> = (0..4).map(|c| y.iter().position(|&v| v == c).unwrap()).collect();
    let x1: Vec<Vec<f32>> = one.iter().map(|&i| x[i].clone()).collect();
    let (_, _, cv) = pollster::block_on(probe::fit_cross_validated(&dev, &x1, &[0, 1, 2, 3], &start, &mut |_, _| {})).unwrap();
    assert_eq!((cv.folds, cv.c), (0, probe::C_ONE_SHOT));
}

fn fewshot_args(extra: &[&str]) -> Vec<String> {
    let fx = fixtures().join("fewshot");
    let mut args: Vec<String> = vec![
        "fewshot".into(),
        "--model".into(),
        model_dir("clip_a").display().to_string(),
        "--labels".into(),
        fx.join("labels.txt").display().to_string(),
        "--train".into(),
        fx.join("train").display().to_string(),
        "--test".into(),
        fx.join("test").display().to_string(),
        "--backend".into(),
        "cpu".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn run_ok(args: &[String]) -> Value {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out, err) = glimpse(&refs);
    assert_eq!(code, 0, "glimpse {args:?} failed: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// Test images in the reference's order, as the CLI names them.
fn by_reference_order(out: &Value, r: &Value) -> Vec<Vec<f32>> {
    r["test"]
        .as_array()
        .unwrap()
        .iter()
        .map(|name| {
            let name = name.as_str().unwrap();
            let p = out["predictions"].as_array().unwrap().iter().find(|p| p["image"].as_str().unwrap().ends_with(name)).unwrap();
            p["probs"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
        })
        .collect()
}

#[test]
fn four_shots_beat_zero_shot_by_far_on_a_set_clip_cannot_name() {
    let r = json("reference.json");
    let out = run_ok(&fewshot_args(&["--shots", "4", "--template", "a photo of a {}", "--template", "a drawing of the {}"]));
    let zs = out["zero_shot_accuracy"].as_f64().unwrap();
    let tip = out["fewshot"]["methods"]["tip"]["accuracy"].as_f64().unwrap();
    let probe = out["fewshot"]["methods"]["probe"]["accuracy"].as_f64().unwrap();
    eprintln!("zero-shot {zs:.3}, tip {tip:.3}, probe {probe:.3} (C={})", out["fewshot"]["methods"]["probe"]["c"]);
    assert!(zs <= 0.5, "zero-shot should be near chance (0.25) on random weights: {zs}");
    assert!(tip >= zs + 0.25 && probe >= zs + 0.25, "4 shots: tip {tip}, probe {probe}, zero-shot {zs}");
    // The table: every template and the ensemble, zero-shot and tip as the references.
    let table = out["per_template"].as_array().unwrap();
    assert_eq!(table.len(), 3);
    for (row, want) in table.iter().zip(r["runs"].as_array().unwrap()) {
        assert_eq!(row["zero_shot"], want["zero_shot_accuracy"], "{row}");
        assert_eq!(row["tip"]["accuracy"], want["tip_accuracy"], "{row}");
        assert_eq!(row["tip"]["alpha"], want["tip"]["alpha"], "{row}");
    }
    assert_eq!(out["predictions"].as_array().unwrap().len(), 24);
    assert_eq!(out["fewshot"]["train"].as_array().unwrap().len(), 16);
    assert_eq!(out["fewshot"]["method"], "tip");
    // Confusion counts: every test image once, the diagonal its accuracy.
    for (m, acc) in [("zero_shot", zs), ("tip", tip), ("probe", probe)] {
        let c: Vec<Vec<u64>> = serde_json::from_value(out["fewshot"]["confusion"][m].clone()).unwrap();
        assert_eq!((c.len(), c.iter().map(|r| r.iter().sum::<u64>()).sum::<u64>()), (4, 24), "{m}");
        assert!(c.iter().all(|r| r.iter().sum::<u64>() == 6), "{m}: 6 test images per class");
        let right: u64 = (0..4).map(|i| c[i][i]).sum();
        assert!((right as f64 / 24.0 - acc).abs() < 1e-12, "{m}: diagonal {right} vs accuracy {acc}");
    }
    assert_close("tip predictions", &flat(&by_reference_order(&out, &r)), &flat(&rows(&r["runs"][2]["tip_probs"])), 1e-4);
}

#[test]
fn the_cli_probe_equals_scikit_learn_and_its_head_classifies_the_same() {
    let r = json("reference.json");
    let tmp = crate::common::tempdir();
    let dir = tmp.path();
    let head = dir.join("head.safetensors");
    let out = run_ok(&fewshot_args(&["--shots", "4", "--method", "probe", "--probe-c", "10", "--save", head.to_str().unwrap()]));
    let want = r["probe"].as_array().unwrap().iter().find(|p| p["c"] == 10.0).unwrap();
    assert_close("probe via the CLI", &flat(&by_reference_order(&out, &r)), &flat(&rows(&want["probs"])), 1e-3);
    assert_eq!(out["accuracy"], want["accuracy"]);

    let test = fixtures().join("fewshot/test");
    let (code, stdout, err) = glimpse(&[
        "classify",
        "--model",
        model_dir("clip_a").to_str().unwrap(),
        "--head",
        head.to_str().unwrap(),
        "--backend",
        "cpu",
        test.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let classified: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(classified["predictions"], out["predictions"], "classify --head predicts as fewshot did");
    assert_eq!(classified["accuracy"], out["accuracy"]);
    assert_eq!(classified["head"]["method"], "probe");

    // Misuse is named.
    let labels = fixtures().join("zeroshot/id2label.json");
    let (code, _, err) = glimpse(&[
        "classify",
        "--model",
        model_dir("clip_a").to_str().unwrap(),
        "--head",
        head.to_str().unwrap(),
        "--labels",
        labels.to_str().unwrap(),
        test.to_str().unwrap(),
    ]);
    assert!(code != 0 && err.contains("fitted for the labels [red blob, green blob"), "{err}");
    let (code, _, err) =
        glimpse(&["classify", "--model", model_dir("clip_b").to_str().unwrap(), "--head", head.to_str().unwrap(), test.to_str().unwrap()]);
    assert!(code != 0 && err.contains("16-dimensional") && err.contains("another CLIP"), "{err}");
    std::fs::write(dir.join("bad.safetensors"), b"\x10\0\0\0\0\0\0\0{\"a\":1}        ").unwrap();
    let (code, _, err) = glimpse(&[
        "classify",
        "--model",
        model_dir("clip_a").to_str().unwrap(),
        "--head",
        dir.join("bad.safetensors").to_str().unwrap(),
        test.to_str().unwrap(),
    ]);
    assert!(code != 0 && err.contains("bad.safetensors") && !err.contains("panicked"), "{err}");
}

#[test]
fn too_few_shots_and_unlabelled_training_images_are_named() {
    let (code, _, err) = glimpse(&fewshot_args(&["--shots", "5"]).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(code != 0 && err.contains("5 labelled training images per class") && err.contains("`red blob` has 4"), "{err}");
    let mut args = fewshot_args(&["--shots", "1", "--skip-bad"]);
    let pos = args.iter().position(|a| a == "--train").unwrap();
    args[pos + 1] = fixtures().join("images").display().to_string();
    let (code, _, err) = glimpse(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(code != 0 && err.contains("must say its label"), "{err}");
}

/// Seeds of the `head` fuzz target: a small head of each method.
pub fn head_seeds() -> Vec<Vec<u8>> {
    use glimpse::task::fewshot::Classifier;
    use glimpse::task::fewshot::head::{HeadInfo, to_bytes};
    let info = HeadInfo::new(vec!["cat".into(), "dog".into()], vec!["a photo of a {}".into()], 1, 0, "clip_a".into());
    let tip = CacheModel {
        text: vec![vec![1.0, 0.0], vec![0.0, 1.0]],
        scale: 10.0,
        keys: vec![vec![0.6, 0.8], vec![0.8, 0.6]],
        labels: vec![1, 0],
        alpha: 1.0,
        beta: 5.0,
    };
    let probe = LinearProbe { weight: vec![vec![1.0, 2.0], vec![3.0, 4.0]], bias: vec![0.5, -0.5], c: 10.0 };
    vec![to_bytes(&Classifier::Tip(tip), info.clone()).unwrap(), to_bytes(&Classifier::Linear(probe), info).unwrap()]
}
