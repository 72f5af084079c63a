//! Published captioners: HF `VisionEncoderDecoderModel` checkpoints (ViT + GPT-2; CLIP vision +
//! GPT-2 with `enc_to_dec_proj`), from `model.safetensors` and from `pytorch_model.bin`, against
//! HF (encoder states, logits, cross-attention, greedy and beam `generate`) on CPU and wgpu; their
//! image processors against HF's pixels; `caption --model`; a pickle that tries to run code.

use burn::tensor::Device;
use glimpse::load::native::folders as files;

use crate::caption_parity::check_captioner;
use crate::common::*;

fn pretrained(dir: &str, device: &Device) -> glimpse::model::captioner::Captioner {
    files::load_pretrained(&fixtures().join(dir), None, device).unwrap().0
}

#[test]
fn vit_gpt2_matches_hf_from_safetensors_and_pickle() {
    check_captioner("ved_vit", "ved_vit", &|d| pretrained("ved_vit", d));
    check_captioner("ved_vit", "ved_vit", &|d| pretrained("ved_vit_bin", d));
}

#[test]
fn clip_gpt2_with_projection_matches_hf_from_safetensors_and_pickle() {
    check_captioner("ved_clip", "ved_clip", &|d| pretrained("ved_clip", d));
    check_captioner("ved_clip", "ved_clip", &|d| pretrained("ved_clip_bin", d));
}

#[test]
fn image_processors_give_hf_pixels() {
    let device = Device::flex();
    for name in ["ved_vit", "ved_clip"] {
        let (_, config) = files::load_pretrained(&fixtures().join(name), None, &device).unwrap();
        let want = &references(name)["pixel_values"];
        let per = want.data.len() / want.shape[0];
        for (i, img) in ["images/portrait.png", "images/alpha.png"].iter().enumerate() {
            let img = glimpse::image::open(&fixtures().join(img)).unwrap();
            let got = glimpse::image::preprocess(&img, &config.preprocess);
            assert_close(&format!("{name} pixels of image {i}"), &got, &want.data[i * per..(i + 1) * per], 1e-5);
        }
    }
}

#[test]
fn generation_config_sets_cli_defaults() {
    let device = Device::flex();
    let (_, config) = files::load_pretrained(&fixtures().join("ved_vit"), None, &device).unwrap();
    assert_eq!(config.generation.num_beams, Some(3));
    assert_eq!(config.generation.max_length, Some(9));
    assert_eq!((config.start_token, config.eos_token), (50256, 50256));
}

#[test]
fn a_pickle_that_runs_code_is_refused() {
    let _ = std::fs::remove_file("/tmp/glimpse-pickle-ran");
    let err = match files::load_pretrained(&fixtures().join("evil_pickle"), None, &Device::flex()) {
        Ok(_) => panic!("the malicious pickle was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("pytorch_model.bin") && err.contains("system") && err.contains("not executed"), "{err}");
    assert!(!std::path::Path::new("/tmp/glimpse-pickle-ran").exists(), "the payload ran");
}

#[test]
fn caption_model_cli_uses_the_checkpoint_and_its_generation_config() {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("ved_vit/reference.json")).unwrap()).unwrap();
    let dir = fixtures().join("ved_vit_bin");
    let img = fixtures().join("images/portrait.png");
    // --beams 3 --max-tokens 12: HF's beam3 sequence of image 0.
    let tmp = tempdir();
    let file = tmp.path().join("details.json");
    let (code, _, err) = crate::cli::glimpse(&[
        "caption",
        "--backend",
        "cpu",
        "--model",
        dir.to_str().unwrap(),
        "--beams",
        "3",
        "--max-tokens",
        "12",
        "--details",
        file.to_str().unwrap(),
        img.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let details: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(details["portrait"]["tokens"], json["sequences"]["beam3"][0]);
    // Without flags the checkpoint's generation_config.json applies (3 beams, max_length 9).
    let (code, _, err) = crate::cli::glimpse(&["caption", "--backend", "cpu", "--model", dir.to_str().unwrap(), img.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    // The malicious pickle: a clear message and a non-zero exit.
    let evil = fixtures().join("evil_pickle");
    let (code, _, err) = crate::cli::glimpse(&["caption", "--backend", "cpu", "--model", evil.to_str().unwrap(), img.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("posix.system") || err.contains("os.system") || err.contains("system"), "{err}");
}

/// A composite config whose start token lies outside the decoder's vocabulary is refused when
/// read (the CPU backend would panic on the lookup; a GPU would read garbage).
#[test]
fn a_start_token_outside_the_vocabulary_is_refused() {
    let text = std::fs::read_to_string(fixtures().join("ved_vit/config.json")).unwrap();
    let mut config: serde_json::Value = serde_json::from_str(&text).unwrap();
    config["decoder_start_token_id"] = 60000.into();
    let err =
        glimpse::hf::encoder_decoder::EncoderDecoderConfig::from_json_str(&config.to_string(), "ved/config.json").unwrap_err().to_string();
    for needle in ["ved/config.json", "`decoder_start_token_id` is 60000", "50257"] {
        assert!(err.contains(needle), "message lacks {needle:?}: {err}");
    }
}
