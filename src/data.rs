//! Caption datasets in the COCO / DLCV p2 format:
//! `{"images": [{"file_name", "id"}], "annotations": [{"image_id", "caption"}]}`.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::{Error, Result};

#[derive(Deserialize)]
struct RawImage {
    file_name: String,
    id: i64,
}

#[derive(Deserialize)]
struct RawAnnotation {
    image_id: i64,
    caption: String,
}

#[derive(Deserialize)]
struct RawCoco {
    images: Vec<RawImage>,
    annotations: Vec<RawAnnotation>,
}

/// One image and its reference captions.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptionedImage {
    /// `id` in the file.
    pub id: i64,
    /// `file_name` in the file (relative to the image folder).
    pub file_name: String,
    /// Its captions, in file order.
    pub captions: Vec<String>,
}

impl CaptionedImage {
    /// The file name without its extension: the key of DLCV prediction files.
    pub fn stem(&self) -> &str {
        std::path::Path::new(&self.file_name).file_stem().and_then(|s| s.to_str()).unwrap_or(&self.file_name)
    }
}

/// Parses a caption JSON; `path` names the file in errors.
pub fn parse_coco(text: &str, path: &str) -> Result<Vec<CaptionedImage>> {
    let raw: RawCoco = serde_json::from_str(text).map_err(|e| {
        Error::config(path, format!("not a COCO-style caption file ({{\"images\": [{{\"file_name\", \"id\"}}], \"annotations\": [{{\"image_id\", \"caption\"}}]}}): {e}"))
    })?;
    let mut by_id: BTreeMap<i64, CaptionedImage> = BTreeMap::new();
    for im in raw.images {
        if by_id.insert(im.id, CaptionedImage { id: im.id, file_name: im.file_name, captions: vec![] }).is_some() {
            return Err(Error::config(path, format!("image id {} appears twice", im.id)));
        }
    }
    for a in raw.annotations {
        let im = by_id
            .get_mut(&a.image_id)
            .ok_or_else(|| Error::config(path, format!("an annotation names image_id {}, which is not in `images`", a.image_id)))?;
        im.captions.push(a.caption);
    }
    if by_id.is_empty() {
        return Err(Error::config(path, "no images in this file"));
    }
    Ok(by_id.into_values().collect())
}

/// Reads a caption JSON file.
pub fn read_coco(path: &std::path::Path) -> Result<Vec<CaptionedImage>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_coco(&text, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_captions_and_names_bad_fields() {
        let ok = r#"{"images": [{"file_name": "a/000.jpg", "id": 3}], "annotations": [{"image_id": 3, "caption": "x"}, {"image_id": 3, "caption": "y"}]}"#;
        let v = parse_coco(ok, "ann.json").unwrap();
        assert_eq!((v[0].stem(), v[0].captions.len()), ("000", 2));
        let e = parse_coco(r#"{"images": [{"name": "a.jpg", "id": 1}], "annotations": []}"#, "ann.json").unwrap_err();
        assert!(e.to_string().contains("file_name"), "{e}");
        let e = parse_coco(r#"{"images": [], "annotations": [{"image_id": 9, "caption": "x"}]}"#, "ann.json").unwrap_err();
        assert!(e.to_string().contains("image_id 9"), "{e}");
    }
}
