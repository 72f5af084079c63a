//! AdamW (decoupled weight decay, PyTorch's defaults: betas 0.9 / 0.999, eps 1e-8) with its
//! state keyed by parameter path, so that it is saved next to the trained tensors
//! (`optimizer.safetensors`) and restored exactly on `--resume`, whatever ids burn gives the
//! parameters of the reloaded model. Only parameters that receive gradients (the trainable
//! set) get state; frozen ones are never touched.

use std::collections::HashMap;
use std::path::Path;

use burn::module::{Module, ModuleMapper, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};

use crate::error::{Error, Result};

/// AdamW with path-keyed moments.
pub struct AdamW {
    /// Decoupled weight decay.
    pub weight_decay: f64,
    /// Optimiser steps taken (bias correction).
    pub t: u64,
    m: HashMap<String, Tensor<1>>,
    v: HashMap<String, Tensor<1>>,
}

const B1: f64 = 0.9;
const B2: f64 = 0.999;
const EPS: f64 = 1e-8;

struct Step<'a> {
    opt: &'a mut AdamW,
    grads: &'a mut GradientsParams,
    path: Vec<String>,
    lr: f64,
}

impl ModuleMapper for Step<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(grad) = self.grads.remove::<D>(param.id) else { return param };
        let key = self.path.join(".");
        let (t, lr, wd) = (self.opt.t as i32, self.lr, self.opt.weight_decay);
        let (m, v) = (&mut self.opt.m, &mut self.opt.v);
        param.map(|p| {
            let shape = p.dims();
            let n: usize = shape.iter().product();
            let g = grad.inner().reshape([n]); // [n]
            let m1 = match m.remove(&key) {
                Some(prev) => prev * B1 + g.clone() * (1.0 - B1),
                None => g.clone() * (1.0 - B1),
            };
            let v1 = match v.remove(&key) {
                Some(prev) => prev * B2 + g.square() * (1.0 - B2),
                None => g.square() * (1.0 - B2),
            };
            let mhat = m1.clone() / (1.0 - B1.powi(t));
            let vhat = v1.clone() / (1.0 - B2.powi(t));
            m.insert(key.clone(), m1);
            v.insert(key.clone(), v1);
            let w = p.inner().reshape([n]); // [n]
            let w = w.clone() - w * (lr * wd) - mhat / (vhat.sqrt() + EPS) * lr;
            Tensor::from_inner(w.reshape(shape)).require_grad()
        })
    }
}

impl AdamW {
    /// A fresh optimiser.
    pub fn new(weight_decay: f64) -> Self {
        Self { weight_decay, t: 0, m: HashMap::new(), v: HashMap::new() }
    }

    /// One update of every parameter of `module` that has a gradient in `grads`.
    pub fn step<M: Module>(&mut self, lr: f64, module: M, mut grads: GradientsParams) -> M {
        self.t += 1;
        module.map(&mut Step { opt: self, grads: &mut grads, path: vec![], lr })
    }

    /// Saves the moments (`m.<path>`, `v.<path>`) and the step count.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut entries: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
        for (prefix, map) in [("m", &self.m), ("v", &self.v)] {
            for (k, t) in map {
                let data = t.clone().into_data().convert::<f32>().try_into_vec::<f32>().map_err(|e| Error::Device(format!("{e:?}")))?;
                entries.push((format!("{prefix}.{k}"), vec![data.len()], data.iter().flat_map(|x| x.to_le_bytes()).collect()));
            }
        }
        let views: Vec<(String, safetensors::tensor::TensorView)> = entries
            .iter()
            .map(|(k, s, b)| Ok((k.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b).map_err(|e| Error::invalid(e.to_string()))?)))
            .collect::<Result<_>>()?;
        let meta = HashMap::from([("t".to_string(), self.t.to_string()), ("weight_decay".to_string(), self.weight_decay.to_string())]);
        safetensors::serialize_to_file(views, Some(meta), path).map_err(|e| Error::Safetensors { path: path.display().to_string(), message: e.to_string() })
    }

    /// Restores a saved state onto `device` (the plain device the moments live on).
    pub fn load(path: &Path, weight_decay: f64, device: &Device) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let bad = |m: String| Error::Safetensors { path: path.display().to_string(), message: m };
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| bad(e.to_string()))?;
        let t = meta.metadata().as_ref().and_then(|m| m.get("t")).and_then(|t| t.parse().ok()).ok_or_else(|| bad("no step count".into()))?;
        let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| bad(e.to_string()))?;
        let mut opt = Self::new(weight_decay);
        opt.t = t;
        for (k, view) in st.tensors() {
            let data = crate::hf::weights::to_f32(view.dtype(), view.data()).ok_or_else(|| bad(format!("`{k}` is not f32")))?;
            let n = data.len();
            let tensor = Tensor::<1>::from_data(TensorData::new(data, [n]), device);
            match k.split_once('.') {
                Some(("m", p)) => opt.m.insert(p.to_string(), tensor),
                Some(("v", p)) => opt.v.insert(p.to_string(), tensor),
                _ => return Err(bad(format!("unexpected tensor `{k}`"))),
            };
        }
        Ok(opt)
    }
}
