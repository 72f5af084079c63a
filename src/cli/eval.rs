//! `glimpse eval`: CIDEr-D and CLIPScore of a DLCV prediction file.

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::common::{DeviceArgs, print_json, progress};
use crate::data::read_coco;
use crate::error::{Error, Result};
use crate::image;
use crate::model::clip::Towers;
use crate::task::embed::IMAGE_BATCH;
use crate::task::metrics::{CLIPSCORE_PREFIX, cider_d, clip_scores};

/// Arguments of `eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Predictions: {"<image file stem>": "caption", ...}.
    #[arg(long)]
    pub pred: PathBuf,
    /// References: COCO-style caption JSON (images + annotations).
    #[arg(long)]
    pub refs: PathBuf,
    /// Image folder (for CLIPScore).
    #[arg(long, requires = "clip")]
    pub images: Option<PathBuf>,
    /// CLIP model folder (for CLIPScore; ViT-B/32 as in Hessel et al.).
    #[arg(long, requires = "images")]
    pub clip: Option<PathBuf>,
    /// Text put before each caption for CLIPScore ("" for the course variant).
    #[arg(long, default_value = CLIPSCORE_PREFIX)]
    pub clipscore_prefix: String,
    #[command(flatten)]
    pub device: DeviceArgs,
}

/// Runs `eval`.
pub fn run(a: EvalArgs) -> Result<()> {
    let text = std::fs::read_to_string(&a.pred).map_err(|e| Error::io(&a.pred, e))?;
    let pred: BTreeMap<String, String> = serde_json::from_str(&text)
        .map_err(|e| Error::config(a.pred.display().to_string(), format!("expected {{\"<image stem>\": \"caption\"}}: {e}")))?;
    let refs = read_coco(&a.refs)?;
    let by_stem: BTreeMap<&str, &crate::data::CaptionedImage> = refs.iter().map(|r| (r.stem(), r)).collect();
    let mut cands = Vec::new();
    let mut gts = Vec::new();
    let mut files = Vec::new();
    for (stem, caption) in &pred {
        let r = by_stem.get(stem.as_str()).ok_or_else(|| {
            Error::usage(format!("{}: prediction for `{stem}`, which has no image in {}", a.pred.display(), a.refs.display()))
        })?;
        if r.captions.is_empty() {
            return Err(Error::usage(format!("{}: image `{stem}` has no reference captions", a.refs.display())));
        }
        cands.push(caption.clone());
        gts.push(r.captions.clone());
        files.push(r.file_name.clone());
    }
    if cands.is_empty() {
        return Err(Error::usage(format!("{}: no predictions", a.pred.display())));
    }
    let missing = refs.len() - cands.len();
    if missing > 0 {
        eprintln!("warning: {missing} of {} reference images have no prediction; scoring the {} that do", refs.len(), cands.len());
    }
    let cider = cider_d(&cands, &gts);
    let clipscore = match (&a.images, &a.clip) {
        (Some(dir), Some(clip_dir)) => {
            let device = a.device.device()?;
            let clip = crate::load::native::clip(clip_dir, &device, Towers::Both)?;
            let bar = progress(files.len(), "CLIPScore");
            let mut scores = Vec::with_capacity(files.len());
            for (fs, cs) in files.chunks(IMAGE_BATCH).zip(cands.chunks(IMAGE_BATCH)) {
                let imgs = fs.iter().map(|f| image::open(&dir.join(f))).collect::<Result<Vec<_>>>()?;
                let refs: Vec<_> = imgs.iter().collect();
                scores.extend(pollster::block_on(clip_scores(&clip, &refs, cs, &a.clipscore_prefix))?);
                bar.inc(fs.len() as u64);
            }
            bar.finish_and_clear();
            Some(scores.iter().sum::<f64>() / scores.len() as f64)
        }
        _ => None,
    };
    print_json(&json!({ "CIDEr": cider.score, "CLIPScore": clipscore }))
}
