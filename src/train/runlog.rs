//! `OUT/metrics.jsonl`, the run's log: one JSON record per optimiser step (`"type": "step"`)
//! and per epoch (`"type": "epoch"`), each with the `"step"` it was written at, plus the series
//! `OUT/plot.png` draws from them. A run keeps only the records of the steps its starting
//! checkpoint holds (none for a fresh run), so the log never repeats a step.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::plot::plot;
use crate::error::{Error, Result};

/// The log's file name inside the output folder.
pub const METRICS_FILE: &str = "metrics.jsonl";

/// `OUT/metrics.jsonl` open for appending, and the plotted series.
pub struct MetricsLog {
    path: PathBuf,
    file: std::fs::File,
    /// Training loss per step.
    loss: Vec<(f64, f64)>,
    /// Validation loss per step.
    val_loss: Vec<(f64, f64)>,
    /// Validation CIDEr-D per epoch.
    cider: Vec<(f64, f64)>,
    /// Validation CLIPScore per epoch.
    clipscore: Vec<(f64, f64)>,
}

impl MetricsLog {
    /// Opens the log of output folder `out` for a run starting after optimiser step `step`
    /// (0: a fresh run, which starts an empty log). Records of later steps (logged by a run
    /// killed after its last checkpoint, which the resumed run logs again) and lines that are
    /// not JSON (one cut short by kill -9) are dropped first, the file rewritten atomically;
    /// the kept records refill the series.
    pub fn open(out: &Path, step: usize) -> Result<Self> {
        let path = out.join(METRICS_FILE);
        let kept = if step == 0 { vec![] } else { keep_until(&path, step)? };
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(step == 0)
            .append(step > 0)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let mut log = Self { path, file, loss: vec![], val_loss: vec![], cider: vec![], clipscore: vec![] };
        kept.iter().for_each(|r| log.add(r));
        Ok(log)
    }

    /// Appends `record` to the file and its values to the series.
    pub fn write(&mut self, record: &Value) -> Result<()> {
        // One write per line, so a killed run leaves at most one partial line.
        self.file.write_all(format!("{record}\n").as_bytes()).map_err(|e| Error::io(&self.path, e))?;
        self.add(record);
        Ok(())
    }

    /// Draws the series into `out/plot.png`.
    pub fn save_plot(&self, out: &Path) -> Result<()> {
        let p = out.join("plot.png");
        plot(&self.loss, &self.val_loss, &self.cider, &self.clipscore).save(&p).map_err(|e| match e {
            image::ImageError::IoError(e) => Error::io(&p, e),
            other => Error::image(p.display().to_string(), other.to_string()),
        })
    }

    /// Adds the plotted values of one record to the series.
    fn add(&mut self, record: &Value) {
        let num = |k: &str| record[k].as_f64();
        let points = match record["type"].as_str() {
            Some("step") => vec![(&mut self.loss, num("step"), num("loss"))],
            Some("epoch") => vec![
                (&mut self.val_loss, num("step"), num("val_loss")),
                (&mut self.cider, num("epoch"), num("CIDEr")),
                (&mut self.clipscore, num("epoch"), num("CLIPScore")),
            ],
            _ => vec![],
        };
        for (series, x, y) in points {
            if let (Some(x), Some(y)) = (x, y) {
                series.push((x, y));
            }
        }
    }
}

/// The JSON lines of `text` whose `"step"` is at most `step`, as text and parsed.
fn lines_until(text: &str, step: usize) -> Vec<(&str, Value)> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok().map(|v| (l, v)))
        .filter(|(_, v)| v["step"].as_u64().is_some_and(|s| s <= step as u64))
        .collect()
}

/// Cuts the log at `path` to its records up to `step` (rewritten through a temporary file and
/// a rename, so a crash leaves the old or the new log, never half of one); returns them.
fn keep_until(path: &Path, step: usize) -> Result<Vec<Value>> {
    let text = match std::fs::metadata(path) {
        // Lossy: a line cut inside a character by kill -9 is dropped below, not an error.
        Ok(m) if m.is_file() => String::from_utf8_lossy(&std::fs::read(path).map_err(|e| Error::io(path, e))?).into_owned(),
        Ok(_) => return Err(Error::usage(format!("{}: not a regular file (the training log)", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(Error::io(path, e)),
    };
    let kept = lines_until(&text, step);
    // Also rewritten when the last line lacks its newline: the next record would join it.
    if kept.len() != text.lines().count() || !text.is_empty() && !text.ends_with('\n') {
        let tmp = path.with_extension("jsonl.tmp");
        let body: String = kept.iter().map(|(l, _)| format!("{l}\n")).collect();
        std::fs::write(&tmp, body).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    }
    Ok(kept.into_iter().map(|(_, v)| v).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_steps_and_cut_lines_are_dropped() {
        let text = "{\"type\":\"step\",\"step\":1}\n{\"type\":\"epoch\",\"step\":2}\n{\"type\":\"step\",\"step\":3}\n{\"type\":\"st";
        let kept: Vec<&str> = lines_until(text, 2).into_iter().map(|(l, _)| l).collect();
        assert_eq!(kept, ["{\"type\":\"step\",\"step\":1}", "{\"type\":\"epoch\",\"step\":2}"]);
        assert!(lines_until(text, 0).is_empty());
    }
}
