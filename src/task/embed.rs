//! A loaded CLIP with its preprocessing and tokenizer: images and texts in, normalised
//! embeddings out (on the host, read back asynchronously so the page never blocks).

use burn::tensor::{Device, Tensor, TensorData};
use image::RgbImage;

use crate::error::{Error, Result};
use crate::hf::{ClipConfig, PreprocessConfig, Weights};
use crate::image::preprocess;
use crate::model::clip::{ClipModel, Towers};
use crate::tokenize::ClipTokenizer;

/// Images per forward pass.
pub const IMAGE_BATCH: usize = 8;
/// Texts per forward pass.
pub const TEXT_BATCH: usize = 64;

/// CLIP ready to embed.
pub struct Clip {
    /// The network.
    pub model: ClipModel,
    /// Its configuration.
    pub config: ClipConfig,
    /// The image recipe.
    pub preprocess: PreprocessConfig,
    /// The text tokenizer (absent when the text tower was not loaded).
    pub tokenizer: Option<ClipTokenizer>,
    device: Device,
}

/// Reads a tensor back to the host (asynchronously: WebGPU has no synchronous read-back).
pub async fn read_vec<const D: usize>(t: Tensor<D>) -> Result<Vec<f32>> {
    let data = t.into_data_async().await.map_err(|e| Error::Device(format!("read-back failed: {e:?}")))?;
    data.try_into_vec::<f32>().map_err(|e| Error::Device(format!("read-back failed: {e:?}")))
}

/// Reads a `[n, e]` tensor back as rows.
pub async fn read_rows(t: Tensor<2>) -> Result<Vec<Vec<f32>>> {
    let [_, e] = t.dims();
    Ok(read_vec(t).await?.chunks(e.max(1)).map(<[f32]>::to_vec).collect())
}

impl Clip {
    /// Builds from already-filled weights (see [`crate::load`]).
    pub fn from_weights(
        mut weights: Weights,
        config: ClipConfig,
        preprocess: PreprocessConfig,
        tokenizer: Option<ClipTokenizer>,
        towers: Towers,
    ) -> Result<Self> {
        let device = weights.device().clone();
        weights.check_coverage()?;
        let model = ClipModel::load(&mut weights, &config, towers);
        let unused = weights.finish()?;
        log::debug!("unused checkpoint tensors: {unused:?}");
        Ok(Self { model, config, preprocess, tokenizer, device })
    }

    /// The device the model lives on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Model input `[b, 3, s, s]` from decoded images.
    pub fn pixels(&self, images: &[&RgbImage]) -> Result<Tensor<4>> {
        let (h, w) = self
            .preprocess
            .output_size()
            .ok_or_else(|| Error::Unsupported(String::from("preprocessor config gives no fixed output size (no crop, no exact resize)")))?;
        let s = self.config.vision.image_size as u32;
        if (h, w) != (s, s) {
            return Err(Error::Unsupported(format!("preprocessing gives {h}x{w} images, the vision tower takes {s}x{s}")));
        }
        let data: Vec<f32> = images.iter().flat_map(|img| preprocess(img, &self.preprocess)).collect();
        Ok(Tensor::from_data(TensorData::new(data, [images.len(), 3, h as usize, w as usize]), &self.device))
    }

    /// Normalised image embeddings, one row per image.
    pub async fn embed_images(&self, images: &[&RgbImage]) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(images.len());
        for chunk in images.chunks(IMAGE_BATCH) {
            let pixels = self.pixels(chunk)?; // [b, 3, s, s]
            out.extend(read_rows(crate::pool::run(|| self.model.image_embeds(pixels))?).await?);
        }
        Ok(out)
    }

    /// Normalised text embeddings, one row per text.
    pub async fn embed_texts(&self, texts: &[String]) -> Result<Vec<Vec<f32>>> {
        let tok = self.tokenizer.as_ref().ok_or_else(|| Error::usage("this model was loaded without its text tower"))?;
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(TEXT_BATCH) {
            let ids = tok.encode_all(chunk)?;
            out.extend(read_rows(crate::pool::run(|| self.model.text_embeds(&ids))?).await?);
        }
        Ok(out)
    }

    /// `exp(logit_scale)`.
    pub async fn logit_scale(&self) -> Result<f32> {
        Ok(read_vec(self.model.logit_scale_exp()).await?[0])
    }
}
