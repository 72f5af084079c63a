//! A fitted few-shot classifier as a file (`glimpse fewshot --save`, `classify --head`): a
//! safetensors file whose `__metadata__` holds `glimpse_head`, a JSON [`HeadInfo`], and whose
//! tensors are (all F32):
//!
//! | method | tensor | shape |
//! |---|---|---|
//! | tip | `text` (the zero-shot classifier T) | `[classes, d]` |
//! | tip | `cache.keys` (K) | `[shots, d]` |
//! | tip | `cache.values` (V, one-hot) | `[shots, classes]` |
//! | probe | `weight` (W) | `[classes, d]` |
//! | probe | `bias` (b) | `[classes]` |

use std::collections::HashMap;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use super::{CacheModel, Classifier, LinearProbe, Method};
use crate::error::{Error, Result, TensorProblem};

/// The metadata key.
pub const KEY: &str = "glimpse_head";
/// The format version written (and the only one read).
pub const FORMAT: u32 = 1;

/// What a head says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadInfo {
    /// [`FORMAT`].
    pub format: u32,
    /// `tip` or `probe`.
    pub method: String,
    /// Class names, in order.
    pub labels: Vec<String>,
    /// The templates of its zero-shot classifier.
    pub templates: Vec<String>,
    /// Labelled images per class it was fitted on.
    pub shots: usize,
    /// The seed that picked them.
    pub seed: u64,
    /// The CLIP model it was fitted on (a folder name), for the user's information.
    pub model: String,
    /// CLIP's logit scale (tip).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f32>,
    /// Tip-Adapter's alpha and beta (tip).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f64>,
    /// See `alpha`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beta: Option<f64>,
    /// The probe's inverse regularisation strength (probe).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub c: Option<f64>,
}

impl HeadInfo {
    /// What a head is fitted for; the method and its numbers are filled in by [`to_bytes`].
    pub fn new(labels: Vec<String>, templates: Vec<String>, shots: usize, seed: u64, model: String) -> Self {
        Self { format: FORMAT, method: String::new(), labels, templates, shots, seed, model, scale: None, alpha: None, beta: None, c: None }
    }
}

/// A loaded head: the classifier and what it says about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    /// The classifier.
    pub classifier: Classifier,
    /// Its metadata.
    pub info: HeadInfo,
}

fn bytes_of(rows: &[Vec<f32>]) -> Vec<u8> {
    rows.iter().flatten().flat_map(|x| x.to_le_bytes()).collect()
}

/// The file's bytes for `classifier` with `info` (its method, scale, alpha, beta and c are
/// filled in from the classifier).
pub fn to_bytes(classifier: &Classifier, mut info: HeadInfo) -> Result<Vec<u8>> {
    info.format = FORMAT;
    info.method = classifier.method().to_string();
    let (k, d) = (classifier.num_classes(), classifier.dim());
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    match classifier {
        Classifier::Tip(m) => {
            (info.scale, info.alpha, info.beta) = (Some(m.scale), Some(m.alpha), Some(m.beta));
            let values: Vec<Vec<f32>> = m.labels.iter().map(|&c| (0..k).map(|j| if j == c { 1.0 } else { 0.0 }).collect()).collect();
            tensors.push(("text".into(), vec![k, d], bytes_of(&m.text)));
            tensors.push(("cache.keys".into(), vec![m.keys.len(), d], bytes_of(&m.keys)));
            tensors.push(("cache.values".into(), vec![m.keys.len(), k], bytes_of(&values)));
        }
        Classifier::Linear(p) => {
            info.c = Some(p.c);
            tensors.push(("weight".into(), vec![k, d], bytes_of(&p.weight)));
            tensors.push(("bias".into(), vec![k], p.bias.iter().flat_map(|x| x.to_le_bytes()).collect()));
        }
    }
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .map(|(name, shape, data)| {
            TensorView::new(Dtype::F32, shape.clone(), data).map(|v| (name.clone(), v)).map_err(|e| Error::Internal(format!("{name}: {e}")))
        })
        .collect::<Result<_>>()?;
    let json = serde_json::to_string(&info).map_err(|e| Error::Internal(e.to_string()))?;
    safetensors::serialize(views, Some(HashMap::from([(KEY.to_string(), json)]))).map_err(|e| Error::Internal(e.to_string()))
}

/// Reads a head from the bytes of file `path`, checking every tensor's presence, dtype, shape
/// and values against the metadata.
pub fn from_bytes(bytes: &[u8], path: &str) -> Result<Head> {
    let bad = |message: String| Error::Safetensors { path: path.to_string(), message };
    let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
    let tensors = SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
    let json = meta.metadata().as_ref().and_then(|m| m.get(KEY)).ok_or_else(|| {
        Error::config(
            path,
            format!("not a glimpse few-shot head: no `{KEY}` in the safetensors metadata (made by `glimpse fewshot --save`?)"),
        )
    })?;
    let info: HeadInfo = serde_json::from_str(json).map_err(|e| Error::config(path, format!("`{KEY}` metadata: {e}")))?;
    if info.format != FORMAT {
        return Err(Error::Unsupported(format!("{path}: head format {} (this glimpse reads format {FORMAT})", info.format)));
    }
    let method: Method = info.method.parse().map_err(|e: Error| Error::config(path, e.to_string()))?;
    let k = info.labels.len();
    if k == 0 {
        return Err(Error::config(path, "the head lists no labels"));
    }
    let mut problems = Vec::new();
    // A tensor as rows of `cols` values, checked against the expected shape (`rows` None: any).
    let mut matrix = |key: &str, rows: Option<usize>, cols: usize| -> Option<Vec<Vec<f32>>> {
        let Ok(t) = tensors.tensor(key) else {
            problems.push(TensorProblem::Missing { key: key.into(), expected: vec![rows.unwrap_or(0), cols] });
            return None;
        };
        if t.dtype() != Dtype::F32 {
            problems.push(TensorProblem::Dtype { key: key.into(), found: format!("{:?} (heads are F32)", t.dtype()) });
            return None;
        }
        let shape = t.shape().to_vec();
        let fits = shape.len() == 2 && rows.is_none_or(|r| shape[0] == r) && shape[1] == cols && cols > 0;
        if !fits {
            problems.push(TensorProblem::Shape {
                key: key.into(),
                expected: vec![rows.unwrap_or(shape.first().copied().unwrap_or(0)), cols],
                found: shape,
            });
            return None;
        }
        let values: Vec<f32> = t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        Some(values.chunks(cols).map(<[f32]>::to_vec).collect())
    };
    let dim_of = |key: &str| tensors.tensor(key).ok().and_then(|t| t.shape().get(1).copied()).unwrap_or(0);
    let classifier = match method {
        Method::Tip => {
            let d = dim_of("text");
            let text = matrix("text", Some(k), d);
            let keys = matrix("cache.keys", None, d);
            let values = keys.as_ref().and_then(|keys| matrix("cache.values", Some(keys.len()), k));
            match (text, keys, values) {
                (Some(text), Some(keys), Some(values)) => {
                    let labels: Option<Vec<usize>> = values
                        .iter()
                        .map(|row| {
                            (row.iter().filter(|&&v| v == 1.0).count() == 1 && row.iter().all(|&v| v == 0.0 || v == 1.0))
                                .then(|| row.iter().position(|&v| v == 1.0))
                                .flatten()
                        })
                        .collect();
                    let Some(labels) = labels else {
                        return Err(Error::config(path, "`cache.values` is not one-hot (each row one 1, the rest 0)"));
                    };
                    let (Some(scale), Some(alpha), Some(beta)) = (info.scale, info.alpha, info.beta) else {
                        return Err(Error::config(path, "a tip head needs `scale`, `alpha` and `beta` in its metadata"));
                    };
                    Some(Classifier::Tip(CacheModel { text, scale, keys, labels, alpha, beta }))
                }
                _ => None,
            }
        }
        Method::Probe => {
            let d = dim_of("weight");
            let weight = matrix("weight", Some(k), d);
            let bias = match tensors.tensor("bias") {
                Ok(t) if t.dtype() == Dtype::F32 && t.shape() == [k] => {
                    Some(t.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect::<Vec<f32>>())
                }
                Ok(t) => {
                    problems.push(TensorProblem::Shape { key: "bias".into(), expected: vec![k], found: t.shape().to_vec() });
                    None
                }
                Err(_) => {
                    problems.push(TensorProblem::Missing { key: "bias".into(), expected: vec![k] });
                    None
                }
            };
            match (weight, bias) {
                (Some(weight), Some(bias)) => Some(Classifier::Linear(LinearProbe { weight, bias, c: info.c.unwrap_or(f64::NAN) })),
                _ => None,
            }
        }
    };
    let Some(classifier) = classifier.filter(|_| problems.is_empty()) else {
        return Err(Error::Checkpoint { path: path.to_string(), problems });
    };
    let finite = match &classifier {
        Classifier::Tip(m) => {
            m.text.iter().chain(&m.keys).flatten().all(|x| x.is_finite())
                && m.scale.is_finite()
                && m.alpha.is_finite()
                && m.beta.is_finite()
        }
        Classifier::Linear(p) => p.weight.iter().flatten().chain(&p.bias).all(|x| x.is_finite()),
    };
    if !finite {
        return Err(Error::config(path, "the head holds values that are not finite numbers (NaN or infinity)"));
    }
    Ok(Head { classifier, info })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> HeadInfo {
        HeadInfo::new(vec!["a".into(), "b".into()], vec!["a photo of a {}".into()], 1, 0, "clip".into())
    }

    #[test]
    fn heads_round_trip() {
        let tip = Classifier::Tip(CacheModel {
            text: vec![vec![1.0, 0.0], vec![0.0, 1.0]],
            scale: 10.0,
            keys: vec![vec![0.6, 0.8], vec![0.8, 0.6]],
            labels: vec![1, 0],
            alpha: 2.0,
            beta: 5.0,
        });
        let linear = Classifier::Linear(LinearProbe { weight: vec![vec![1.0, 2.0], vec![3.0, 4.0]], bias: vec![0.5, -0.5], c: 10.0 });
        for c in [tip, linear] {
            let bytes = to_bytes(&c, info()).unwrap();
            let head = from_bytes(&bytes, "h.safetensors").unwrap();
            assert_eq!(head.classifier, c);
            assert_eq!(head.info.method, c.method().to_string());
        }
    }

    #[test]
    fn a_wrong_shape_is_named() {
        let linear = Classifier::Linear(LinearProbe { weight: vec![vec![1.0, 2.0]], bias: vec![0.5], c: 1.0 });
        let bytes = to_bytes(&linear, info()).unwrap(); // one class, two labels
        let e = from_bytes(&bytes, "h.safetensors").unwrap_err().to_string();
        assert!(e.contains("`weight`") && e.contains("[1, 2]") && e.contains("[2, 2]"), "{e}");
        let e = from_bytes(b"not a safetensors file at all", "h.safetensors").unwrap_err().to_string();
        assert!(e.contains("h.safetensors"), "{e}");
    }
}
