//! GPT-2 (HF `GPT2LMHeadModel` keys, without the `transformer.` prefix) with optional
//! cross-attention exactly as HF's `add_cross_attention=True`, LoRA on any linear layer, a KV
//! cache for self-attention, and cross-attention keys/values computed once per image.
//!
//! Block order: ln_1 -> self-attn -> residual -> ln_cross_attn -> cross-attn -> residual ->
//! ln_2 -> mlp -> residual. Conv1D weights are stored `[in, out]` (no transpose). The LM head is
//! tied to `wte`.

use burn::module::{Module, Param};
use burn::nn::LayerNorm;
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::hf::{Activation, Gpt2Config, Weights};
use crate::model::activation::activate;
use crate::model::attention::{MASKED, attend, merge_heads, split_heads};
use crate::model::dots;
use crate::model::nn::{Layout, layer_norm, linear};
use crate::model::peft::{Adapter, LoraLinear, PeftMethod, Placement, Prefix};

/// How a decoder is being built.
#[derive(Clone, Copy)]
pub struct BuildOptions<'a> {
    /// The PEFT method to build in.
    pub peft: &'a PeftMethod,
    /// Initialise what the checkpoints lack (cross-attention, LoRA) instead of reporting it
    /// missing: the start of training.
    pub fresh: bool,
    /// Whether the blocks get cross-attention.
    pub cross_attention: bool,
}

/// A Conv1D (`[in, out]`) with its LoRA. `pretrained` layers are frozen and must come from the
/// checkpoint; the others (cross-attention) are trainable and initialised when `o.fresh`.
fn conv1d(w: &mut Weights, path: &str, d_in: usize, d_out: usize, o: BuildOptions, pretrained: bool) -> LoraLinear {
    let base = if pretrained {
        linear(w, path, d_in, d_out, true, Layout::InOut).no_grad()
    } else if o.fresh && !w.contains(&format!("{path}.weight")) {
        let mut r = Weights::random(w.device(), 0.02);
        let mut l = linear(&mut r, path, d_in, d_out, true, Layout::InOut);
        // Param::from_tensor keeps the fresh tensor trainable (a mapped zeros_like would not be).
        l.bias = l.bias.map(|b| Param::from_tensor(b.val().zeros_like()));
        l
    } else {
        linear(w, path, d_in, d_out, true, Layout::InOut)
    };
    // In the page each decoder step is a product of one row: panels split it between threads.
    LoraLinear::new(base.panelled_for(w.device()), w, path, o.peft.lora(), o.fresh)
}

fn norm(w: &mut Weights, path: &str, d: usize, eps: f64, fresh: bool) -> LayerNorm {
    if fresh && !w.contains(&format!("{path}.weight")) {
        burn::nn::LayerNormConfig::new(d).with_epsilon(eps).init(w.device())
    } else {
        layer_norm(w, path, d, eps)
    }
}

/// `h.{i}.attn`: causal self-attention with fused q/k/v (`c_attn` `[n, 3n]`).
#[derive(Module, Debug)]
pub struct Gpt2Attention {
    pub c_attn: LoraLinear,
    pub c_proj: LoraLinear,
    /// Houlsby placement: an adapter on the attention output.
    pub adapter: Option<Adapter>,
    pub n_head: usize,
}

/// `h.{i}.crossattention`: queries from the decoder, keys/values from the image.
#[derive(Module, Debug)]
pub struct Gpt2CrossAttention {
    /// `[n, n]`.
    pub q_attn: LoraLinear,
    /// `[n, 2n]`: keys and values of the encoder states.
    pub c_attn: LoraLinear,
    pub c_proj: LoraLinear,
    pub n_head: usize,
}

/// `h.{i}.mlp`.
#[derive(Module, Debug)]
pub struct Gpt2Mlp {
    pub c_fc: LoraLinear,
    pub c_proj: LoraLinear,
    /// An adapter on the MLP output (before the residual).
    pub adapter: Option<Adapter>,
    #[module(skip)]
    pub act: Activation,
}

/// `h.{i}`.
#[derive(Module, Debug)]
pub struct Gpt2Block {
    pub ln_1: LayerNorm,
    pub attn: Gpt2Attention,
    pub ln_cross_attn: Option<LayerNorm>,
    pub crossattention: Option<Gpt2CrossAttention>,
    pub ln_2: LayerNorm,
    pub mlp: Gpt2Mlp,
}

/// GPT-2 with its LM head (tied to `wte`).
#[derive(Module, Debug)]
pub struct Gpt2 {
    /// `wte.weight` `[vocab, n]`.
    pub wte: Param<Tensor<2>>,
    /// `wpe.weight` `[positions, n]`.
    pub wpe: Param<Tensor<2>>,
    pub h: Vec<Gpt2Block>,
    pub ln_f: LayerNorm,
    /// Prefix tuning's virtual keys/values.
    pub prefix: Option<Prefix>,
    #[module(skip)]
    pub config: Gpt2Config,
}

/// Per-layer keys/values kept between decoding steps, for a batch of sequences.
#[derive(Clone)]
pub struct DecoderCache {
    /// Self-attention keys and values so far, `[b, h, t, dh]` each.
    pub self_kv: Vec<Option<(Tensor<4>, Tensor<4>)>>,
    /// Cross-attention keys and values of the image, `[b, h, src, dh]` each.
    pub cross_kv: Vec<Option<(Tensor<4>, Tensor<4>)>>,
    /// Tokens already processed.
    pub len: usize,
    /// Virtual prefix tokens at the front of every self-attention cache.
    pub prefix_len: usize,
}

impl DecoderCache {
    /// Keeps rows `index` of every cached tensor (beam search reordering).
    pub fn select(&self, index: &[usize]) -> Self {
        let Some(device) = self.cross_kv.iter().chain(&self.self_kv).flatten().next().map(|(k, _)| k.device()) else {
            return self.clone();
        };
        let idx = Tensor::<1, Int>::from_data(TensorData::new(index.iter().map(|&i| i as i64).collect::<Vec<_>>(), [index.len()]), &device);
        let pick = |kv: &Option<(Tensor<4>, Tensor<4>)>| {
            kv.as_ref().map(|(k, v)| (k.clone().select(0, idx.clone()), v.clone().select(0, idx.clone())))
        };
        Self {
            self_kv: self.self_kv.iter().map(pick).collect(),
            cross_kv: self.cross_kv.iter().map(pick).collect(),
            len: self.len,
            prefix_len: self.prefix_len,
        }
    }
}

/// What one decoder pass returns.
pub struct DecoderOutput {
    /// `[b, t, vocab]`.
    pub logits: Tensor<3>,
    /// Per layer `[b, h, t, src]` cross-attention probabilities (when asked for).
    pub cross_attentions: Vec<Tensor<4>>,
}

impl Gpt2Attention {
    fn forward(&self, x: Tensor<3>, past: &mut Option<(Tensor<4>, Tensor<4>)>, mask: Tensor<4>) -> Tensor<3> {
        let n = x.dims()[2];
        let qkv = self.c_attn.forward(x); // [b, t, 3n]
        let mut parts = qkv.split(n, 2);
        let v = split_heads(parts.pop().expect("v"), self.n_head); // [b, h, t, dh]
        let k = split_heads(parts.pop().expect("k"), self.n_head); // [b, h, t, dh]
        let q = split_heads(parts.pop().expect("q"), self.n_head); // [b, h, t, dh]
        let (k, v) = match past.take() {
            Some((pk, pv)) => (Tensor::cat(vec![pk, k], 2), Tensor::cat(vec![pv, v], 2)), // [b, h, past+t, dh]
            None => (k, v),
        };
        *past = Some((k.clone(), v.clone()));
        let scale = ((n / self.n_head) as f64).powf(-0.5);
        let (ctx, _) = attend(q, k, v, Some(mask), scale, false); // [b, h, t, dh]
        let out = self.c_proj.forward(merge_heads(ctx)); // [b, t, n]
        match &self.adapter {
            Some(a) => a.forward(out),
            None => out,
        }
    }
}

impl Gpt2CrossAttention {
    /// Keys/values of the encoder states `[b, src, n]`: `[b, h, src, dh]` each.
    pub fn kv(&self, enc: Tensor<3>) -> (Tensor<4>, Tensor<4>) {
        let n = enc.dims()[2];
        let mut kv = self.c_attn.forward(enc).split(n, 2); // 2 x [b, src, n]
        let v = split_heads(kv.pop().expect("v"), self.n_head);
        let k = split_heads(kv.pop().expect("k"), self.n_head);
        (k, v)
    }

    fn forward(&self, x: Tensor<3>, kv: &(Tensor<4>, Tensor<4>), keep: bool) -> (Tensor<3>, Option<Tensor<4>>) {
        let n = x.dims()[2];
        let q = split_heads(self.q_attn.forward(x), self.n_head); // [b, h, t, dh]
        let scale = ((n / self.n_head) as f64).powf(-0.5);
        let (ctx, w) = attend(q, kv.0.clone(), kv.1.clone(), None, scale, keep); // [b, h, t, dh]
        (self.c_proj.forward(merge_heads(ctx)), w) // [b, t, n]
    }
}

impl Gpt2Block {
    fn load(w: &mut Weights, p: &str, c: &Gpt2Config, o: BuildOptions) -> Self {
        let (n, eps) = (c.n_embd, c.layer_norm_epsilon);
        let adapter = |w: &mut Weights, at: &str, on: bool| {
            o.peft.adapter().filter(|_| on).map(|a| Adapter::load(w, &format!("{p}.{at}.adapter"), n, a, o.fresh))
        };
        let houlsby = o.peft.adapter().is_some_and(|a| a.placement == Placement::Houlsby);
        let cross = o.cross_attention.then(|| Gpt2CrossAttention {
            q_attn: conv1d(w, &format!("{p}.crossattention.q_attn"), n, n, o, false),
            c_attn: conv1d(w, &format!("{p}.crossattention.c_attn"), n, 2 * n, o, false),
            c_proj: conv1d(w, &format!("{p}.crossattention.c_proj"), n, n, o, false),
            n_head: c.n_head,
        });
        Self {
            ln_1: layer_norm(w, &format!("{p}.ln_1"), n, eps).no_grad(),
            attn: Gpt2Attention {
                c_attn: conv1d(w, &format!("{p}.attn.c_attn"), n, 3 * n, o, true),
                c_proj: conv1d(w, &format!("{p}.attn.c_proj"), n, n, o, true),
                adapter: adapter(w, "attn", houlsby),
                n_head: c.n_head,
            },
            ln_cross_attn: o.cross_attention.then(|| norm(w, &format!("{p}.ln_cross_attn"), n, eps, o.fresh)),
            crossattention: cross,
            ln_2: layer_norm(w, &format!("{p}.ln_2"), n, eps).no_grad(),
            mlp: Gpt2Mlp {
                c_fc: conv1d(w, &format!("{p}.mlp.c_fc"), n, c.n_inner, o, true),
                c_proj: conv1d(w, &format!("{p}.mlp.c_proj"), c.n_inner, n, o, true),
                adapter: adapter(w, "mlp", true),
                act: c.activation,
            },
        }
    }

    fn forward(
        &self,
        x: Tensor<3>,
        self_kv: &mut Option<(Tensor<4>, Tensor<4>)>,
        cross_kv: Option<&(Tensor<4>, Tensor<4>)>,
        mask: Tensor<4>,
        keep: bool,
    ) -> (Tensor<3>, Option<Tensor<4>>) {
        let x = x.clone() + self.attn.forward(self.ln_1.forward(x), self_kv, mask); // [b, t, n]
        let (x, weights) = match (&self.crossattention, &self.ln_cross_attn, cross_kv) {
            (Some(ca), Some(ln), Some(kv)) => {
                let (a, w) = ca.forward(ln.forward(x.clone()), kv, keep);
                (x + a, w) // [b, t, n]
            }
            _ => (x, None),
        };
        (x.clone() + self.mlp.forward(self.ln_2.forward(x)), weights) // [b, t, n]
    }
}

impl Gpt2Mlp {
    /// `[b, t, n]` -> `[b, t, n]` (with the adapter, when there is one).
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let h = activate(self.act, self.c_fc.forward(x)); // [b, t, inner]
        let out = self.c_proj.forward(h); // [b, t, n]
        match &self.adapter {
            Some(a) => a.forward(out),
            None => out,
        }
    }
}

/// Additive mask `[1, 1, t, past + t]` for `t` new tokens after `past` cached ones.
fn step_mask(t: usize, past: usize, device: &Device) -> Tensor<4> {
    let total = past + t;
    let data: Vec<f32> = (0..t * total).map(|i| if i % total > past + i / total { MASKED } else { 0.0 }).collect();
    Tensor::<2>::from_data(TensorData::new(data, [t, total]), device).reshape([1, 1, t, total])
}

/// The LM head, tied to the embedding: `x` `[rows, n]` times `wte` `[vocab, n]` transposed, `[rows,
/// vocab]`. In the page on the CPU by [`dots::product_t`], which reads `wte`'s rows in place and
/// splits them between the pool's threads (gemm's one-row path runs on one thread); elsewhere
/// burn's matmul with the transpose as a strided view (burn's `linear` on a 3-D input would copy
/// the 154 MB transpose on every step on the CPU backend).
fn lm_head(x: Tensor<2>, wte: Tensor<2>) -> Tensor<2> {
    if cfg!(target_family = "wasm") && crate::pool::on_cpu_f32(&x) && crate::pool::on_cpu_f32(&wte) {
        let device = x.device();
        let [rows, n] = x.dims();
        let vocab = wte.dims()[0];
        let (x, wte) = (crate::pool::cpu_f32(x), crate::pool::cpu_f32(wte));
        let parallel = crate::pool::cpu_threads(&device) > 1;
        let y = dots::product_t(crate::pool::f32s(&x), n, crate::pool::f32s(&wte), parallel); // [rows, vocab]
        return Tensor::from_data(TensorData::new(y, [rows, vocab]), &device);
    }
    x.matmul(wte.transpose()) // [rows, vocab]
}

impl Gpt2 {
    /// Loads GPT-2 from `w` (keys without the `transformer.` prefix). The pre-trained parts are
    /// frozen; cross-attention and LoRA stay trainable.
    pub fn load(w: &mut Weights, c: &Gpt2Config, o: BuildOptions) -> Self {
        let n = c.n_embd;
        Self {
            wte: Param::from_tensor(w.take("wte.weight", [c.vocab_size, n])).set_require_grad(false),
            wpe: Param::from_tensor(w.take("wpe.weight", [c.n_positions, n])).set_require_grad(false),
            h: (0..c.n_layer).map(|i| Gpt2Block::load(w, &format!("h.{i}"), c, o)).collect(),
            ln_f: layer_norm(w, "ln_f", n, c.layer_norm_epsilon).no_grad(),
            prefix: o.peft.prefix().map(|p| Prefix::load(w, p, c.n_layer, n, c.n_head, o.fresh)),
            config: c.clone(),
        }
    }

    /// An empty cache, with the cross-attention keys/values of `encoder` `[b, src, n]`.
    pub fn start(&self, encoder: Option<Tensor<3>>) -> DecoderCache {
        let cross_kv = self
            .h
            .iter()
            .map(|b| match (&b.crossattention, &encoder) {
                (Some(ca), Some(e)) => Some(ca.kv(e.clone())),
                _ => None,
            })
            .collect();
        let b = encoder.as_ref().map_or(1, |e| e.dims()[0]);
        let (self_kv, prefix_len) = match &self.prefix {
            Some(p) => (p.layer_kvs(b).into_iter().map(Some).collect(), p.embedding.dims()[0]),
            None => (vec![None; self.h.len()], 0),
        };
        DecoderCache { self_kv, cross_kv, len: 0, prefix_len }
    }

    /// Runs `ids` `[b, t]` after what `cache` holds and appends them to it.
    pub fn forward(&self, ids: &[Vec<u32>], cache: &mut DecoderCache, keep_cross: bool) -> DecoderOutput {
        let device = self.wte.val().device();
        let (b, t) = (ids.len(), ids[0].len());
        let n = self.config.n_embd;
        let flat: Vec<i64> = ids.iter().flatten().map(|&i| i64::from(i)).collect();
        let flat = Tensor::<1, Int>::from_data(TensorData::new(flat, [b * t]), &device);
        let tok = self.wte.val().select(0, flat).reshape([b, t, n]); // [b, t, n]
        let pos = self.wpe.val().slice([cache.len..cache.len + t, 0..n]).unsqueeze_dim::<3>(0); // [1, t, n]
        let mut x = tok + pos; // [b, t, n]
        let mask = step_mask(t, cache.prefix_len + cache.len, &device);
        let mut cross = Vec::new();
        for (i, block) in self.h.iter().enumerate() {
            let (y, a) = block.forward(x, &mut cache.self_kv[i], cache.cross_kv[i].as_ref(), mask.clone(), keep_cross);
            x = y;
            cross.extend(a);
        }
        cache.len += t;
        let x = self.ln_f.forward(x); // [b, t, n]
        let [b, t, n] = x.dims();
        let logits = lm_head(x.reshape([b * t, n]), self.wte.val()); // [b*t, vocab]
        let logits = logits.reshape([b, t, self.config.vocab_size]); // [b, t, vocab]
        DecoderOutput { logits, cross_attentions: cross }
    }

    /// Folds the prefix MLP away (inference keeps only its output).
    pub fn fold_prefix(mut self) -> Self {
        self.prefix = self.prefix.map(Prefix::fold);
        self
    }

    /// Folds every LoRA update into its base weight.
    pub fn merge_lora(mut self) -> Self {
        self.h = self.h.into_iter().map(merge_block).collect();
        self
    }
}

fn merge_block(b: Gpt2Block) -> Gpt2Block {
    Gpt2Block {
        attn: Gpt2Attention { c_attn: b.attn.c_attn.merge(), c_proj: b.attn.c_proj.merge(), ..b.attn },
        crossattention: b.crossattention.map(|c| Gpt2CrossAttention {
            q_attn: c.q_attn.merge(),
            c_attn: c.c_attn.merge(),
            c_proj: c.c_proj.merge(),
            n_head: c.n_head,
        }),
        mlp: Gpt2Mlp { c_fc: b.mlp.c_fc.merge(), c_proj: b.mlp.c_proj.merge(), ..b.mlp },
        ..b
    }
}
