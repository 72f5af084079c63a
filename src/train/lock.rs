//! The lock on a training output folder: one `glimpse train` at a time writes its checkpoints and
//! `metrics.jsonl` there. The lock is the file `OUT/.glimpse-train.lock`, created exclusively
//! (`create_new`), naming its run (pid, host, start time) and held with an advisory file lock for
//! the run's life; it is removed when the run ends, fails or is stopped by Ctrl-C ([`RunLock`]'s
//! `Drop`). A lock left by a run that died (kill -9, a crash) is taken over with a warning when
//! that is provable: no process holds its file lock, and its pid is on this host and gone.
//! Anything else is refused with [`Error::Locked`].

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{ErrorKind, Read, Seek, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The lock file's name inside the output folder.
pub const LOCK_FILE: &str = ".glimpse-train.lock";

/// Who holds a lock: the lock file's JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// Process id of the run.
    pub pid: u32,
    /// Host name of its machine ("" when unknown).
    pub host: String,
    /// Start time, seconds since 1970 (UTC).
    pub started: u64,
}

impl Holder {
    /// This process, now.
    pub fn this_process() -> Self {
        let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Self { pid: std::process::id(), host: host_name(), started }
    }

    /// "pid 123 on host h, started 2026-05-02 10:00:00 UTC".
    pub fn describe(&self) -> String {
        let host = if self.host.is_empty() { String::new() } else { format!(" on host {}", self.host) };
        format!("pid {}{host}, started {}", self.pid, utc(self.started))
    }

    /// Whether the run is provably gone: it ran on this host, which has `/proc` (Linux), and its
    /// pid is not there. Unknown (another host, no `/proc`) counts as alive.
    pub fn is_dead(&self) -> bool {
        self.host == host_name() && Path::new("/proc/self").exists() && !Path::new(&format!("/proc/{}", self.pid)).exists()
    }
}

/// The machine's host name ("" when it cannot be read).
fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()))
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default()
}

/// `secs` since 1970 as "YYYY-MM-DD HH:MM:SS UTC" (the civil-from-days algorithm of
/// H. Hinnant, proleptic Gregorian calendar).
fn utc(secs: u64) -> String {
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC", rem / 3600, rem / 60 % 60, rem % 60)
}

/// A held lock on an output folder; dropping it removes the lock file.
#[derive(Debug)]
pub struct RunLock {
    path: PathBuf,
    /// Open for the run's life: it carries the advisory lock.
    file: File,
}

impl RunLock {
    /// Locks output folder `out` (created when absent) for this process, taking over a lock left
    /// by a dead run (with a warning on stderr); refuses with [`Error::Locked`] when another run
    /// may be alive.
    pub fn acquire(out: &Path) -> Result<Self> {
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        let path = out.join(LOCK_FILE);
        // Each round either creates the file or inspects the existing one; a lock removed in
        // between (its run just ended) makes another round.
        for _ in 0..5 {
            match OpenOptions::new().read(true).write(true).create_new(true).open(&path) {
                Ok(file) => return Self::hold(path, file),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::io(&path, e)),
            }
            if let Some(lock) = Self::take_over(out, &path)? {
                return Ok(lock);
            }
        }
        Err(locked(out, &path, "a lock file that keeps appearing and disappearing".into()))
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Locks the freshly created `file` and writes this process into it.
    fn hold(path: PathBuf, file: File) -> Result<Self> {
        // Blocking is brief: only a run inspecting the new file (and refusing) can hold it now.
        // Filesystems without advisory locks fall back on the pid alone.
        let _ = file.lock();
        // Made first, so that a failed write (a full disk) removes the file again.
        let lock = Self { path, file };
        write_holder(&lock.file, &lock.path)?;
        Ok(lock)
    }

    /// Inspects the existing lock file `path`: takes it over when its run is provably dead,
    /// refuses when not; `None` when the file went away meanwhile.
    fn take_over(out: &Path, path: &Path) -> Result<Option<Self>> {
        let mut file = match OpenOptions::new().read(true).write(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path, e)),
        };
        let mut text = String::new();
        file.read_to_string(&mut text).map_err(|e| Error::io(path, e))?;
        let holder = serde_json::from_str::<Holder>(&text);
        match file.try_lock() {
            Err(TryLockError::WouldBlock) => {
                let who = holder.map_or_else(|_| "a run still starting".into(), |h| h.describe());
                return Err(locked(out, path, who));
            }
            Ok(()) if !same_file(&file, path) => return Ok(None),
            Ok(()) | Err(TryLockError::Error(_)) => {}
        }
        let holder = holder.map_err(|e| locked(out, path, format!("unreadable lock file: {e}")))?;
        if !holder.is_dead() {
            return Err(locked(out, path, holder.describe()));
        }
        eprintln!("warning: {}: taking over the lock of a run that is no longer running ({})", path.display(), holder.describe());
        let lock = Self { path: path.to_path_buf(), file };
        write_holder(&lock.file, &lock.path)?;
        Ok(Some(lock))
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Removes the lock of output folder `out` if this process holds it: for exits that skip
/// `Drop` (a second Ctrl-C).
pub fn release_if_ours(out: &Path) {
    let path = out.join(LOCK_FILE);
    let ours = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str::<Holder>(&t).ok())
        .is_some_and(|h| h.pid == std::process::id() && h.host == host_name());
    if ours {
        let _ = std::fs::remove_file(path);
    }
}

/// Replaces the contents of the lock `file` with this process.
fn write_holder(mut file: &File, path: &Path) -> Result<()> {
    let json = serde_json::to_string(&Holder::this_process()).unwrap_or_default();
    let io = |e| Error::io(path, e);
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    file.write_all(json.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

/// Whether the open `file` is still the one at `path` (a run that ended may have removed it
/// and another created a new one since it was opened).
fn same_file(file: &File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), std::fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        path.exists()
    }
}

fn locked(out: &Path, lock: &Path, holder: String) -> Error {
    Error::Locked { folder: out.display().to_string(), lock: lock.display().to_string(), holder }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400 + 3661), "2000-02-29 01:01:01 UTC");
        assert_eq!(utc(1_767_225_599), "2025-12-31 23:59:59 UTC");
    }
}
