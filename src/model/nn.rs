//! Leaf layers built from checkpoint tensors: [`Linear`] (in both HF layouts, and packed for the
//! CPU: column blocks for native threads, panels for the page) and LayerNorm (burn's; only its
//! loading lives here).

use burn::module::{Module, Param};
use burn::nn::{LayerNorm, LayerNormConfig};
use burn::tensor::{Device, Tensor, TensorData};

use crate::hf::Weights;
use crate::model::panels;

/// How a checkpoint stores a linear layer's weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `torch.nn.Linear`: `[out, in]` (CLIP, ViT). Transposed on load.
    OutIn,
    /// GPT-2's `Conv1D`: `[in, out]`, as burn stores it.
    InOut,
}

/// A linear layer, `y = x W + b`: burn's `Linear` (same fields, same record), and two packed
/// forms for the CPU backend: column blocks for native threads, and in the page panels of 8
/// columns that [`panels::product`] multiplies (gemm's WebAssembly kernel is slower, see there).
///
/// Why packed: on a few rows (ViT-B/32's 50 tokens) gemm's own threading leaves the second core
/// idle (50 x 768 x 3072: 4.75 ms on 1 thread or 2 on an AVX2 EPYC, PyTorch 2.68 ms on 2), while
/// the same product cut into column blocks, each contiguous, runs one block per thread (2.51 ms;
/// `benches/matmul_cpu.rs`). A view of the plain weight's columns does not help (4.61 ms): the
/// blocks must be laid out as such, so a frozen layer is packed once at load, in place of its
/// plain weight (no second copy).
#[derive(Module, Debug)]
pub struct Linear {
    /// `[in, out]`; packed into `blocks`: `[blocks * in, out / blocks]`, the output's column
    /// blocks one below another.
    pub weight: Param<Tensor<2>>,
    /// `[out]`.
    pub bias: Option<Param<Tensor<1>>>,
    /// How many column blocks `weight` holds (1: plain `[in, out]`).
    #[module(skip)]
    pub blocks: usize,
    /// Whether the blocks are [`panels`] (8 columns wide) that `forward` multiplies with
    /// [`panels::product`] on the CPU backend.
    #[module(skip)]
    pub panels: bool,
}

impl Linear {
    /// A plain layer over `weight` `[in, out]`.
    pub fn new(weight: Tensor<2>, bias: Option<Tensor<1>>) -> Self {
        Self { weight: Param::from_tensor(weight), bias: bias.map(Param::from_tensor), blocks: 1, panels: false }
    }

    /// `[in, out]`, whatever the layout.
    pub fn dims(&self) -> [usize; 2] {
        let [r, c] = self.weight.dims();
        [r / self.blocks, c * self.blocks]
    }

    /// `[.., in]` -> `[.., out]`.
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let x = match self.panels {
            true => match self.panel_product(x) {
                Ok(y) => return y,
                Err(x) => x, // not on the CPU backend in f32: the blocks' product below
            },
            false => x,
        };
        let bias = self.bias.as_ref().map(Param::val);
        if self.blocks == 1 {
            return burn::tensor::module::linear(x, self.weight.val(), bias);
        }
        let dims = x.dims();
        let [d_in, d_out] = self.dims();
        let rows = dims[..D - 1].iter().product();
        let w = self.weight.val().reshape([self.blocks, d_in, d_out / self.blocks]); // [p, in, out/p]
        // burn's CPU backend runs a batch of 4 or more products one per thread.
        let y = x.reshape([1, rows, d_in]).matmul(w); // [p, rows, out/p]
        let y = y.swap_dims(0, 1).reshape([rows, d_out]); // [rows, out]
        let y = match bias {
            Some(b) => y + b.unsqueeze_dim::<2>(0), // [rows, out]
            None => y,
        };
        let mut out = dims;
        out[D - 1] = d_out;
        y.reshape(out) // [.., out]
    }

    /// `[.., in]` -> `[.., out]` by [`panels::product`] on the CPU backend in f32 (not autodiff),
    /// over the pool when it has several threads; `x` back elsewhere.
    fn panel_product<const D: usize>(&self, x: Tensor<D>) -> Result<Tensor<D>, Tensor<D>> {
        let f32_bias = self.bias.as_ref().is_none_or(|b| crate::pool::on_cpu_f32(&b.val()));
        if !crate::pool::on_cpu_f32(&x) || !crate::pool::on_cpu_f32(&self.weight.val()) || !f32_bias {
            return Err(x);
        }
        let device = x.device();
        let mut dims = x.dims();
        let [d_in, d_out] = self.dims();
        let x = crate::pool::cpu_f32(x);
        let w = crate::pool::cpu_f32(self.weight.val());
        let b = self.bias.as_ref().map(|b| crate::pool::cpu_f32(b.val()));
        let parallel = crate::pool::cpu_threads(&device) > 1;
        let y = panels::product(crate::pool::f32s(&x), d_in, crate::pool::f32s(&w), b.as_ref().map(crate::pool::f32s), parallel); // [rows, out]
        dims[D - 1] = d_out;
        Ok(Tensor::from_data(TensorData::new(y, dims), &device)) // [.., out]
    }

    /// This layer packed for `device` (see [`Linear`]). In the page: into panels on the CPU
    /// backend (its output a multiple of 8 wide), one thread or several. Natively: only on the
    /// CPU backend with more than one thread, into as many blocks as threads and at least 4
    /// (fewer would make burn thread inside each block's product instead), each at least 8
    /// columns wide. Layers that narrow (test fixtures) gain nothing from it and lose nothing
    /// measurable, and so the fixtures' comparisons with HF run the packed path. Pack only frozen
    /// layers: a packed weight is not `[in, out]`. `GLIMPSE_NO_PACK=1` turns packing off, to
    /// measure what it does.
    pub fn packed_for(self, device: &Device) -> Self {
        if self.blocks != 1 || std::env::var_os("GLIMPSE_NO_PACK").is_some_and(|v| v != "0") {
            return self;
        }
        if cfg!(target_family = "wasm") {
            return self.panelled_for(device);
        }
        let [_, d_out] = self.dims();
        let threads = crate::pool::cpu_threads(device);
        if threads < 2 {
            return self;
        }
        match (4..=threads.next_power_of_two().max(4)).rev().find(|p| d_out % p == 0 && d_out / p >= 8) {
            Some(p) => self.packed(p),
            None => self,
        }
    }

    /// This plain layer with its weight in `p` column blocks (`out` a multiple of `p`).
    pub fn packed(self, p: usize) -> Self {
        assert!(self.blocks == 1 && self.dims()[1] % p == 0, "packing a packed layer, or into blocks that do not divide its output");
        Self { weight: self.weight.map(|w| pack(w, p)), blocks: p, ..self }
    }

    /// In the page, on the CPU backend: this plain layer in panels (its output a multiple of 8
    /// wide), for [`panels::product`]; elsewhere (natively, wgpu) as it is. Pack only layers that
    /// will not train: a packed weight is not `[in, out]` (the page trains none of these).
    pub fn panelled_for(self, device: &Device) -> Self {
        match self.blocks == 1 && panels_on(device, self.dims()[1]) {
            true => self.panelled(),
            false => self,
        }
    }

    /// This plain layer in panels of 8 columns, multiplied by [`panels::product`] on the CPU
    /// (`out` a multiple of 8).
    pub fn panelled(self) -> Self {
        let [_, d_out] = self.dims();
        Self { panels: true, ..self.packed(d_out / panels::WIDTH) }
    }

    /// `W + delta` (`delta` `[in, out]`), in this layer's layout.
    pub fn plus(self, delta: Tensor<2>) -> Self {
        let delta = if self.blocks == 1 { delta } else { pack(delta, self.blocks) };
        Self { weight: self.weight.map(|w| w + delta), ..self }
    }
}

/// Whether a layer `d_out` wide goes into panels on `device`: in the page, on the CPU backend.
fn panels_on(device: &Device, d_out: usize) -> bool {
    cfg!(target_family = "wasm") && *device == Device::flex() && !device.is_autodiff() && d_out % panels::WIDTH == 0
}

/// `w` `[in, out]` as `p` column blocks one below another: `[p * in, out / p]`.
fn pack(w: Tensor<2>, p: usize) -> Tensor<2> {
    let [d_in, d_out] = w.dims();
    let w = w.reshape([d_in, p, d_out / p]).swap_dims(0, 1); // [p, in, out/p]
    w.reshape([p * d_in, d_out / p]) // [p * in, out/p], contiguous (a permuted view cannot stay a view)
}

/// Loads `{prefix}.weight` (and `{prefix}.bias` when `bias`) as a plain [`Linear`] ([in, out]).
pub fn linear(w: &mut Weights, prefix: &str, d_in: usize, d_out: usize, bias: bool, layout: Layout) -> Linear {
    let key = format!("{prefix}.weight");
    let weight = match layout {
        Layout::OutIn => row_major(w.take(&key, [d_out, d_in]).transpose()), // [in, out]
        Layout::InOut => w.take(&key, [d_in, d_out]),
    };
    let bias = bias.then(|| w.take(&format!("{prefix}.bias"), [d_out]));
    Linear::new(weight, bias)
}

/// Loads a frozen layer as [`linear`] does, packed for the weights' device as
/// [`Linear::packed_for`] packs it; in the page's panels straight from a `[out, in]` checkpoint
/// ([`panels::pack_out_in`]: one copy of each weight at load instead of two).
pub fn packed_linear(w: &mut Weights, prefix: &str, d_in: usize, d_out: usize, bias: bool, layout: Layout) -> Linear {
    let device = w.device().clone();
    if layout != Layout::OutIn || !panels_on(&device, d_out) {
        return linear(w, prefix, d_in, d_out, bias, layout).packed_for(&device);
    }
    let raw = w.take(&format!("{prefix}.weight"), [d_out, d_in]);
    let bias = bias.then(|| w.take(&format!("{prefix}.bias"), [d_out]));
    if !crate::pool::on_cpu_f32(&raw) {
        return Linear::new(row_major(raw.transpose()), bias).panelled(); // two copies, as `linear`
    }
    let packed = panels::pack_out_in(crate::pool::f32s(&crate::pool::cpu_f32(raw)), d_in); // [out/8 * in, 8]
    let weight = Tensor::from_data(TensorData::new(packed, [d_out / panels::WIDTH * d_in, panels::WIDTH]), &device);
    Linear { weight: Param::from_tensor(weight), bias: bias.map(Param::from_tensor), blocks: d_out / panels::WIDTH, panels: true }
}

/// `t` laid out row-major in a buffer of its own (one copy, at load). A transposed view is
/// copied by burn's `linear` on every call on the CPU backend: for a ViT-B/16 encoder that was
/// 35% of its time.
pub fn row_major(t: Tensor<2>) -> Tensor<2> {
    let [r, c] = t.dims();
    t.reshape([r * c]).reshape([r, c]) // a transposed matrix flattened cannot stay a view
}

/// Loads `{prefix}.weight` / `{prefix}.bias` as a LayerNorm over `d` features.
pub fn layer_norm(w: &mut Weights, prefix: &str, d: usize, eps: f64) -> LayerNorm {
    let mut ln = LayerNormConfig::new(d).with_epsilon(eps).init(w.device());
    ln.gamma = Param::from_tensor(w.take(&format!("{prefix}.weight"), [d]));
    ln.beta = Some(Param::from_tensor(w.take(&format!("{prefix}.bias"), [d])));
    ln
}

#[cfg(test)]
mod tests {
    use burn::module::Module;
    use burn::tensor::{Device, Distribution, Tensor};

    use super::Linear;

    fn random<const D: usize>(shape: [usize; D]) -> Tensor<D> {
        Tensor::random(shape, Distribution::Normal(0.0, 1.0), &Device::flex())
    }

    fn max_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
        (a - b).abs().max().into_scalar()
    }

    /// A packed layer computes what the plain one does, on 2-D and 3-D inputs, from one row to
    /// many, with and without bias, and after `plus` (LoRA's merge).
    #[test]
    fn packed_equals_plain() {
        for (d_in, d_out, p, bias) in [(24, 64, 4, true), (37, 96, 8, false), (8, 32, 4, true)] {
            let plain = Linear::new(random([d_in, d_out]), bias.then(|| random([d_out])));
            let packed = plain.clone().packed(p);
            assert_eq!(packed.dims(), [d_in, d_out]);
            assert_eq!(packed.weight.dims(), [p * d_in, d_out / p]);
            for rows in [1, 3, 50] {
                let x = random([rows, d_in]); // [rows, in]
                assert!(max_diff(plain.forward(x.clone()), packed.forward(x)) < 1e-5, "{d_in} x {d_out} in {p}, {rows} rows");
                let x = random([2, rows, d_in]); // [2, rows, in]
                let (a, b) = (plain.forward(x.clone()), packed.forward(x));
                assert_eq!(b.dims(), [2, rows, d_out]);
                assert!(max_diff(a, b) < 1e-5);
            }
            let delta = random([d_in, d_out]);
            let (plain, packed) = (plain.plus(delta.clone()), packed.plus(delta));
            let x = random([5, d_in]);
            assert!(max_diff(plain.forward(x.clone()), packed.forward(x)) < 1e-5, "after plus");
        }
    }

    /// A layer in panels computes what the plain one does through `panels::product` on the CPU
    /// backend (natively too, its portable lanes), on 2-D and 3-D inputs, with and without bias,
    /// after `plus`, and through burn's product on an autodiff device.
    #[test]
    fn panels_equal_plain() {
        for (d_in, d_out, bias) in [(24, 64, true), (37, 96, false), (8, 8, true), (768, 256, true)] {
            let plain = Linear::new(random([d_in, d_out]), bias.then(|| random([d_out])));
            let panelled = plain.clone().panelled();
            let tol = 1e-5 + 1e-6 * d_in as f32; // sums of d_in N(0, 1) products, in another order
            assert!(panelled.panels);
            assert_eq!(panelled.dims(), [d_in, d_out]);
            assert_eq!(panelled.weight.dims(), [d_in * d_out / 8, 8]);
            for rows in [1, 3, 4, 50] {
                let x = random([rows, d_in]); // [rows, in]
                assert!(max_diff(plain.forward(x.clone()), panelled.forward(x)) < tol, "{d_in} x {d_out}, {rows} rows");
                let x = random([2, rows, d_in]); // [2, rows, in]
                let (a, b) = (plain.forward(x.clone()), panelled.forward(x));
                assert_eq!(b.dims(), [2, rows, d_out]);
                assert!(max_diff(a, b) < tol);
            }
            let x = random([5, d_in]);
            let ad = Device::flex().autodiff();
            let (pa, pp) = (plain.clone().to_device(&ad), panelled.clone().to_device(&ad));
            let (ya, yp) = (pa.forward(x.clone().to_device(&ad)), pp.forward(x.to_device(&ad)));
            assert!(max_diff(ya.to_device(&Device::flex()), yp.to_device(&Device::flex())) < tol, "autodiff");
            let delta = random([d_in, d_out]);
            let (plain, panelled) = (plain.plus(delta.clone()), panelled.plus(delta));
            let x = random([5, d_in]);
            assert!(max_diff(plain.forward(x.clone()), panelled.forward(x)) < 2.0 * tol, "after plus");
        }
    }
}
