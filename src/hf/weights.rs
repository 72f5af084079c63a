//! Named tensors on the compute device, filled one tensor at a time and then taken by the model
//! tree, which checks every shape.
//!
//! The flow is the same natively and in the browser:
//! 1. the loader ([`crate::load::checkpoint`], natively over files, in the page over downloads) calls
//!    [`Weights::insert`] for each tensor; the bytes are converted to f32 and uploaded at once,
//!    so host memory holds one tensor at a time;
//! 2. the model's `load` functions call [`Weights::take`] with the key and the shape they need;
//!    problems (missing key, wrong shape, integer dtype) are collected, not raised one by one;
//! 3. [`Weights::finish`] reports them all in one error listing every offending key.

use std::collections::{BTreeSet, HashMap};

use burn::tensor::{DType, Device, Distribution, Tensor, TensorData};
use safetensors::tensor::Dtype;

use crate::error::{Error, Result, TensorProblem};

/// At most this many problems are listed in one error (the count of the rest is given).
const MAX_LISTED: usize = 25;

/// How much a model can take, from its validated config: every tensor a file declares is
/// checked against it ([`Weights::admit`]) before any of its bytes are read or allocated, so a
/// header or pickle that declares a terabyte is refused from a few hundred bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Elements of the model's largest tensor (e.g. GPT-2's `wte`, vocab x width).
    pub largest: u64,
    /// Elements of all the model's tensors together, with a margin (PEFT extras, buffers).
    pub total: u64,
    /// The parameters the config describes, without the margin (0 = unknown): a checkpoint
    /// that holds less than half of them is refused before the model is built, since building
    /// it would fill what is missing with zeros first.
    pub expected: u64,
}

impl Budget {
    /// No model bound: only what any tensor could be on this target (2^32 elements, and no
    /// more than fits in memory here). For loads whose config is not known.
    pub const ANY: Budget = Budget { largest: 1 << 32, total: 1 << 34, expected: 0 };

    /// A budget of `params` elements whose largest tensor has `largest`, with the margin the
    /// model trees' extras need (a quarter more, plus 16M elements).
    pub fn of(largest: u64, params: u64) -> Self {
        Self { largest, total: params.saturating_add(params / 4).saturating_add(16 << 20), expected: params }
    }
}

enum Stored {
    Float { shape: Vec<usize>, tensor: Tensor<1> },
    Other { shape: Vec<usize>, dtype: Dtype },
}

/// Tensors on a device, by checkpoint key.
pub struct Weights {
    device: Device,
    source: String,
    tensors: HashMap<String, Stored>,
    skipped: BTreeSet<String>,
    problems: Vec<TensorProblem>,
    random_std: Option<f64>,
    /// The device's largest buffer (f32 tensors above it are refused with a clear error).
    max_tensor_bytes: Option<u64>,
    /// What the model can take, and how much of it the admitted tensors use.
    budget: Budget,
    admitted: u64,
}

fn dtype_is_float(dtype: Dtype) -> bool {
    matches!(dtype, Dtype::F32 | Dtype::F16 | Dtype::BF16 | Dtype::F64)
}

/// Converts little-endian tensor bytes to f32, or `None` for a non-float dtype.
pub fn to_f32(dtype: Dtype, bytes: &[u8]) -> Option<Vec<f32>> {
    Some(match dtype {
        Dtype::F32 => bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        Dtype::F16 => bytes.chunks_exact(2).map(|b| half::f16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32()).collect(),
        Dtype::BF16 => bytes.chunks_exact(2).map(|b| half::bf16::from_bits(u16::from_le_bytes([b[0], b[1]])).to_f32()).collect(),
        Dtype::F64 => bytes.chunks_exact(8).map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32).collect(),
        _ => return None,
    })
}

impl Weights {
    /// An empty store whose tensors will live on `device`.
    pub fn new(device: &Device) -> Self {
        Self {
            device: device.clone(),
            source: "<memory>".into(),
            tensors: HashMap::new(),
            skipped: BTreeSet::new(),
            problems: Vec::new(),
            random_std: None,
            max_tensor_bytes: crate::device::max_tensor_bytes(device),
            budget: Budget::ANY,
            admitted: 0,
        }
    }

    /// Before the model is built: an error when the files held less than half of the
    /// parameters the config describes (the model tree would otherwise allocate zeros for all
    /// that is missing, up to the config's size, only to report it missing).
    pub fn check_coverage(&self) -> Result<()> {
        if self.admitted.saturating_mul(2) < self.budget.expected {
            return Err(Error::Incomplete { path: self.source.clone(), held: self.admitted, expected: self.budget.expected });
        }
        Ok(())
    }

    /// Bounds every tensor admitted from now on by what the model can take.
    pub fn set_budget(&mut self, budget: Budget) {
        self.budget = budget;
    }

    /// Checks a tensor a file declares, before its bytes are read: a float type (or an integer
    /// the model skips, recorded later), an element count that does not overflow and fits the
    /// model's largest tensor, and room left in the model's total. `source` names the file.
    pub fn admit(&mut self, source: &str, key: &str, shape: &[usize]) -> Result<()> {
        let too_large = |elements: Option<u64>, limit: u64, what: &'static str| Error::TooLarge {
            path: source.to_string(),
            tensor: key.to_string(),
            shape: shape.to_vec(),
            elements,
            limit,
            what,
        };
        let n = shape
            .iter()
            .try_fold(1u64, |n, &d| n.checked_mul(d as u64))
            .ok_or_else(|| too_large(None, self.budget.largest, "elements in this model's largest tensor"))?;
        if n > self.budget.largest {
            return Err(too_large(Some(n), self.budget.largest, "elements in this model's largest tensor"));
        }
        let admitted = self.admitted.saturating_add(n);
        if admitted > self.budget.total {
            return Err(too_large(Some(n), self.budget.total, "elements in all of this model's tensors"));
        }
        self.admitted = admitted;
        Ok(())
    }

    /// A store that answers every request with fresh N(0, std) values: random-weight models for
    /// benchmarks and freshly initialised modules.
    pub fn random(device: &Device, std: f64) -> Self {
        Self { random_std: Some(std), source: "<random>".into(), ..Self::new(device) }
    }

    /// The device tensors are uploaded to.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Names the source (a file path or URL) in error messages.
    pub fn set_source(&mut self, source: &str) {
        self.source = source.to_string();
    }

    /// Adds one tensor from its raw little-endian bytes (converted to f32 and uploaded). F32
    /// bytes are uploaded as they are, without a copy on the host, so loading holds at most
    /// one tensor in memory.
    pub fn insert(&mut self, name: &str, dtype: Dtype, shape: &[usize], bytes: Vec<u8>) -> Result<()> {
        let n = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        let size = dtype.bitsize() / 8;
        let Some(n) = n.filter(|n| n.checked_mul(size).is_some_and(|b| b == bytes.len() || !dtype_is_float(dtype))) else {
            return Err(Error::Safetensors {
                path: self.source.clone(),
                message: format!("tensor `{name}` has {} bytes for shape {shape:?} of {dtype:?}", bytes.len()),
            });
        };
        if let Some(limit) = self.max_tensor_bytes.filter(|&limit| (n as u64).saturating_mul(4) > limit) {
            return Err(Error::TensorTooLarge {
                path: self.source.clone(),
                tensor: name.to_string(),
                shape: shape.to_vec(),
                bytes: (n as u64).saturating_mul(4),
                limit,
            });
        }
        let data = match dtype {
            Dtype::F32 if cfg!(target_endian = "little") => Some(TensorData::from_bytes_vec(bytes, [n], DType::F32)),
            _ => to_f32(dtype, &bytes).map(|values| TensorData::new(values, [n])),
        };
        let stored = match data {
            Some(data) => Stored::Float { shape: shape.to_vec(), tensor: Tensor::<1>::from_data(data, &self.device) },
            None => Stored::Other { shape: shape.to_vec(), dtype },
        };
        self.tensors.insert(name.to_string(), stored);
        Ok(())
    }

    /// Adds a tensor already on the device (e.g. made by another model).
    pub fn insert_tensor<const D: usize>(&mut self, name: &str, tensor: Tensor<D>) {
        let shape = tensor.dims().to_vec();
        let n = shape.iter().product::<usize>();
        self.tensors.insert(name.to_string(), Stored::Float { shape, tensor: tensor.reshape([n]) });
    }

    /// Records that the source holds `name` but it was deliberately not uploaded.
    pub fn skip(&mut self, name: &str) {
        self.skipped.insert(name.to_string());
    }

    /// Whether a float tensor with this key was inserted.
    pub fn contains(&self, key: &str) -> bool {
        matches!(self.tensors.get(key), Some(Stored::Float { .. }))
    }

    /// The shape stored under `key`, if any.
    pub fn shape(&self, key: &str) -> Option<&[usize]> {
        match self.tensors.get(key)? {
            Stored::Float { shape, .. } | Stored::Other { shape, .. } => Some(shape),
        }
    }

    /// Keys held (uploaded or not), sorted.
    pub fn keys(&self) -> Vec<String> {
        let mut k: Vec<String> = self.tensors.keys().cloned().chain(self.skipped.iter().cloned()).collect();
        k.sort();
        k
    }

    /// Takes the tensor `key`, which must have `shape`. A problem is recorded (and zeros of the
    /// right shape returned, so the tree can still be built) when it is missing or differs.
    pub fn take<const D: usize>(&mut self, key: &str, shape: [usize; D]) -> Tensor<D> {
        if let Some(t) = self.try_take(key, shape) {
            return t;
        }
        if !self.problems.iter().any(|p| matches!(p, TensorProblem::Shape { key: k, .. } | TensorProblem::Dtype { key: k, .. } if k == key))
        {
            self.problems.push(TensorProblem::Missing { key: key.to_string(), expected: shape.to_vec() });
        }
        Tensor::zeros(shape, &self.device)
    }

    /// Like [`Weights::take`] for a tensor the model can do without: `None` when absent, a
    /// recorded problem when present with the wrong shape or type.
    pub fn try_take<const D: usize>(&mut self, key: &str, shape: [usize; D]) -> Option<Tensor<D>> {
        match self.tensors.remove(key) {
            Some(Stored::Float { shape: found, tensor }) => {
                // A trailing/leading 1 (e.g. GPT-2 biases saved as [1, n]) is not a real difference.
                let squeeze = |s: &[usize]| s.iter().copied().filter(|&d| d != 1).collect::<Vec<_>>();
                if found.as_slice() == shape.as_slice() || squeeze(&found) == squeeze(&shape) {
                    Some(tensor.reshape(shape))
                } else {
                    self.problems.push(TensorProblem::Shape { key: key.into(), expected: shape.to_vec(), found });
                    None
                }
            }
            Some(Stored::Other { dtype, .. }) => {
                self.problems.push(TensorProblem::Dtype { key: key.into(), found: format!("{dtype:?}") });
                None
            }
            None => self.random_std.map(|std| Tensor::random(shape, Distribution::Normal(0.0, std), &self.device)),
        }
    }

    /// Ends loading: an error listing every problem, or the keys the model did not use. Unused
    /// keys for which `must_use` holds are problems too.
    pub fn finish_strict(mut self, must_use: &dyn Fn(&str) -> bool) -> Result<Vec<String>> {
        let mut stray: Vec<String> = self.tensors.keys().filter(|k| must_use(k)).cloned().collect();
        stray.sort();
        self.problems.extend(stray.into_iter().map(|key| TensorProblem::Unexpected { key }));
        self.finish()
    }

    /// Ends loading: an error listing every problem, or the keys the model did not use.
    pub fn finish(self) -> Result<Vec<String>> {
        if !self.problems.is_empty() {
            let mut problems = self.problems;
            let total = problems.len();
            if total > MAX_LISTED {
                problems.truncate(MAX_LISTED);
                problems.push(TensorProblem::Missing { key: format!("... and {} more", total - MAX_LISTED), expected: vec![] });
            }
            return Err(Error::Checkpoint { path: self.source, problems });
        }
        let mut unused: Vec<String> = self.tensors.into_keys().collect();
        unused.sort();
        Ok(unused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_types_convert_exactly() {
        let vals = [1.5f32, -0.099609375, 3.0e-3, 65504.0];
        let f16: Vec<u8> = vals.iter().flat_map(|v| half::f16::from_f32(*v).to_bits().to_le_bytes()).collect();
        let bf16: Vec<u8> = vals.iter().flat_map(|v| half::bf16::from_f32(*v).to_bits().to_le_bytes()).collect();
        let a = to_f32(Dtype::F16, &f16).unwrap();
        let b = to_f32(Dtype::BF16, &bf16).unwrap();
        for i in 0..4 {
            assert_eq!(a[i], half::f16::from_f32(vals[i]).to_f32());
            assert_eq!(b[i], half::bf16::from_f32(vals[i]).to_f32());
        }
        assert!(to_f32(Dtype::I64, &[0; 8]).is_none());
    }

    #[test]
    fn problems_are_collected() {
        let device = Device::flex();
        let mut w = Weights::new(&device);
        w.insert("a", Dtype::F32, &[2, 2], vec![0u8; 16]).unwrap();
        assert!(w.insert("short", Dtype::F32, &[2, 2], vec![0u8; 12]).is_err());
        w.insert("ids", Dtype::I64, &[2], vec![0u8; 16]).unwrap();
        let _ = w.take("a", [4, 1]);
        let _ = w.take("b", [3]);
        let _ = w.take("ids", [2]);
        let err = w.finish().unwrap_err().to_string();
        assert!(err.contains("`a` has shape [2, 2], expected [4, 1]"), "{err}");
        assert!(err.contains("missing tensor `b` (expected shape [3])"), "{err}");
        assert!(err.contains("`ids` has dtype I64"), "{err}");
    }
}
