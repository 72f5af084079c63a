//! What the commands share: device selection, image discovery and decoding, JSON output.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::device;
use crate::error::{Error, Result};
use crate::image;
use crate::task::embed::{Clip, IMAGE_BATCH};

/// `--backend`.
#[derive(Args, Debug, Clone)]
pub struct DeviceArgs {
    /// Compute backend: cpu, wgpu, or auto (wgpu when a hardware GPU adapter exists, else cpu).
    #[arg(long, default_value = "auto")]
    pub backend: String,
}

impl DeviceArgs {
    /// Resolves `auto` and initialises the device.
    pub fn device(&self) -> Result<burn::tensor::Device> {
        device::init_named(&self.backend)
    }
}

/// What `classify` and `fewshot` share about their predictions.
#[derive(Args, Debug, Clone)]
pub struct PredictArgs {
    /// How many labels to list under "top" per image.
    #[arg(long, default_value_t = 5)]
    pub top_k: usize,
    /// Skip images that cannot be decoded (with a warning) instead of stopping.
    #[arg(long)]
    pub skip_bad: bool,
}

/// File extensions picked up when a folder is given.
pub const IMAGE_EXTENSIONS: [&str; 5] = ["png", "jpg", "jpeg", "webp", "gif"];

fn is_image_name(p: &Path) -> bool {
    p.extension().and_then(|e| e.to_str()).is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// What a folder walk has seen: real (canonical) folders and files, so that a symlink loop or
/// two links to one file do not visit anything twice.
#[derive(Default)]
struct Seen {
    dirs: HashSet<PathBuf>,
    files: HashSet<PathBuf>,
}

fn walk(dir: &Path, seen: &mut Seen, out: &mut Vec<PathBuf>) -> Result<()> {
    let real = std::fs::canonicalize(dir).map_err(|e| Error::io(dir, e))?;
    if !seen.dirs.insert(real) {
        eprintln!("warning: {}: already visited (a symbolic link loop or a second link), skipped", dir.display());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .map(|e| e.map(|e| e.path()).map_err(|err| Error::io(dir, err)))
        .collect::<Result<_>>()?;
    entries.sort();
    for p in entries {
        // metadata() follows links; a dangling link or an unreadable entry is skipped with a warning.
        let meta = match std::fs::metadata(&p) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("warning: {}: {e}, skipped", p.display());
                continue;
            }
        };
        if meta.is_dir() {
            walk(&p, seen, out)?;
        } else if is_image_name(&p) {
            if !meta.is_file() {
                eprintln!("warning: {}: not a regular file (a pipe, socket or device), skipped", p.display());
            } else if std::fs::canonicalize(&p).is_ok_and(|r| seen.files.insert(r)) {
                out.push(p);
            }
        }
    }
    Ok(())
}

/// Expands the PATH arguments: files as given (whatever their extension), folders recursively
/// (image extensions only, sorted), each real file once; pipes and devices inside folders are
/// skipped with a warning (named directly, they are refused when opened).
pub fn image_paths(args: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut seen = Seen::default();
    for a in args {
        if a.is_dir() {
            let before = out.len();
            walk(a, &mut seen, &mut out)?;
            if out.len() == before {
                return Err(Error::usage(format!("{}: no images (png, jpg, webp, gif) in this folder", a.display())));
            }
        } else if a.exists() {
            out.push(a.clone());
        } else {
            return Err(Error::NotFound(format!("{}: no such file or folder", a.display())));
        }
    }
    Ok(out)
}

/// A progress bar on stderr for more than a few items (hidden when stderr is not a terminal).
pub fn progress(len: usize, what: &str) -> ProgressBar {
    if len <= 4 {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {per_sec} eta {eta}").expect("valid template").progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

/// Decodes and embeds images in batches with a progress bar: the files kept and their
/// normalised embeddings. With `skip_bad` an image that cannot be decoded is skipped with a
/// warning; without, it stops everything.
pub fn embed_images(clip: &Clip, paths: &[PathBuf], skip_bad: bool, what: &str) -> Result<(Vec<PathBuf>, Vec<Vec<f32>>)> {
    let bar = progress(paths.len(), what);
    let mut kept = Vec::with_capacity(paths.len());
    let mut embeds = Vec::with_capacity(paths.len());
    for chunk in paths.chunks(IMAGE_BATCH) {
        let mut imgs = Vec::with_capacity(chunk.len());
        for p in chunk {
            match image::open(p) {
                Ok(img) => {
                    imgs.push(img);
                    kept.push(p.clone());
                }
                Err(e) if skip_bad => bar.suspend(|| eprintln!("warning: skipped {e}")),
                Err(e) => return Err(e),
            }
        }
        let refs: Vec<_> = imgs.iter().collect();
        embeds.extend(pollster::block_on(clip.embed_images(&refs))?);
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    Ok((kept, embeds))
}

/// Prints a JSON value on stdout.
pub fn print_json(v: &serde_json::Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v).map_err(|e| Error::Internal(e.to_string()))?);
    Ok(())
}

/// Image paths as the JSON reports name them.
pub fn names(paths: &[PathBuf]) -> Vec<String> {
    paths.iter().map(|p| p.display().to_string()).collect()
}
