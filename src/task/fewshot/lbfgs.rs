//! L-BFGS (Nocedal & Wright, algorithm 7.4) with a backtracking Armijo line search, on host
//! vectors in f64, driven ask/tell: the caller evaluates the objective and its gradient at
//! [`Lbfgs::point`] however it likes (here: burn's autodiff on the compute device, whose read-back
//! is async in the browser) and reports them with [`Lbfgs::tell`].
//!
//! It is what scikit-learn's `LogisticRegression(solver="lbfgs")` uses (through SciPy), so the
//! linear probe is fitted the way its reference is.

use std::collections::VecDeque;

/// Stopping rules and memory.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Correction pairs kept (SciPy's default is 10).
    pub memory: usize,
    /// Most accepted steps.
    pub max_iter: usize,
    /// Converged when the largest gradient component is at most this.
    pub grad_tol: f64,
    /// Relative rounding error of the objective's value (f32 on the device: ~1e-7; 1e-6 leaves
    /// room for sums): smaller changes are not told apart by the line search.
    pub value_noise: f64,
}

impl Default for Options {
    fn default() -> Self {
        Self { memory: 10, max_iter: 1000, grad_tol: 1e-8, value_noise: 1e-6 }
    }
}

/// Why a minimisation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The gradient is below `grad_tol`.
    Converged,
    /// `max_iter` steps were taken.
    MaxIter,
    /// No step along the search direction lowers the objective any more: the objective's
    /// rounding error (f32 on the device) has been reached.
    LineSearchFailed,
}

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Evaluate the objective at [`Lbfgs::point`] and [`Lbfgs::tell`] it.
    Evaluate,
    /// Done: [`Lbfgs::best`] is the answer.
    Done(Stop),
}

const ARMIJO: f64 = 1e-4;
/// `(2 delta - 1)` of the approximate Wolfe condition with Hager & Zhang's delta = 0.1: the
/// slope at the step may be at most `0.8 |slope at 0|` (uphill).
const APPROX_WOLFE: f64 = -0.8;
const MAX_BACKTRACKS: usize = 40;

/// The minimiser's state.
#[derive(Debug, Clone)]
pub struct Lbfgs {
    opts: Options,
    /// The last accepted point, its value and gradient (`None` before the first evaluation).
    x: Vec<f64>,
    fx: Option<(f64, Vec<f64>)>,
    /// Correction pairs (s, y, 1 / s.y), oldest first.
    pairs: VecDeque<(Vec<f64>, Vec<f64>, f64)>,
    /// The search direction and the step tried along it.
    dir: Vec<f64>,
    step: f64,
    backtracks: usize,
    /// The point to evaluate next.
    trial: Vec<f64>,
    /// Accepted steps so far.
    pub iterations: usize,
    /// Objective evaluations so far.
    pub evaluations: usize,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn max_abs(a: &[f64]) -> f64 {
    a.iter().fold(0.0, |m, x| m.max(x.abs()))
}

impl Lbfgs {
    /// Starts at `x0`.
    pub fn new(x0: Vec<f64>, opts: Options) -> Self {
        Self {
            opts,
            x: x0.clone(),
            fx: None,
            pairs: VecDeque::new(),
            dir: Vec::new(),
            step: 0.0,
            backtracks: 0,
            trial: x0,
            iterations: 0,
            evaluations: 0,
        }
    }

    /// Where to evaluate next.
    pub fn point(&self) -> &[f64] {
        &self.trial
    }

    /// The best point found so far (the last accepted one).
    pub fn best(&self) -> &[f64] {
        &self.x
    }

    /// The objective at [`Lbfgs::best`] (`None` before the first evaluation).
    pub fn best_value(&self) -> Option<f64> {
        self.fx.as_ref().map(|f| f.0)
    }

    /// `-H g`, H the L-BFGS inverse-Hessian approximation (two-loop recursion).
    fn direction(&self, g: &[f64]) -> Vec<f64> {
        let mut q: Vec<f64> = g.to_vec();
        let mut alphas = Vec::with_capacity(self.pairs.len());
        for (s, y, rho) in self.pairs.iter().rev() {
            let a = rho * dot(s, &q);
            q.iter_mut().zip(y).for_each(|(qi, yi)| *qi -= a * yi);
            alphas.push(a);
        }
        // Without pairs yet, the first step has unit length.
        let gamma = self.pairs.back().map_or_else(|| 1.0 / dot(g, g).sqrt().max(1e-12), |(s, y, _)| dot(s, y) / dot(y, y));
        q.iter_mut().for_each(|qi| *qi *= gamma);
        for ((s, y, rho), a) in self.pairs.iter().zip(alphas.into_iter().rev()) {
            let b = rho * dot(y, &q);
            q.iter_mut().zip(s).for_each(|(qi, si)| *qi += (a - b) * si);
        }
        q.iter_mut().for_each(|qi| *qi = -*qi);
        q
    }

    fn start_line_search(&mut self) {
        let g = &self.fx.as_ref().expect("evaluated").1;
        let mut dir = self.direction(g);
        if dot(&dir, g) >= 0.0 {
            // Not a descent direction (the approximation went bad): restart from the gradient.
            self.pairs.clear();
            dir = self.direction(g);
        }
        self.dir = dir;
        self.step = 1.0;
        self.backtracks = 0;
        self.trial = self.x.iter().zip(&self.dir).map(|(x, d)| x + self.step * d).collect();
    }

    /// Reports the objective `value` and its `grad` at [`Lbfgs::point`].
    pub fn tell(&mut self, value: f64, grad: Vec<f64>) -> Next {
        self.evaluations += 1;
        let Some((f0, g0)) = self.fx.take() else {
            // The starting point.
            self.x = self.trial.clone();
            let done = max_abs(&grad) <= self.opts.grad_tol;
            self.fx = Some((value, grad));
            if done || !value.is_finite() {
                return Next::Done(Stop::Converged);
            }
            self.start_line_search();
            return Next::Evaluate;
        };
        let slope = dot(&g0, &self.dir);
        let finite = value.is_finite() && grad.iter().all(|g| g.is_finite());
        // Armijo's sufficient decrease; or, once the decrease is below the objective's rounding
        // error, Hager & Zhang's approximate Wolfe condition, which trusts the gradient (accurate
        // to its own precision) where the value no longer resolves the step.
        let armijo = value <= f0 + ARMIJO * self.step * slope;
        let approx_wolfe = value <= f0 + self.opts.value_noise * f0.abs().max(1.0) && dot(&grad, &self.dir) <= APPROX_WOLFE * slope;
        if !finite || !(armijo || approx_wolfe) {
            self.fx = Some((f0, g0));
            self.backtracks += 1;
            if self.backtracks > MAX_BACKTRACKS {
                return Next::Done(Stop::LineSearchFailed);
            }
            self.step *= 0.5;
            self.trial = self.x.iter().zip(&self.dir).map(|(x, d)| x + self.step * d).collect();
            return Next::Evaluate;
        }
        // Accept the step.
        let s: Vec<f64> = self.trial.iter().zip(&self.x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = grad.iter().zip(&g0).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        if sy > 1e-12 * dot(&y, &y).max(f64::MIN_POSITIVE) {
            if self.pairs.len() == self.opts.memory {
                self.pairs.pop_front();
            }
            self.pairs.push_back((s, y, 1.0 / sy));
        }
        self.x = self.trial.clone();
        self.iterations += 1;
        let converged = max_abs(&grad) <= self.opts.grad_tol;
        self.fx = Some((value, grad));
        if converged {
            return Next::Done(Stop::Converged);
        }
        if self.iterations >= self.opts.max_iter {
            return Next::Done(Stop::MaxIter);
        }
        self.start_line_search();
        Next::Evaluate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(x0: Vec<f64>, f: impl Fn(&[f64]) -> (f64, Vec<f64>)) -> (Vec<f64>, Stop) {
        let mut opt = Lbfgs::new(x0, Options { grad_tol: 1e-10, value_noise: 1e-15, ..Options::default() });
        loop {
            let (v, g) = f(opt.point());
            if let Next::Done(stop) = opt.tell(v, g) {
                return (opt.best().to_vec(), stop);
            }
        }
    }

    #[test]
    fn minimises_rosenbrock() {
        let (x, stop) = run(vec![-1.2, 1.0], |x| {
            let (a, b) = (x[0], x[1]);
            let v = (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2);
            (v, vec![-2.0 * (1.0 - a) - 400.0 * a * (b - a * a), 200.0 * (b - a * a)])
        });
        assert_eq!(stop, Stop::Converged);
        assert!((x[0] - 1.0).abs() < 1e-6 && (x[1] - 1.0).abs() < 1e-6, "{x:?}");
    }

    #[test]
    fn minimises_an_ill_conditioned_quadratic() {
        let scales: Vec<f64> = (0..20).map(|i| 10f64.powf(i as f64 / 5.0)).collect();
        let (x, _) = run(vec![1.0; 20], |x| {
            let v = x.iter().zip(&scales).map(|(x, s)| 0.5 * s * (x - 3.0).powi(2)).sum();
            (v, x.iter().zip(&scales).map(|(x, s)| s * (x - 3.0)).collect())
        });
        assert!(x.iter().all(|v| (v - 3.0).abs() < 1e-8), "{x:?}");
    }
}
