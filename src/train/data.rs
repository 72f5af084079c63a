//! The training data: (image, caption) examples from a COCO / DLCV p2 caption file, the seed
//! report's caption cleaning, train-time augmentation, and a background loader that decodes and
//! augments the next batches on worker threads while the device computes.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, sync_channel};

use image::RgbImage;

use super::rng::Rng;
use crate::data::read_coco;
use crate::error::{Error, Result};
use crate::hf::PreprocessConfig;
use crate::tokenize::Gpt2Tokenizer;

/// One caption of one image.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// Index of the image in [`Dataset::images`].
    pub image: usize,
    /// Caption tokens (no start/stop token).
    pub tokens: Vec<u32>,
}

/// A caption dataset.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Image files.
    pub images: Vec<PathBuf>,
    /// Reference captions per image (cleaned).
    pub captions: Vec<Vec<String>>,
    /// Every caption as a training example.
    pub examples: Vec<Example>,
}

/// The seed report's cleaning: newlines become spaces, runs of spaces collapse, no space before a
/// full stop, surrounding spaces trimmed.
pub fn clean_caption(s: &str) -> String {
    let one_line = s.replace(['\n', '\r'], " ");
    let mut out = one_line.split_whitespace().collect::<Vec<_>>().join(" ");
    while out.contains(" .") {
        out = out.replace(" .", ".");
    }
    out.trim().to_string()
}

impl Dataset {
    /// Reads a caption file and checks that every image it names exists in `images`.
    pub fn load(captions: &Path, images: &Path, tok: &Gpt2Tokenizer, max_tokens: usize) -> Result<Self> {
        let coco = read_coco(captions)?;
        if !images.is_dir() {
            return Err(Error::NotFound(format!("{}: image folder not found", images.display())));
        }
        let mut ds = Dataset { images: vec![], captions: vec![], examples: vec![] };
        for im in coco {
            let path = images.join(&im.file_name);
            if !path.is_file() {
                return Err(Error::NotFound(format!(
                    "{}: image `{}` (id {}) is named in {} but missing",
                    images.display(),
                    im.file_name,
                    im.id,
                    captions.display()
                )));
            }
            let idx = ds.images.len();
            let cleaned: Vec<String> = im.captions.iter().map(|c| clean_caption(c)).collect();
            for c in &cleaned {
                let mut tokens = tok.encode(c)?;
                tokens.truncate(max_tokens);
                if !tokens.is_empty() {
                    ds.examples.push(Example { image: idx, tokens });
                }
            }
            ds.images.push(path);
            ds.captions.push(cleaned);
        }
        if ds.examples.is_empty() {
            return Err(Error::usage(format!("{}: no captions to train on", captions.display())));
        }
        Ok(ds)
    }
}

/// Colour jitter (brightness, contrast, saturation, each by a factor in [1 - 0.2, 1 + 0.2]), a
/// horizontal flip with probability 1/2 and a rotation in [-15, 15] degrees (bilinear, black
/// corners), as the seed report's torchvision pipeline.
pub fn augment(img: &RgbImage, rng: &mut Rng) -> RgbImage {
    let (w, h) = img.dimensions();
    let b = rng.range(0.8, 1.2) as f32;
    let c = rng.range(0.8, 1.2) as f32;
    let s = rng.range(0.8, 1.2) as f32;
    let flip = rng.unit() < 0.5;
    let angle = rng.range(-15.0, 15.0).to_radians() as f32;
    let gray = |p: [f32; 3]| 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
    let mean = img.pixels().map(|p| gray([p[0] as f32, p[1] as f32, p[2] as f32])).sum::<f32>() / (w * h).max(1) as f32 * b;
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    let (sin, cos) = angle.sin_cos();
    let sample = |x: f32, y: f32| -> Option<[f32; 3]> {
        if x < 0.0 || y < 0.0 || x > (w - 1) as f32 || y > (h - 1) as f32 {
            return None;
        }
        let (x0, y0) = (x.floor() as u32, y.floor() as u32);
        let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
        let (ax, ay) = (x - x0 as f32, y - y0 as f32);
        let p = |xx, yy| img.get_pixel(xx, yy).0.map(f32::from);
        let (a, bq, cq, d) = (p(x0, y0), p(x1, y0), p(x0, y1), p(x1, y1));
        Some([0, 1, 2].map(|i| (a[i] * (1.0 - ax) + bq[i] * ax) * (1.0 - ay) + (cq[i] * (1.0 - ax) + d[i] * ax) * ay))
    };
    RgbImage::from_fn(w, h, |x, y| {
        let xf = if flip { (w - 1 - x) as f32 } else { x as f32 };
        let (dx, dy) = (xf - cx, y as f32 - cy);
        let (sx, sy) = (cos * dx + sin * dy + cx, -sin * dx + cos * dy + cy);
        match sample(sx, sy) {
            None => image::Rgb([0, 0, 0]),
            Some(p) => {
                let p = p.map(|v| v * b);
                let p = p.map(|v| (v - mean) * c + mean);
                let g = gray(p);
                image::Rgb(p.map(|v| ((v - g) * s + g).clamp(0.0, 255.0).round() as u8))
            }
        }
    })
}

/// One batch ready for the device.
pub struct Batch {
    /// Normalised pixels `[b, 3, s, s]`, flattened (empty when the encoder cache serves them).
    pub pixels: Vec<f32>,
    /// Image index of each row.
    pub images: Vec<usize>,
    /// Caption tokens of each row.
    pub tokens: Vec<Vec<u32>>,
}

/// Starts worker threads that produce `batches` (lists of example indices) in order, decoding,
/// augmenting (seeded by `seed`, `epoch` and the example index) and preprocessing their images.
/// With `pixels = false` only the tokens are prepared (the encoder cache has the images).
pub fn spawn_loader(
    ds: &Dataset,
    batches: Vec<Vec<usize>>,
    pre: &PreprocessConfig,
    augment_images: bool,
    pixels: bool,
    seed: u64,
    epoch: u64,
    workers: usize,
) -> Receiver<Result<Batch>> {
    let (tx, rx) = sync_channel(4);
    let ds = ds.clone();
    let pre = pre.clone();
    std::thread::spawn(move || {
        let load = |i: usize| -> Result<Vec<f32>> {
            let ex = &ds.examples[i];
            let img = crate::image::open(&ds.images[ex.image])?;
            let img = if augment_images { augment(&img, &mut Rng::new(&[seed, epoch, i as u64])) } else { img };
            Ok(crate::image::preprocess(&img, &pre))
        };
        let pool = workers.max(1);
        for batch in batches {
            let rows: Vec<Result<Vec<f32>>> = if !pixels {
                vec![]
            } else if pool == 1 || batch.len() == 1 {
                batch.iter().map(|&i| load(i)).collect()
            } else {
                std::thread::scope(|s| {
                    let handles: Vec<_> = batch
                        .chunks(batch.len().div_ceil(pool))
                        .map(|c| s.spawn(|| c.iter().map(|&i| load(i)).collect::<Vec<_>>()))
                        .collect();
                    handles
                        .into_iter()
                        .flat_map(|h| h.join().unwrap_or_else(|_| vec![Err(Error::Internal(String::from("image worker panicked")))]))
                        .collect()
                })
            };
            let out = rows.into_iter().collect::<Result<Vec<_>>>().map(|r| Batch {
                pixels: r.concat(),
                images: batch.iter().map(|&i| ds.examples[i].image).collect(),
                tokens: batch.iter().map(|&i| ds.examples[i].tokens.clone()).collect(),
            });
            let stop = out.is_err();
            if tx.send(out).is_err() || stop {
                return;
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning() {
        assert_eq!(clean_caption(" A dog\nrunning  on grass . "), "A dog running on grass.");
    }

    #[test]
    fn augmentation_is_seeded_and_keeps_size() {
        let img = RgbImage::from_fn(20, 10, |x, y| image::Rgb([x as u8 * 10, y as u8 * 20, 128]));
        let a = augment(&img, &mut Rng::new(&[1, 2, 3]));
        let b = augment(&img, &mut Rng::new(&[1, 2, 3]));
        assert_eq!(a, b);
        assert_eq!(a.dimensions(), (20, 10));
        assert_ne!(a, augment(&img, &mut Rng::new(&[1, 2, 4])));
    }
}
