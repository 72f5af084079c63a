//! The linear probe of CLIP's evaluation (Radford et al. 2021, appendix A.3): multinomial
//! logistic regression with L2 regularisation on the normalised image embeddings,
//!
//! ```text
//! minimise  C * sum_i CE(softmax(W f_i + b), y_i) + ||W||^2 / 2      (the bias is not penalised)
//! ```
//!
//! exactly scikit-learn's `LogisticRegression(C=C, solver="lbfgs")` objective (divided by `C n`
//! here, which leaves the optimum where it is). The loss and its gradient come from burn's
//! autodiff on the compute device; L-BFGS ([`super::lbfgs`]) steps on the host. Training starts
//! from the zero-shot classifier (`W = scale * T`, `b = 0`); the problem is convex, so the start
//! changes how fast it converges, not where. `C` is chosen by stratified cross-validation on the
//! labelled images over [`C_GRID`], as CLIP's linear-probe evaluation sweeps its regularisation.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::Serialize;

use super::cache::{argmax, softmax};
use super::lbfgs::{Lbfgs, Next, Options, Stop};
pub use super::linear::LinearProbe;
use crate::error::{Error, Result};
use crate::task::embed::read_vec;

/// The inverse regularisation strengths cross-validation chooses from: 10^-1 to 10^4 in
/// quarter decades (CLIP's sweep spans 10^-6 to 10^6 for many-shot sets; with a few
/// normalised embeddings the optimum falls well inside this range).
pub const C_GRID: [f64; 21] = [
    0.1, 0.1778, 0.3162, 0.5623, 1.0, 1.778, 3.162, 5.623, 10.0, 17.78, 31.62, 56.23, 100.0, 177.8, 316.2, 562.3, 1000.0, 1778.0, 3162.0,
    5623.0, 10000.0,
];

/// With one labelled image per class there is nothing to cross-validate on: this `C`
/// (scikit-learn's default) is used.
pub const C_ONE_SHOT: f64 = 1.0;

/// How a fit went.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FitReport {
    /// L-BFGS steps taken.
    pub iterations: usize,
    /// Loss-and-gradient evaluations on the device.
    pub evaluations: usize,
    /// The objective at the end (mean cross-entropy + ||W||^2 / (2 C n)).
    pub objective: f64,
    /// Whether it met the tolerance (else it stopped at the f32 objective's rounding error or
    /// at the step limit).
    pub converged: bool,
}

/// The labelled images, on the device once for all the fits of a cross-validation.
struct Problem {
    x: Tensor<2>,
    targets: Tensor<2, Int>,
    n: usize,
    dim: usize,
    classes: usize,
}

impl Problem {
    fn new(device: &Device, x: &[&[f32]], y: &[usize], classes: usize) -> Result<Self> {
        let n = x.len();
        let dim = x.first().map_or(0, |r| r.len());
        if n == 0 || dim == 0 {
            return Err(Error::usage("the linear probe needs at least one labelled image"));
        }
        if let Some(bad) = x.iter().position(|r| r.len() != dim) {
            return Err(Error::usage(format!("embedding {bad} has {} values, the others {dim}", x[bad].len())));
        }
        if let Some(&bad) = y.iter().find(|&&c| c >= classes) {
            return Err(Error::usage(format!("class {bad} is out of range for {classes} classes")));
        }
        let flat: Vec<f32> = x.iter().flat_map(|r| r.iter().copied()).collect();
        let x = Tensor::<2>::from_data(TensorData::new(flat, [n, dim]), device); // [n, d]
        let t: Vec<i64> = y.iter().map(|&c| c as i64).collect();
        let targets = Tensor::<2, Int>::from_data(TensorData::new(t, [n, 1]), device); // [n, 1]
        Ok(Self { x, targets, n, dim, classes })
    }

    /// The objective at `theta` (`W` row-major, then `b`) and its gradient, by autodiff.
    async fn loss_and_grad(&self, theta: &[f64], c: f64) -> Result<(f64, Vec<f64>)> {
        let (k, d, n) = (self.classes, self.dim, self.n);
        let device = self.x.device();
        let values: Vec<f32> = theta.iter().map(|&v| v as f32).collect();
        let t = Tensor::<1>::from_data(TensorData::new(values, [k * (d + 1)]), &device).require_grad();
        let w = t.clone().narrow(0, 0, k * d).reshape([k, d]); // [k, d]
        let b = t.clone().narrow(0, k * d, k).reshape([1, k]); // [1, k]
        let logits = self.x.clone().matmul(w.clone().transpose()) + b; // [n, k]
        let nll = -log_softmax(logits, 1).gather(1, self.targets.clone()).sum() / n as f64; // [1]
        let penalty = (w.clone() * w).sum() / (2.0 * c * n as f64); // [1]
        let loss = nll + penalty; // [1]
        let grads = loss.backward();
        let g = t.grad(&grads).ok_or_else(|| Error::Internal("the linear probe's parameters got no gradient".into()))?;
        // One read-back of [loss, gradient...] (each read waits for the device: on a GPU that is
        // most of an evaluation's time).
        let both = read_vec(Tensor::cat(vec![loss.inner(), g], 0)).await?; // [1 + k (d + 1)]
        Ok((f64::from(both[0]), both[1..].iter().map(|&v| f64::from(v)).collect()))
    }

    async fn fit(&self, start: &LinearProbe, c: f64) -> Result<(LinearProbe, FitReport)> {
        let mut opt = Lbfgs::new(start.flat(), Options::default());
        let stop = loop {
            let (v, g) = self.loss_and_grad(opt.point(), c).await?;
            if let Next::Done(stop) = opt.tell(v, g) {
                break stop;
            }
        };
        let report = FitReport {
            iterations: opt.iterations,
            evaluations: opt.evaluations,
            objective: opt.best_value().unwrap_or(f64::NAN),
            converged: stop == Stop::Converged,
        };
        Ok((LinearProbe::from_flat(opt.best(), self.classes, self.dim, c), report))
    }
}

/// Fits the probe on embeddings `x` `[n][d]` with classes `y`, from `start` (usually
/// [`LinearProbe::zero_shot`]), with inverse regularisation `c`; the loss and gradient are
/// computed on `device` (made an autodiff device here).
pub async fn fit(device: &Device, x: &[Vec<f32>], y: &[usize], start: &LinearProbe, c: f64) -> Result<(LinearProbe, FitReport)> {
    if !(c > 0.0 && c.is_finite()) {
        return Err(Error::usage(format!("the probe's C must be a positive number, got {c}")));
    }
    let rows: Vec<&[f32]> = x.iter().map(Vec::as_slice).collect();
    Problem::new(&device.clone().autodiff(), &rows, y, start.bias.len())?.fit(start, c).await
}

/// Cross-validation of one `C`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CvPoint {
    /// The inverse regularisation strength.
    pub c: f64,
    /// Held-out accuracy over all folds.
    pub accuracy: f64,
    /// Held-out mean negative log-likelihood (breaks ties in accuracy).
    pub nll: f64,
}

/// What cross-validation found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CvReport {
    /// The chosen `C`.
    pub c: f64,
    /// Folds (0 when there was nothing to cross-validate on: one image per class).
    pub folds: usize,
    /// Every `C` tried.
    pub grid: Vec<CvPoint>,
}

/// Fold of each labelled image: stratified, round-robin within each class in the given order,
/// `folds` = min(images of the smallest class, 5).
fn fold_of(y: &[usize], classes: usize) -> (usize, Vec<usize>) {
    let mut seen = vec![0usize; classes];
    y.iter().for_each(|&c| seen[c] += 1);
    let smallest = seen.iter().copied().filter(|&n| n > 0).min().unwrap_or(0);
    let folds = smallest.min(5);
    let mut next = vec![0usize; classes];
    let of = y
        .iter()
        .map(|&c| {
            let f = next[c] % folds.max(1);
            next[c] += 1;
            f
        })
        .collect();
    (folds, of)
}

/// Chooses `C` on [`C_GRID`] by stratified cross-validation (best held-out accuracy, then lower
/// held-out negative log-likelihood, then the smaller `C`), then fits on all of `x`. Each fold
/// walks the grid from the strongest regularisation to the weakest, each fit starting where the
/// previous one ended. `progress(done, total)` is called after each fit.
pub async fn fit_cross_validated(
    device: &Device,
    x: &[Vec<f32>],
    y: &[usize],
    start: &LinearProbe,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(LinearProbe, FitReport, CvReport)> {
    let classes = start.bias.len();
    let device = device.clone().autodiff();
    let (folds, fold) = fold_of(y, classes);
    let total = if folds >= 2 { folds * C_GRID.len() + 1 } else { 1 };
    let mut grid: Vec<CvPoint> = Vec::new();
    if folds >= 2 {
        let mut right = vec![0usize; C_GRID.len()];
        let mut nll = vec![0f64; C_GRID.len()];
        for f in 0..folds {
            let train: Vec<usize> = (0..y.len()).filter(|&i| fold[i] != f).collect();
            let rows: Vec<&[f32]> = train.iter().map(|&i| x[i].as_slice()).collect();
            let labels: Vec<usize> = train.iter().map(|&i| y[i]).collect();
            let problem = Problem::new(&device, &rows, &labels, classes)?;
            let mut at = start.clone();
            for (gi, &c) in C_GRID.iter().enumerate() {
                at = problem.fit(&at, c).await?.0;
                for i in (0..y.len()).filter(|&i| fold[i] == f) {
                    let p = softmax(&at.logits(&x[i]));
                    right[gi] += usize::from(argmax(&p) == y[i]);
                    nll[gi] -= p[y[i]].max(1e-300).ln();
                }
                progress(f * C_GRID.len() + gi + 1, total);
            }
        }
        let n = y.len() as f64;
        grid = C_GRID.iter().enumerate().map(|(i, &c)| CvPoint { c, accuracy: right[i] as f64 / n, nll: nll[i] / n }).collect();
    }
    let c = grid
        .iter()
        .fold(None::<&CvPoint>, |best, p| match best {
            Some(b) if p.accuracy < b.accuracy || (p.accuracy == b.accuracy && p.nll >= b.nll) => Some(b),
            _ => Some(p),
        })
        .map_or(C_ONE_SHOT, |p| p.c);
    let rows: Vec<&[f32]> = x.iter().map(Vec::as_slice).collect();
    let (probe, report) = Problem::new(&device, &rows, y, classes)?.fit(start, c).await?;
    progress(total, total);
    Ok((probe, report, CvReport { c, folds: if folds >= 2 { folds } else { 0 }, grid }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_are_stratified() {
        let (folds, of) = fold_of(&[0, 0, 1, 1, 0, 1, 1], 2);
        assert_eq!(folds, 3);
        assert_eq!(of, [0, 1, 0, 1, 2, 2, 0]);
        assert_eq!(fold_of(&[0, 1, 2], 3).0, 1);
    }

    #[test]
    fn the_grid_is_quarter_decades() {
        for (i, c) in C_GRID.iter().enumerate() {
            let want = 10f64.powf(-1.0 + i as f64 / 4.0);
            assert!((c / want - 1.0).abs() < 1e-3, "{c} vs {want}");
        }
    }
}
