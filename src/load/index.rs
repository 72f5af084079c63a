//! The index of a sharded checkpoint (`model.safetensors.index.json`,
//! `pytorch_model.bin.index.json`): which shard file holds each tensor.
//!
//! ```json
//! {"metadata": {"total_size": 1234}, "weight_map": {"a.weight": "model-00001-of-00002.safetensors", ...}}
//! ```

use std::collections::BTreeMap;

use crate::error::{Error, Result};

/// Most shards accepted (the hub's largest models have a few hundred).
pub const MAX_SHARDS: usize = 10_000;

/// A parsed shard index.
#[derive(Debug, Clone, PartialEq)]
pub struct ShardIndex {
    /// Tensor key -> position in `shards`.
    map: BTreeMap<String, usize>,
    /// Shard file names, in the order they first appear in the file names' sort (as HF numbers them).
    shards: Vec<String>,
}

impl ShardIndex {
    /// Parses the index text; `path` names it in errors. Shard names must be plain file names
    /// in the same folder (no `/`, `\` or `..`).
    pub fn parse(text: &str, path: &str) -> Result<Self> {
        let bad = |m: String| Error::config(path, m);
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
        let map = v
            .get("weight_map")
            .and_then(|m| m.as_object())
            .ok_or_else(|| bad("has no `weight_map` object (is it a shard index?)".into()))?;
        if map.is_empty() {
            return Err(bad("`weight_map` is empty".into()));
        }
        let mut names: Vec<String> = Vec::new();
        let mut keys = BTreeMap::new();
        for (key, file) in map {
            let file = file.as_str().ok_or_else(|| bad(format!("`weight_map`: tensor `{key}` maps to {file}, not a file name")))?;
            if file.is_empty() || file.contains(['/', '\\']) || file == "." || file == ".." {
                return Err(bad(format!("`weight_map`: tensor `{key}` maps to `{file}`, not a file in this folder")));
            }
            keys.insert(key.clone(), file.to_string());
            if !names.iter().any(|n| n == file) {
                names.push(file.to_string());
                if names.len() > MAX_SHARDS {
                    return Err(bad(format!("names more than {MAX_SHARDS} shards")));
                }
            }
        }
        names.sort();
        let map = keys.into_iter().map(|(k, f)| (k, names.binary_search(&f).unwrap_or(0))).collect();
        Ok(Self { map, shards: names })
    }

    /// The shard files, sorted.
    pub fn shards(&self) -> impl Iterator<Item = &str> {
        self.shards.iter().map(String::as_str)
    }

    /// The shard holding `key`, if the index lists it.
    pub fn shard_of(&self, key: &str) -> Option<&str> {
        self.map.get(key).map(|&i| self.shards[i].as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_listed_once_in_order_and_keys_find_theirs() {
        let text = r#"{"metadata": {"total_size": 8}, "weight_map": {"b": "m-00002-of-00002.safetensors", "a": "m-00001-of-00002.safetensors", "c": "m-00002-of-00002.safetensors"}}"#;
        let i = ShardIndex::parse(text, "index.json").unwrap();
        assert_eq!(i.shards().collect::<Vec<_>>(), ["m-00001-of-00002.safetensors", "m-00002-of-00002.safetensors"]);
        assert_eq!(i.shard_of("c"), Some("m-00002-of-00002.safetensors"));
        assert_eq!(i.shard_of("z"), None);
    }

    #[test]
    fn bad_indexes_are_named() {
        for (text, want) in [
            ("[]", "no `weight_map`"),
            (r#"{"weight_map": {}}"#, "empty"),
            (r#"{"weight_map": {"a": 3}}"#, "not a file name"),
            (r#"{"weight_map": {"a": "../../etc/passwd"}}"#, "not a file in this folder"),
            (r#"{"weight_map": {"a": ".."}}"#, "not a file in this folder"),
            ("{", "not JSON"),
        ] {
            let e = ShardIndex::parse(text, "x/model.safetensors.index.json").unwrap_err().to_string();
            assert!(e.contains("model.safetensors.index.json") && e.contains(want), "{text}: {e}");
        }
    }
}
