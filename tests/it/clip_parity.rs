//! CLIP forward and preprocessing against HF transformers / PIL, on CPU and wgpu.

use burn::tensor::{Tensor, TensorData};
use glimpse::image;
use glimpse::model::clip::{Towers, l2_normalize};
use glimpse::task::embed::{read_rows, read_vec};

use crate::common::*;

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    pollster::block_on(f)
}

#[test]
fn forward_matches_hf_on_cpu_and_wgpu() {
    for (backend, device) in devices() {
        for name in MODELS {
            let what = |s: &str| format!("{name} on {backend}: {s}");
            let refs = references(name);
            let json = reference_json(name);
            let clip = glimpse::load::native::clip(&model_dir(name), &device, Towers::Both).unwrap();

            // Vision tower on HF's own pixel_values.
            let pv = &refs["pixel_values"];
            let pixels = Tensor::<4>::from_data(TensorData::new(pv.data.clone(), pv.shape.clone()), &device);
            let out = clip.model.vision_forward(pixels.clone(), true).unwrap();
            assert_close(
                &what("vision last_hidden_state"),
                &block(read_vec(out.last_hidden_state)).unwrap(),
                &refs["vision_last_hidden_state"].data,
                TOL,
            );
            assert_close(&what("vision pooled"), &block(read_vec(out.pooled)).unwrap(), &refs["vision_pooled"].data, TOL);
            assert_close(
                &what("last-layer attentions"),
                &block(read_vec(out.attentions.last().unwrap().clone())).unwrap(),
                &refs["vision_attentions_last"].data,
                TOL,
            );
            let image_embeds = block(read_rows(clip.model.image_embeds(pixels).unwrap())).unwrap();
            assert_close(&what("image_embeds"), &flat(&image_embeds), &refs["image_embeds"].data, TOL);

            // Text tower through our tokenizer.
            let texts: Vec<String> = json["texts"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect();
            let tok = clip.tokenizer.as_ref().unwrap();
            for (i, t) in texts.iter().enumerate() {
                let hf: Vec<u32> = json["input_ids"][i].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
                let ours = tok.encode(t).unwrap();
                assert_eq!(ours[..], hf[..ours.len()], "ids of {t:?}");
            }
            let text_embeds = block(clip.embed_texts(&texts)).unwrap();
            assert_close(&what("text_embeds"), &flat(&text_embeds), &refs["text_embeds"].data, TOL);

            // logits_per_image = exp(logit_scale) * image_embeds @ text_embeds^T.
            let scale = block(clip.logit_scale()).unwrap();
            let logits: Vec<f32> = image_embeds
                .iter()
                .flat_map(|im| text_embeds.iter().map(move |t| scale * im.iter().zip(t).map(|(a, b)| a * b).sum::<f32>()))
                .collect();
            assert_close(&what("logits_per_image"), &logits, &refs["logits_per_image"].data, TOL);

            // End to end from the image files (4:2:0 and 4:4:4 JPEG, WebP, GIF, RGBA and grey
            // PNG): our decoding + preprocessing give PIL's pixels exactly, so the embeddings too.
            let e = refs["image_embeds"].shape[1];
            for (i, f) in json["images"].as_array().unwrap().iter().enumerate() {
                let f = f.as_str().unwrap();
                let img = image::open(&fixtures().join("images").join(f)).unwrap();
                let got = block(clip.embed_images(&[&img])).unwrap();
                assert_close(&what(&format!("image_embeds from {f}")), &got[0], &refs["image_embeds"].data[i * e..(i + 1) * e], TOL);
            }
        }
    }
}

#[test]
fn preprocessing_matches_pil_pixels() {
    for name in MODELS {
        let refs = references(name);
        let json = reference_json(name);
        let cfg = glimpse::hf::PreprocessConfig::from_file(model_dir(name).join("preprocessor_config.json")).unwrap();
        let raw = &refs["pixels_unnormalized"];
        let per = raw.data.len() / raw.shape[0];
        for (i, f) in json["images"].as_array().unwrap().iter().enumerate() {
            let img = image::open(&fixtures().join("images").join(f.as_str().unwrap())).unwrap();
            let ours = image::resize_and_crop(&img, &cfg);
            let (w, h) = (ours.width() as usize, ours.height() as usize);
            let mut chw = vec![0f32; 3 * h * w];
            for (j, p) in ours.pixels().enumerate() {
                for c in 0..3 {
                    chw[c * h * w + j] = f32::from(p[c]) / 255.0;
                }
            }
            // Exactly PIL's 8-bit levels (the reference is level / 255 in f32).
            let d = max_abs_diff(&chw, &raw.data[i * per..(i + 1) * per]);
            assert!(d <= 1e-7, "{name} {f}: pixels differ from PIL by {}/255", d * 255.0);
        }
        // And the normalised tensor, as HF computes it in f32.
        let pv = &refs["pixel_values"];
        let img = image::open(&fixtures().join("images/portrait.png")).unwrap();
        assert_close(&format!("{name}: normalised pixels"), &image::preprocess(&img, &cfg), &pv.data[..per], 1e-6);
    }
}

#[test]
fn f16_checkpoint_gives_the_f32_results() {
    let device = glimpse::device::init(glimpse::device::Backend::Cpu).unwrap();
    let dir = model_dir("clip_a");
    let tmp = crate::common::tempdir();
    for f in ["config.json", "preprocessor_config.json"] {
        std::fs::copy(dir.join(f), tmp.path().join(f)).unwrap();
    }
    std::fs::copy(dir.join("model_f16.safetensors"), tmp.path().join("model.safetensors")).unwrap();
    let a = glimpse::load::native::clip(&dir, &device, Towers::Both).unwrap();
    let b = glimpse::load::native::clip(tmp.path(), &device, Towers::Both).unwrap();
    let texts = vec!["a photo of a cat".to_string(), "a dog".to_string()];
    let ea = block(a.embed_texts(&texts)).unwrap();
    let eb = block(b.embed_texts(&texts)).unwrap();
    assert_eq!(flat(&ea), flat(&eb), "f16 weights equal the f32 weights they were rounded from");
    let refs = references("clip_a");
    let pv = &refs["pixel_values"];
    let px = Tensor::<4>::from_data(TensorData::new(pv.data.clone(), pv.shape.clone()), &device);
    let ib = block(read_rows(b.model.image_embeds(px).unwrap())).unwrap();
    assert_close("f16 image_embeds", &flat(&ib), &refs["image_embeds"].data, TOL);
}

#[test]
fn vision_only_load_skips_the_text_tower() {
    let device = glimpse::device::init(glimpse::device::Backend::Cpu).unwrap();
    let clip = glimpse::load::native::clip(&model_dir("clip_b"), &device, Towers::Vision).unwrap();
    assert!(clip.model.text_model.is_none() && clip.tokenizer.is_none());
    let err = block(clip.embed_texts(&["x".to_string()])).unwrap_err();
    assert!(err.to_string().contains("without its text tower"), "{err}");
    let x = l2_normalize(Tensor::<2>::from_data(TensorData::new(vec![3.0f32, 4.0], [1, 2]), &device));
    assert_eq!(block(read_vec(x)).unwrap(), vec![0.6, 0.8]);
}

#[test]
fn exif_orientation_is_applied() {
    // Stored 60x40 with orientation 6: shown (and fed to the model) as 40x60.
    let img = image::open(&fixtures().join("images/exif_rotated.jpg")).unwrap();
    assert_eq!((img.width(), img.height()), (40, 60));
}
