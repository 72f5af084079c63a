//! Bad input: each case gives a clear message and a non-zero exit, never a panic.

use std::path::Path;

use crate::cli::glimpse;
use crate::common::*;

#[track_caller]
fn fails_with(args: &[&str], needles: &[&str]) {
    let (code, _out, err) = glimpse(args);
    assert_ne!(code, 0, "glimpse {args:?} should fail");
    assert_ne!(code, 101, "glimpse {args:?} panicked: {err}");
    assert!(!err.contains("panicked"), "glimpse {args:?} panicked: {err}");
    for n in needles {
        assert!(err.contains(n), "glimpse {args:?}: message lacks {n:?}: {err}");
    }
}

fn classify_one(image: &Path) -> Vec<String> {
    let dir = model_dir("clip_a");
    let labels = fixtures().join("zeroshot/id2label.json");
    ["classify", "--backend", "cpu", "--model", dir.to_str().unwrap(), "--labels", labels.to_str().unwrap(), image.to_str().unwrap()]
        .map(String::from)
        .to_vec()
}

fn run_strs(args: &[String], needles: &[&str]) {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    fails_with(&a, needles);
}

#[test]
fn bad_images() {
    let tmp = crate::common::tempdir();
    let images = fixtures().join("images");
    // Not an image at all.
    let p = images.join("not_an_image.png");
    run_strs(&classify_one(&p), &["not_an_image.png", "not a recognised image"]);
    // Zero bytes.
    let empty = tmp.path().join("empty.jpg");
    std::fs::write(&empty, b"").unwrap();
    run_strs(&classify_one(&empty), &["empty.jpg", "empty file"]);
    // Truncated JPEG.
    let jpg = std::fs::read(images.join("landscape.jpg")).unwrap();
    let cut = tmp.path().join("cut.jpg");
    std::fs::write(&cut, &jpg[..jpg.len() / 2]).unwrap();
    run_strs(&classify_one(&cut), &["cut.jpg", "truncated"]);
    // A 20000x20000 header: refused from the header, before any pixel buffer exists.
    let huge = images.join("huge_header.png");
    run_strs(&classify_one(&huge), &["huge_header.png", "20000x20000", "limit"]);
    // The library refuses it the same way.
    let e = glimpse::image::decode(&std::fs::read(&huge).unwrap(), "huge").unwrap_err();
    assert!(e.to_string().contains("20000x20000"), "{e}");
}

/// Copies clip_a into a temp folder with its checkpoint rewritten by `edit`.
fn edited_model(edit: impl FnOnce(&mut Vec<(String, safetensors::tensor::Dtype, Vec<usize>, Vec<u8>)>)) -> crate::common::TempDir {
    let src = model_dir("clip_a");
    let tmp = crate::common::tempdir();
    for f in ["config.json", "preprocessor_config.json"] {
        std::fs::copy(src.join(f), tmp.path().join(f)).unwrap();
    }
    let bytes = std::fs::read(src.join("model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<_> = st.tensors().into_iter().map(|(k, v)| (k, v.dtype(), v.shape().to_vec(), v.data().to_vec())).collect();
    edit(&mut tensors);
    let views: Vec<(String, safetensors::tensor::TensorView)> =
        tensors.iter().map(|(k, d, s, b)| (k.clone(), safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap())).collect();
    safetensors::serialize_to_file(views, None, &tmp.path().join("model.safetensors")).unwrap();
    tmp
}

fn classify_with(model: &Path) -> Vec<String> {
    let labels = fixtures().join("zeroshot/id2label.json");
    let img = fixtures().join("zeroshot/0_0.png");
    ["classify", "--backend", "cpu", "--model", model.to_str().unwrap(), "--labels", labels.to_str().unwrap(), img.to_str().unwrap()]
        .map(String::from)
        .to_vec()
}

#[test]
fn bad_checkpoints() {
    // Wrong shape: the key, expected and found shapes are named.
    let m = edited_model(|t| {
        let e = t.iter_mut().find(|e| e.0 == "visual_projection.weight").unwrap();
        e.2 = vec![e.2[1], e.2[0]];
    });
    run_strs(&classify_with(m.path()), &["visual_projection.weight", "has shape [32, 16], expected [16, 32]"]);
    // Missing tensors: each is listed.
    let m = edited_model(|t| t.retain(|e| e.0 != "text_projection.weight" && e.0 != "vision_model.post_layernorm.bias"));
    run_strs(
        &classify_with(m.path()),
        &["2 problems", "missing tensor `text_projection.weight`", "missing tensor `vision_model.post_layernorm.bias`"],
    );
    // Corrupt header.
    let m = edited_model(|_| {});
    let f = m.path().join("model.safetensors");
    let mut bytes = std::fs::read(&f).unwrap();
    bytes[8..40].copy_from_slice(&[b'#'; 32]);
    std::fs::write(&f, &bytes).unwrap();
    run_strs(&classify_with(m.path()), &["model.safetensors", "not a valid safetensors file", "header"]);
    // Truncated file.
    let m = edited_model(|_| {});
    let f = m.path().join("model.safetensors");
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() / 3]).unwrap();
    run_strs(&classify_with(m.path()), &["truncated"]);
    // No checkpoint at all.
    let m = edited_model(|_| {});
    std::fs::remove_file(m.path().join("model.safetensors")).unwrap();
    run_strs(&classify_with(m.path()), &["no weights found", "model.safetensors", "pytorch_model.bin"]);
}

#[test]
fn bad_labels_and_templates() {
    let dir = model_dir("clip_a");
    let img = fixtures().join("zeroshot/0_0.png");
    let tmp = crate::common::tempdir();
    let empty = tmp.path().join("labels.txt");
    std::fs::write(&empty, "\n\n").unwrap();
    fails_with(
        &["classify", "--backend", "cpu", "--model", dir.to_str().unwrap(), "--labels", empty.to_str().unwrap(), img.to_str().unwrap()],
        &["labels.txt", "no labels"],
    );
    let labels = fixtures().join("zeroshot/id2label.json");
    fails_with(
        &[
            "classify",
            "--backend",
            "cpu",
            "--model",
            dir.to_str().unwrap(),
            "--labels",
            labels.to_str().unwrap(),
            "--template",
            "a photo",
            img.to_str().unwrap(),
        ],
        &["a photo", "no `{}` slot"],
    );
    fails_with(
        &["classify", "--model", "/nonexistent/model", "--labels", labels.to_str().unwrap(), img.to_str().unwrap()],
        &["model folder not found"],
    );
    fails_with(&["embed", "--model", dir.to_str().unwrap()], &["nothing to embed"]);
}

fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dst.join(e.file_name())).unwrap();
    }
}

#[test]
fn bad_caption_inputs() {
    let f = fixtures();
    let img = f.join("images/portrait.png");
    let img = img.to_str().unwrap();
    let peft_b = f.join("peft_b");
    let run = |extra: &[&str], needles: &[&str]| {
        let args = crate::caption_parity::caption_args(&f, extra);
        run_strs(&args, needles);
    };
    // A PEFT checkpoint made for another encoder/decoder pair.
    run(
        &["--peft", peft_b.to_str().unwrap(), img],
        &["does not fit", "h.0.crossattention.c_attn.weight", "enc_to_dec_proj.weight` is not used"],
    );
    // Unknown method.
    let tmp = crate::common::tempdir();
    let unknown = tmp.path().join("unknown");
    copy_dir(&peft_b, &unknown);
    std::fs::write(unknown.join("adapter_config.json"), r#"{"peft_type": "IA3"}"#).unwrap();
    run(&["--peft", unknown.to_str().unwrap(), img], &["adapter_config.json", "unknown PEFT method `IA3`"]);
    // Missing tensors.
    let missing = tmp.path().join("missing");
    copy_dir(&peft_b, &missing);
    let bytes = std::fs::read(peft_b.join("adapter_model.safetensors")).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let kept: Vec<(String, safetensors::tensor::TensorView)> =
        st.tensors().into_iter().filter(|(k, _)| k != "decoder.transformer.h.1.crossattention.q_attn.weight").collect();
    safetensors::serialize_to_file(kept, None, &missing.join("adapter_model.safetensors")).unwrap();
    let (clip_b, plain) = (f.join("clip_b"), f.join("gpt2_plain"));
    let (clip_b, plain) = (clip_b.to_str().unwrap(), plain.to_str().unwrap());
    let args = ["caption", "--backend", "cpu", "--encoder", clip_b, "--decoder", plain, "--peft", missing.to_str().unwrap(), img];
    fails_with(&args, &["missing tensor `h.1.crossattention.q_attn.weight`"]);
    // No cross-attention anywhere: a plain GPT-2 without a PEFT checkpoint.
    let args = ["caption", "--backend", "cpu", "--encoder", clip_b, "--decoder", plain, img];
    fails_with(&args, &["missing tensor `h.0.crossattention"]);
    // Beam width 0, and more tokens than the position table holds.
    run(&["--beams", "0", img], &["beam", "at least 1"]);
    run(&["--max-tokens", "100", img], &["max tokens 100", "48 positions"]);
    // Values that used to overflow the check or abort on allocation.
    run(&["--max-tokens", "18446744073709551615", img], &["max tokens 18446744073709551615", "48 positions"]);
    run(&["--beams", "1000000000000", img], &["beam width 1000000000000", "limit of 64"]);
}

/// A tensor larger than the GPU's largest buffer is refused by name when it arrives (lavapipe:
/// 128 MiB), not by an allocation failure deep in the GPU runtime; the CPU has no such limit.
#[test]
fn tensor_larger_than_the_gpu_buffer() {
    use glimpse::device::max_tensor_bytes;
    use glimpse::error::Error;
    use glimpse::hf::weights::Weights;
    for (backend, device) in devices() {
        let Some(limit) = max_tensor_bytes(&device) else {
            assert_eq!(backend, glimpse::device::Backend::Cpu, "a GPU device states its buffer limit");
            continue;
        };
        if limit > 512 << 20 {
            eprintln!("skipped: this GPU's buffers hold {limit} bytes (the test allocates one more f32)");
            continue;
        }
        let n = (limit / 4 + 1) as usize;
        let mut w = Weights::new(&device);
        w.set_source("big.safetensors");
        let err = w.insert("decoder.transformer.wte.weight", safetensors::tensor::Dtype::F32, &[n], vec![0; n * 4]).unwrap_err();
        assert!(matches!(err, Error::TensorTooLarge { .. }), "{err}");
        let msg = err.to_string();
        for needle in ["big.safetensors", "decoder.transformer.wte.weight", "largest buffer", "--backend cpu"] {
            assert!(msg.contains(needle), "message lacks {needle:?}: {msg}");
        }
    }
}

/// Folder walks visit each real file once (a symlink loop no longer repeats files and skews the
/// accuracy), skip pipes and devices with a warning instead of blocking on them, and a pipe or
/// device named directly is refused, not read forever.
#[cfg(unix)]
#[test]
fn folder_walks_and_special_files() {
    let tmp = crate::common::tempdir();
    let dir = tmp.path().join("photos");
    std::fs::create_dir(&dir).unwrap();
    for f in ["0_0.png", "1_0.png"] {
        std::fs::copy(fixtures().join("zeroshot").join(f), dir.join(f)).unwrap();
    }
    std::os::unix::fs::symlink(&dir, dir.join("loop")).unwrap();
    std::os::unix::fs::symlink(dir.join("0_0.png"), dir.join("again.png")).unwrap();
    assert!(std::process::Command::new("mkfifo").arg(dir.join("fifo.png")).status().unwrap().success());
    let (code, out, err) = glimpse(&classify_one(&dir).iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["predictions"].as_array().unwrap().len(), 2, "each real file once: {out}");
    assert!(err.contains("fifo.png") && err.contains("not a regular file"), "{err}");
    assert!(err.contains("loop") && err.contains("already visited"), "{err}");
    // Named directly: refused at once.
    run_strs(&classify_one(&dir.join("fifo.png")), &["fifo.png", "not a regular file"]);
    run_strs(&classify_one(Path::new("/dev/zero")), &["/dev/zero", "not a regular file"]);
}
