//! CLIPScore (Hessel et al. 2021): `2.5 * max(cos(image, "A photo depicts " + caption), 0)`.
//! The seed report's course variant uses no prefix; both are available.

/// Hessel et al.'s text prefix.
pub const CLIPSCORE_PREFIX: &str = "A photo depicts ";

/// The cosine of one normalised image embedding and one normalised text embedding (f64 sum).
pub fn cosine(image: &[f32], text: &[f32]) -> f64 {
    image.iter().zip(text).map(|(a, b)| f64::from(*a) * f64::from(*b)).sum()
}

/// CLIPScore of one normalised image embedding and one normalised text embedding: negative
/// cosines score 0.
pub fn clip_score(image: &[f32], text: &[f32]) -> f64 {
    2.5 * cosine(image, text).max(0.0)
}

/// CLIPScore of each (image, caption) pair with `clip`, the caption prefixed by `prefix`.
pub async fn clip_scores(
    clip: &crate::task::embed::Clip,
    images: &[&image::RgbImage],
    captions: &[String],
    prefix: &str,
) -> crate::error::Result<Vec<f64>> {
    let texts: Vec<String> = captions.iter().map(|c| format!("{prefix}{c}")).collect();
    let t = clip.embed_texts(&texts).await?;
    let i = clip.embed_images(images).await?;
    Ok(i.iter().zip(&t).map(|(a, b)| clip_score(a, b)).collect())
}
