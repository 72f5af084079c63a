//! HF `CLIPModel`: the two towers, their projections into the shared space, and `logit_scale`.
//!
//! Either tower may be left out when loading (captioning needs no text tower, and the page
//! then downloads none of it).

pub mod encoder;
pub mod text;
pub mod vision;

use burn::module::{Module, Param};
use burn::tensor::Tensor;

use crate::error::{Error, Result};
use crate::hf::{ClipConfig, Weights};
use crate::model::nn::{Layout, Linear, linear};
pub use text::{ClipTextTransformer, TextOutput};
pub use vision::{ClipVisionTransformer, VisionOutput};

/// Which towers to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Towers {
    /// Both (zero-shot classification, search, CLIPScore).
    Both,
    /// Only the vision tower and its projection (captioning, image embeddings).
    Vision,
    /// Only the text tower and its projection.
    Text,
}

impl Towers {
    fn vision(self) -> bool {
        self != Towers::Text
    }
    fn text(self) -> bool {
        self != Towers::Vision
    }

    /// Whether a checkpoint key belongs to the towers asked for (used to skip downloads/reads).
    pub fn wants(self, key: &str) -> bool {
        let vision = key.starts_with("vision_model.") || key.starts_with("visual_projection.");
        let text = key.starts_with("text_model.") || key.starts_with("text_projection.");
        key == "logit_scale" || (vision && self.vision()) || (text && self.text())
    }
}

/// `CLIPModel`.
#[derive(Module, Debug)]
pub struct ClipModel {
    pub text_model: Option<ClipTextTransformer>,
    pub vision_model: Option<ClipVisionTransformer>,
    /// `visual_projection` `[d_vision -> projection_dim]`, no bias.
    pub visual_projection: Option<Linear>,
    /// `text_projection` `[d_text -> projection_dim]`, no bias.
    pub text_projection: Option<Linear>,
    /// `logit_scale` (a log; the logits use its exp).
    pub logit_scale: Param<Tensor<1>>,
}

/// L2-normalises the rows of `[n, e]`.
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().square().sum_dim(1).sqrt(); // [n, 1]
    x / norm
}

impl ClipModel {
    /// Builds the towers asked for from `w`; call [`Weights::finish`] afterwards to get every
    /// problem with the checkpoint at once.
    pub fn load(w: &mut Weights, c: &ClipConfig, towers: Towers) -> Self {
        let e = c.projection_dim;
        // Checkpoints store it as a 0-d scalar; [] and [1] are accepted alike.
        let logit_scale = w.take("logit_scale", [1]);
        Self {
            vision_model: towers.vision().then(|| ClipVisionTransformer::load(w, "vision_model", &c.vision)),
            visual_projection: towers.vision().then(|| linear(w, "visual_projection", c.vision.tower.hidden_size, e, false, Layout::OutIn)),
            text_model: towers.text().then(|| ClipTextTransformer::load(w, "text_model", &c.text)),
            text_projection: towers.text().then(|| linear(w, "text_projection", c.text.tower.hidden_size, e, false, Layout::OutIn)),
            logit_scale: Param::from_tensor(logit_scale.reshape([1])),
        }
    }

    /// The vision tower, or an error naming what is missing.
    pub fn vision(&self) -> Result<(&ClipVisionTransformer, &Linear)> {
        match (&self.vision_model, &self.visual_projection) {
            (Some(v), Some(p)) => Ok((v, p)),
            _ => Err(Error::usage("this model was loaded without its vision tower")),
        }
    }

    /// The text tower, or an error naming what is missing.
    pub fn text(&self) -> Result<(&ClipTextTransformer, &Linear)> {
        match (&self.text_model, &self.text_projection) {
            (Some(t), Some(p)) => Ok((t, p)),
            _ => Err(Error::usage("this model was loaded without its text tower")),
        }
    }

    /// Vision tower forward on normalised pixels `[b, c, s, s]`.
    pub fn vision_forward(&self, pixels: Tensor<4>, keep_attentions: bool) -> Result<VisionOutput> {
        Ok(self.vision()?.0.forward(pixels, keep_attentions))
    }

    /// Projected, L2-normalised image embeddings `[b, e]` (HF's `image_embeds`).
    pub fn image_embeds(&self, pixels: Tensor<4>) -> Result<Tensor<2>> {
        let (v, proj) = self.vision()?;
        Ok(l2_normalize(proj.forward(v.forward(pixels, false).pooled)))
    }

    /// Projected, L2-normalised text embeddings `[b, e]` (HF's `text_embeds`).
    pub fn text_embeds(&self, ids: &[Vec<u32>]) -> Result<Tensor<2>> {
        let (t, proj) = self.text()?;
        Ok(l2_normalize(proj.forward(t.forward(ids, false).pooled)))
    }

    /// `exp(logit_scale)`, the temperature of the logits.
    pub fn logit_scale_exp(&self) -> Tensor<1> {
        self.logit_scale.val().exp()
    }
}
