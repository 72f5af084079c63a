//! `text_model`: token + position embeddings, causal encoder, final LN, pooling at `<|endoftext|>`.

use burn::module::{Module, Param};
use burn::nn::LayerNorm;
use burn::tensor::{Int, Tensor, TensorData};

use super::encoder::{CLIP_NAMES, ClipEncoder};
use crate::hf::{TextConfig, Weights};
use crate::model::attention::causal_mask;
use crate::model::nn::layer_norm;

/// `text_model.embeddings`.
#[derive(Module, Debug)]
pub struct ClipTextEmbeddings {
    /// `token_embedding.weight` `[vocab, d]`.
    pub token_embedding: Param<Tensor<2>>,
    /// `position_embedding.weight` `[max_positions, d]`.
    pub position_embedding: Param<Tensor<2>>,
}

/// `text_model`.
#[derive(Module, Debug)]
pub struct ClipTextTransformer {
    pub embeddings: ClipTextEmbeddings,
    pub encoder: ClipEncoder,
    pub final_layer_norm: LayerNorm,
    #[module(skip)]
    pub eos_token_id: i64,
}

/// What the text tower returns.
pub struct TextOutput {
    /// Final-normed hidden states `[b, l, d]`.
    pub last_hidden_state: Tensor<3>,
    /// The hidden state at each text's `<|endoftext|>` `[b, d]`.
    pub pooled: Tensor<2>,
    /// Per layer `[b, h, l, l]`, when asked for.
    pub attentions: Vec<Tensor<4>>,
}

impl ClipTextTransformer {
    /// Loads `{p}.*` for config `c`.
    pub fn load(w: &mut Weights, p: &str, c: &TextConfig) -> Self {
        let d = c.tower.hidden_size;
        Self {
            embeddings: ClipTextEmbeddings {
                token_embedding: Param::from_tensor(w.take(&format!("{p}.embeddings.token_embedding.weight"), [c.vocab_size, d])),
                position_embedding: Param::from_tensor(
                    w.take(&format!("{p}.embeddings.position_embedding.weight"), [c.max_position_embeddings, d]),
                ),
            },
            encoder: ClipEncoder::load(w, &format!("{p}.encoder"), &c.tower, &CLIP_NAMES),
            final_layer_norm: layer_norm(w, &format!("{p}.final_layer_norm"), d, c.tower.layer_norm_eps),
            eos_token_id: c.eos_token_id,
        }
    }

    /// Position pooled for each text: the first `eos_token_id`, or (legacy configs whose
    /// eos_token_id is 2, as transformers does) the argmax of the ids.
    fn pool_positions(&self, ids: &[Vec<u32>]) -> Vec<usize> {
        ids.iter()
            .map(|row| {
                let argmax = || row.iter().enumerate().max_by_key(|(i, v)| (**v, std::cmp::Reverse(*i))).map_or(0, |(i, _)| i);
                if self.eos_token_id == 2 {
                    argmax()
                } else {
                    row.iter().position(|&t| i64::from(t) == self.eos_token_id).unwrap_or_else(argmax)
                }
            })
            .collect()
    }

    /// Token ids (one row per text, any lengths up to the position table; padded here) ->
    /// hidden states and pooled embeddings. Padding is safe without a mask: with the causal
    /// mask no position attends to a later one.
    pub fn forward(&self, ids: &[Vec<u32>], keep_attentions: bool) -> TextOutput {
        let device = self.embeddings.token_embedding.val().device();
        let b = ids.len();
        let l = ids.iter().map(Vec::len).max().unwrap_or(1).max(1);
        let flat: Vec<i64> = ids.iter().flat_map(|r| (0..l).map(move |i| i64::from(*r.get(i).unwrap_or(&0)))).collect();
        let flat = Tensor::<1, Int>::from_data(TensorData::new(flat, [b * l]), &device);
        let tok = self.embeddings.token_embedding.val().select(0, flat); // [b*l, d]
        let d = tok.dims()[1];
        let pos = self.embeddings.position_embedding.val().slice([0..l, 0..d]); // [l, d]
        let x = tok.reshape([b, l, d]) + pos.unsqueeze_dim::<3>(0); // [b, l, d]
        let out = self.encoder.forward(x, Some(causal_mask(l, &device)), keep_attentions);
        let hidden = self.final_layer_norm.forward(out.hidden); // [b, l, d]
        let rows: Vec<i64> = self.pool_positions(ids).iter().enumerate().map(|(i, p)| (i * l + p) as i64).collect();
        let rows = Tensor::<1, Int>::from_data(TensorData::new(rows, [b]), &device);
        let pooled = hidden.clone().reshape([b * l, d]).select(0, rows); // [b, d]
        TextOutput { last_hidden_state: hidden, pooled, attentions: out.attentions }
    }
}
