//! `preprocessor_config.json` of a `CLIPImageProcessor` (or the older `CLIPFeatureExtractor`),
//! and of a `ViTImageProcessor` / `ViTFeatureExtractor` (a bare `size` is then both sides,
//! bilinear by default).
//!
//! Two formats exist on the hub: legacy (`"size": 224, "crop_size": 224`) and current
//! (`"size": {"shortest_edge": 224}`, `"crop_size": {"height": 224, "width": 224}`). When the
//! file is absent the recipe is derived from the vision tower's `image_size`.

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::hf::bounds;

/// How the shorter side is brought to size before cropping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resize {
    /// Scale so that the shorter side is this many pixels (aspect kept), CLIP's recipe.
    ShortestEdge(u32),
    /// Scale to exactly this height and width (aspect not kept).
    Exact { height: u32, width: u32 },
}

/// PIL resampling filters (the `resample` field uses PIL's numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// `PIL.Image.BILINEAR` (2).
    Bilinear,
    /// `PIL.Image.BICUBIC` (3), CLIP's.
    Bicubic,
}

/// The preprocessing recipe: resize, center crop, rescale to [0, 1], normalise per channel.
#[derive(Debug, Clone, PartialEq)]
pub struct PreprocessConfig {
    /// Resize step, or `None` when `do_resize` is false.
    pub resize: Option<Resize>,
    /// Resampling filter of the resize.
    pub filter: Filter,
    /// Center crop to (height, width), or `None` when `do_center_crop` is false.
    pub crop: Option<(u32, u32)>,
    /// Factor applied to the 0..255 values (`rescale_factor`, 1/255).
    pub rescale_factor: f64,
    /// Per-channel mean subtracted after rescaling (`image_mean`).
    pub mean: [f32; 3],
    /// Per-channel standard deviation divided by (`image_std`).
    pub std: [f32; 3],
}

/// Largest resize or crop side accepted from a config (CLIP uses 224 or 336; the largest vision
/// towers on the hub use around 1000): a config asking for more is refused before any buffer
/// of that size exists.
pub const MAX_SIDE: u32 = bounds::MAX_IMAGE_SIZE as u32;

/// OpenAI CLIP's normalisation constants.
pub const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// OpenAI CLIP's normalisation constants.
pub const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];

impl PreprocessConfig {
    /// CLIP's recipe for a tower with this input size (what openai's files say).
    pub fn clip(image_size: u32) -> Self {
        Self {
            resize: Some(Resize::ShortestEdge(image_size)),
            filter: Filter::Bicubic,
            crop: Some((image_size, image_size)),
            rescale_factor: 1.0 / 255.0,
            mean: CLIP_MEAN,
            std: CLIP_STD,
        }
    }

    /// The side length the model sees after preprocessing.
    pub fn output_size(&self) -> Option<(u32, u32)> {
        match (self.crop, self.resize) {
            (Some(c), _) => Some(c),
            (None, Some(Resize::Exact { height, width })) => Some((height, width)),
            _ => None,
        }
    }

    /// Parses the JSON text; `path` names the file in errors.
    pub fn from_json_str(text: &str, path: &str) -> Result<Self> {
        let v: Value = serde_json::from_str(text).map_err(|e| Error::config(path, format!("invalid JSON: {e}")))?;
        let Value::Object(o) = v else {
            return Err(Error::config(path, "expected a JSON object"));
        };
        let flag = |k: &str| match o.get(k) {
            None | Some(Value::Null) => Ok(true),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(Error::config(path, format!("`{k}` must be true or false, found {v}"))),
        };
        let size_err = |k: &str, v: &Value| Error::config(path, format!("cannot read `{k}`: {v}"));
        // A side length: a whole number from 1 to MAX_SIDE.
        let side = |k: &str, v: Option<u64>| -> Result<u32> {
            let n = v.ok_or_else(|| Error::config(path, format!("cannot read `{k}`: expected a whole number of pixels")))?;
            Ok(bounds::check(path, k, n, 1..=u64::from(MAX_SIDE))? as u32)
        };
        let hw = |k: &str, s: &Map<String, Value>| -> Result<(u32, u32)> {
            Ok((
                side(&format!("{k}.height"), s.get("height").and_then(Value::as_u64))?,
                side(&format!("{k}.width"), s.get("width").and_then(Value::as_u64))?,
            ))
        };

        let kind = ["image_processor_type", "feature_extractor_type"].iter().find_map(|k| o.get(*k).and_then(Value::as_str)).unwrap_or("");
        let vit = kind.starts_with("ViT");
        let resize = if !flag("do_resize")? {
            None
        } else {
            match o.get("size") {
                None => return Err(Error::config(path, "missing `size`")),
                Some(Value::Number(n)) => {
                    let n = side("size", n.as_u64())?;
                    // A bare number means the shorter side for CLIP, but both sides for ViT.
                    Some(if vit { Resize::Exact { height: n, width: n } } else { Resize::ShortestEdge(n) })
                }
                Some(Value::Object(s)) => {
                    if let Some(e) = s.get("shortest_edge") {
                        Some(Resize::ShortestEdge(side("size.shortest_edge", e.as_u64())?))
                    } else {
                        let (h, w) = hw("size", s)?;
                        Some(Resize::Exact { height: h, width: w })
                    }
                }
                Some(other) => return Err(size_err("size", other)),
            }
        };
        let crop = if !flag("do_center_crop")? {
            None
        } else {
            match o.get("crop_size") {
                None => None,
                Some(Value::Number(n)) => {
                    let c = side("crop_size", n.as_u64())?;
                    Some((c, c))
                }
                Some(Value::Object(s)) => Some(hw("crop_size", s)?),
                Some(other) => return Err(size_err("crop_size", other)),
            }
        };
        let filter = match o.get("resample").and_then(Value::as_u64) {
            None if vit => Filter::Bilinear,
            None | Some(3) => Filter::Bicubic,
            Some(2) => Filter::Bilinear,
            Some(other) => {
                return Err(Error::config(path, format!("unsupported `resample` {other} (2 bilinear, 3 bicubic)")));
            }
        };
        let triple = |k: &str, d: [f32; 3]| -> Result<[f32; 3]> {
            match o.get(k) {
                None => Ok(d),
                Some(Value::Array(a)) if a.len() == 3 && a.iter().all(Value::is_number) => {
                    Ok([0, 1, 2].map(|i| a[i].as_f64().unwrap_or(0.0) as f32))
                }
                Some(Value::Number(n)) => Ok([n.as_f64().unwrap_or(0.0) as f32; 3]),
                Some(v) => Err(Error::config(path, format!("`{k}` must be three numbers, found {v}"))),
            }
        };
        let normalize = flag("do_normalize")?;
        let rescale = flag("do_rescale")?;
        let rescale_factor = match o.get("rescale_factor") {
            None | Some(Value::Null) => 1.0 / 255.0,
            Some(v) => match v.as_f64() {
                Some(f) if f > 0.0 && f <= 1.0 => f,
                _ => return Err(Error::config(path, format!("`rescale_factor` is {v}: expected a number in (0, 1], usually 1/255"))),
            },
        };
        let cfg = Self {
            resize,
            filter,
            crop,
            rescale_factor: if rescale { rescale_factor } else { 1.0 },
            mean: if normalize { triple("image_mean", if vit { [0.5; 3] } else { CLIP_MEAN })? } else { [0.0; 3] },
            std: if normalize { triple("image_std", if vit { [0.5; 3] } else { CLIP_STD })? } else { [1.0; 3] },
        };
        if cfg.std.iter().any(|&s| !(s.is_finite() && s > 0.0)) {
            return Err(Error::config(path, format!("`image_std` must be three positive numbers, found {:?}", cfg.std)));
        }
        if cfg.mean.iter().any(|m| !m.is_finite()) {
            return Err(Error::config(path, format!("`image_mean` must be three finite numbers, found {:?}", cfg.mean)));
        }
        Ok(cfg)
    }

    /// Reads `preprocessor_config.json`.
    pub fn from_file(path: impl AsRef<std::path::Path>) -> Result<Self> {
        let p = path.as_ref();
        let text = std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?;
        Self::from_json_str(&text, &p.display().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_values_are_refused_by_name() {
        for (json, needle) in [
            (r#"{"size": 100000, "crop_size": 224}"#, "`size` is 100000"),
            (r#"{"size": 0}"#, "`size` is 0"),
            (r#"{"size": {"shortest_edge": 99999999999}}"#, "`size.shortest_edge` is 99999999999"),
            (r#"{"size": {"height": 224, "width": -3}}"#, "size.width"),
            (r#"{"size": 224, "crop_size": {"height": 0, "width": 224}}"#, "`crop_size.height` is 0"),
            (r#"{"size": 224, "rescale_factor": 0}"#, "`rescale_factor` is 0"),
            (r#"{"size": 224, "rescale_factor": 1e30}"#, "`rescale_factor` is 1e+30"),
            (r#"{"size": 224, "do_resize": "yes"}"#, "`do_resize` must be true or false"),
            (r#"{"size": 224, "image_std": [0.2, -1, 0.3]}"#, "`image_std` must be three positive numbers"),
        ] {
            let e = PreprocessConfig::from_json_str(json, "p/preprocessor_config.json").unwrap_err().to_string();
            assert!(e.contains("p/preprocessor_config.json") && e.contains(needle), "{json}: {e}");
        }
    }

    #[test]
    fn legacy_and_current_agree() {
        let legacy = r#"{"crop_size": 224, "do_center_crop": true, "do_normalize": true, "do_resize": true,
            "feature_extractor_type": "CLIPFeatureExtractor", "image_mean": [0.48145466, 0.4578275, 0.40821073],
            "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "size": 224}"#;
        let current = r#"{"crop_size": {"height": 224, "width": 224}, "do_center_crop": true, "do_convert_rgb": true,
            "do_normalize": true, "do_rescale": true, "do_resize": true, "image_mean": [0.48145466, 0.4578275, 0.40821073],
            "image_processor_type": "CLIPImageProcessor", "image_std": [0.26862954, 0.26130258, 0.27577711],
            "resample": 3, "rescale_factor": 0.00392156862745098, "size": {"shortest_edge": 224}}"#;
        let a = PreprocessConfig::from_json_str(legacy, "a").unwrap();
        let b = PreprocessConfig::from_json_str(current, "b").unwrap();
        assert_eq!(a, PreprocessConfig::clip(224));
        assert_eq!(b, PreprocessConfig::clip(224));
    }

    #[test]
    fn bad_size() {
        let e = PreprocessConfig::from_json_str(r#"{"size": "big"}"#, "p.json").unwrap_err();
        assert!(e.to_string().contains("size"), "{e}");
    }
}
