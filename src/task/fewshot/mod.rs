//! Few-shot classification on CLIP image embeddings: teach CLIP the user's labels from a handful
//! of labelled photos, starting from the zero-shot classifier (the class text embeddings of the
//! current templates, [`crate::task::zeroshot::class_embeddings`]).
//!
//! - [`cache`]: Tip-Adapter's training-free cache model (alpha, beta by leave-one-out);
//! - [`probe`]: CLIP's linear probe, L2-regularised multinomial logistic regression trained with
//!   burn's autodiff (on the CLI's device or the page's), its `C` by cross-validation;
//! - [`lbfgs`]: the optimiser the probe (and scikit-learn, its reference) uses;
//! - [`head`]: a fitted classifier saved as safetensors, which `classify --head` and the page load;
//! - [`evaluate`]: one evaluation of the methods against zero-shot, shared by the CLI and the page;
//! - here: choosing k shots per class, and the classifier either method gives.

pub mod cache;
pub mod evaluate;
pub mod head;
pub mod lbfgs;
pub mod linear;
pub mod probe;

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::rng::Rng;

pub use cache::CacheModel;
pub use linear::LinearProbe;

/// The few-shot methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// Tip-Adapter's cache model ([`cache`]).
    Tip,
    /// The linear probe ([`probe`]).
    Probe,
}

impl FromStr for Method {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "tip" | "tip-adapter" | "cache" => Ok(Self::Tip),
            "probe" | "linear" | "linear-probe" => Ok(Self::Probe),
            other => Err(Error::usage(format!("unknown few-shot method `{other}` (tip or probe)"))),
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tip => "tip",
            Self::Probe => "probe",
        })
    }
}

/// A fitted few-shot classifier: what predictions switch to.
#[derive(Debug, Clone, PartialEq)]
pub enum Classifier {
    /// The cache model.
    Tip(CacheModel),
    /// A linear classifier `softmax(W f + b)` (the linear probe).
    Linear(LinearProbe),
}

impl Classifier {
    /// Which method made it.
    pub fn method(&self) -> Method {
        match self {
            Self::Tip(_) => Method::Tip,
            Self::Linear(_) => Method::Probe,
        }
    }

    /// The number of classes.
    pub fn num_classes(&self) -> usize {
        match self {
            Self::Tip(m) => m.num_classes(),
            Self::Linear(p) => p.bias.len(),
        }
    }

    /// The embedding size it takes.
    pub fn dim(&self) -> usize {
        match self {
            Self::Tip(m) => m.text.first().map_or(0, Vec::len),
            Self::Linear(p) => p.weight.first().map_or(0, Vec::len),
        }
    }

    /// Class probabilities of a normalised image embedding.
    pub fn probabilities(&self, f: &[f32]) -> Vec<f32> {
        match self {
            Self::Tip(m) => m.probabilities(f),
            Self::Linear(p) => p.probabilities(f),
        }
    }
}

/// Picks `k` labelled images per class at random (seeded) from a pool whose classes are
/// `truth` (`None`: unlabelled, never picked); returns their indices in pool order. A class
/// with fewer than `k` labelled images is an error naming it (and every other short class).
pub fn pick_shots(truth: &[Option<usize>], class_names: &[String], k: usize, seed: u64) -> Result<Vec<usize>> {
    if k == 0 {
        return Err(Error::usage("the shots per class must be at least 1"));
    }
    let mut picked = Vec::with_capacity(k * class_names.len());
    let mut short = Vec::new();
    for (c, name) in class_names.iter().enumerate() {
        let of_class: Vec<usize> = truth.iter().enumerate().filter(|(_, t)| **t == Some(c)).map(|(i, _)| i).collect();
        if of_class.len() < k {
            short.push(format!("`{name}` has {}", of_class.len()));
            continue;
        }
        let order = Rng::new(&[seed, c as u64]).permutation(of_class.len());
        picked.extend(order[..k].iter().map(|&j| of_class[j]));
    }
    if !short.is_empty() {
        return Err(Error::usage(format!(
            "{k} labelled training image{} per class wanted, but {}: add labelled images or ask for fewer shots",
            if k == 1 { "" } else { "s" },
            short.join(", ")
        )));
    }
    picked.sort_unstable();
    Ok(picked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shots_are_per_class_seeded_and_named_when_short() {
        let names: Vec<String> = ["cat", "dog"].map(String::from).to_vec();
        let truth = [Some(0), Some(1), Some(0), None, Some(1), Some(0), Some(1)];
        let a = pick_shots(&truth, &names, 2, 7).unwrap();
        assert_eq!(a.len(), 4);
        assert_eq!(a.iter().filter(|&&i| truth[i] == Some(0)).count(), 2);
        assert!(!a.contains(&3));
        assert_eq!(a, pick_shots(&truth, &names, 2, 7).unwrap(), "same seed, same shots");
        assert_eq!(pick_shots(&truth, &names, 3, 1).unwrap(), [0, 1, 2, 4, 5, 6]);
        let e = pick_shots(&truth, &names, 4, 0).unwrap_err().to_string();
        assert!(e.contains("`cat` has 3") && e.contains("`dog` has 3"), "{e}");
    }
}
