//! Checkpoints: a PEFT folder (`adapter_config.json` + `adapter_model.safetensors`, loadable by
//! `glimpse caption --peft`) plus the trainer's progress (`trainer_state.json`) and the optimiser
//! state (`optimizer.bin`, burn's optimiser record). Written to a temporary folder and renamed into place, so a crash
//! never leaves a broken checkpoint.

use std::path::{Path, PathBuf};

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::captioner::{Captioner, CaptionerConfig};
use crate::model::peft::checkpoint::trained_key;

/// Where a run stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Epoch in progress (0-based).
    pub epoch: usize,
    /// Forward passes done in that epoch.
    pub micro_in_epoch: usize,
    /// Optimiser steps done in total.
    pub step: usize,
    /// Best validation CIDEr-D so far.
    pub best_cider: Option<f64>,
    /// The PEFT method (`peft_type`), checked on resume.
    pub method: String,
    /// The seed, checked on resume.
    pub seed: u64,
}

struct Collect {
    path: Vec<String>,
    out: Vec<(String, Vec<usize>, Vec<f32>)>,
}

impl ModuleVisitor for Collect {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let Some((key, transpose)) = trained_key(&self.path.join(".")) else {
            return;
        };
        let mut t = param.val();
        if transpose && D == 2 {
            t = t.transpose();
        }
        let shape = t.dims().to_vec();
        let data = t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap_or_default();
        self.out.push((key, shape, data));
    }
}

/// The trained tensors of `model` under their checkpoint keys.
pub fn trained_tensors(model: &Captioner) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let mut c = Collect { path: vec![], out: vec![] };
    model.visit(&mut c);
    c.out
}

fn io<T>(path: &Path, r: std::io::Result<T>) -> Result<T> {
    r.map_err(|e| Error::io(path, e))
}

/// Writes the PEFT folder files into `dir` (which must exist).
pub fn write_peft(dir: &Path, model: &Captioner, config: &CaptionerConfig) -> Result<()> {
    let peft = config.peft.as_ref().ok_or_else(|| Error::usage("no PEFT method configured"))?;
    let json = peft.to_json(config.encoder.vision.tower.hidden_size, config.gpt2.n_embd, config.gpt2.n_layer);
    let p = dir.join("adapter_config.json");
    io(&p, std::fs::write(&p, serde_json::to_string_pretty(&json).unwrap_or_default()))?;
    let tensors = trained_tensors(model);
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> =
        tensors.into_iter().map(|(k, s, d)| (k, s, d.iter().flat_map(|v| v.to_le_bytes()).collect())).collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = bytes
        .iter()
        .map(|(k, s, b)| {
            Ok((
                k.clone(),
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b).map_err(|e| Error::Internal(e.to_string()))?,
            ))
        })
        .collect::<Result<_>>()?;
    let p = dir.join("adapter_model.safetensors");
    let meta = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors::serialize_to_file(views, Some(meta), &p).map_err(|e| match e {
        safetensors::SafeTensorError::IoError(e) => Error::io(&p, e),
        other => Error::Internal(format!("{}: cannot write the trained tensors: {other}", p.display())),
    })
}

/// Atomically replaces checkpoint folder `dir` with one holding `model`, `state` and (for
/// resuming) the optimiser. Every write error (a full disk) is an [`Error::Io`] naming its file;
/// the staging folder is then removed again, and `dir` is left as it was.
pub fn save(dir: &Path, model: &Captioner, config: &CaptionerConfig, state: &TrainerState, optimizer: Option<&[u8]>) -> Result<()> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    io(parent, std::fs::create_dir_all(parent))?;
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("checkpoint");
    let tmp = parent.join(format!(".{name}.tmp"));
    if tmp.exists() {
        io(&tmp, std::fs::remove_dir_all(&tmp))?;
    }
    io(&tmp, std::fs::create_dir_all(&tmp))?;
    if let Err(e) = stage(&tmp, model, config, state, optimizer) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    let old = parent.join(format!(".{name}.old"));
    if dir.exists() {
        if old.exists() {
            io(&old, std::fs::remove_dir_all(&old))?;
        }
        io(dir, std::fs::rename(dir, &old))?;
    }
    io(dir, std::fs::rename(&tmp, dir))?;
    if old.exists() {
        io(&old, std::fs::remove_dir_all(&old))?;
    }
    Ok(())
}

/// Writes a checkpoint's files into the (existing) staging folder `tmp`.
fn stage(tmp: &Path, model: &Captioner, config: &CaptionerConfig, state: &TrainerState, optimizer: Option<&[u8]>) -> Result<()> {
    write_peft(tmp, model, config)?;
    let p = tmp.join("trainer_state.json");
    io(&p, std::fs::write(&p, serde_json::to_string_pretty(state).unwrap_or_default()))?;
    if let Some(bytes) = optimizer {
        let p = tmp.join("optimizer.bin");
        io(&p, std::fs::write(&p, bytes))?;
    }
    Ok(())
}

/// The checkpoint to resume from in `dir` (or the previous one, if a crash interrupted the
/// replacement).
pub fn find(dir: &Path) -> Option<PathBuf> {
    let name = dir.file_name()?.to_str()?;
    let old = dir.parent()?.join(format!(".{name}.old"));
    [dir.to_path_buf(), old].into_iter().find(|d| d.join("trainer_state.json").is_file())
}

/// Reads a checkpoint's progress.
pub fn load_state(dir: &Path) -> Result<TrainerState> {
    let p = dir.join("trainer_state.json");
    let text = io(&p, std::fs::read_to_string(&p))?;
    serde_json::from_str(&text).map_err(|e| Error::config(p.display().to_string(), e.to_string()))
}
