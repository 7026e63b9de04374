//! Snapshots on disk: written atomically (a temporary file created mode 0600 in the same
//! directory, flushed and fsynced, then renamed over the old one, then the directory fsynced),
//! so a crash leaves either the previous snapshot or the new one, never half of one.
//!
//! Failures are never silent: each is counted and kept in [`SnapshotHealth`] (which `/healthz`
//! and `/metrics` read) until the next successful save, with the OS error's own words. A
//! snapshot that cannot be read at start is moved aside ([`StateDir::restore`]), never
//! overwritten.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use pgscope_exporters::{read_snapshot, write_snapshot, Snapshot, SnapshotError, StatsSource};

#[cfg(test)]
mod tests;

/// The mode snapshot files are created with: they hold query text, so only the owner reads them.
pub const SNAPSHOT_MODE: u32 = 0o600;

/// The snapshot's file name inside the state directory.
pub const SNAPSHOT_FILE: &str = "pgscope-snapshot.json";

/// Why a snapshot could not be saved or loaded.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// A filesystem operation failed.
    #[error("{action} {}: {cause}", path.display())]
    Io {
        /// What was being done ("cannot write").
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// The error.
        cause: std::io::Error,
    },
    /// The file is not a snapshot this pgscope reads.
    #[error("{}: {cause}", path.display())]
    Snapshot {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        cause: SnapshotError,
    },
    /// Saving is off because an unreadable snapshot could not be moved aside (saving would
    /// overwrite the history it may still hold).
    #[error("not saving over the unreadable snapshot {}: {reason}", path.display())]
    Blocked {
        /// The unreadable snapshot.
        path: PathBuf,
        /// Why it is still there.
        reason: String,
    },
}

fn io<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> PersistError + 'a {
    move |cause| PersistError::Io {
        action,
        path: path.to_owned(),
        cause,
    }
}

/// Writes a file atomically: `write` fills a temporary file next to `path`, which then replaces
/// `path`.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> Result<(), PersistError>,
) -> Result<(), PersistError> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map_or_else(|| "snapshot".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    // A leftover of a crash with the same process id: `create_new` below must create the file
    // so that it gets the mode (an existing file keeps its own).
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(SNAPSHOT_MODE)
            .open(&tmp)
            .map_err(io("cannot create", &tmp))?;
        let mut writer = BufWriter::new(file);
        write(&mut writer)?;
        let file = writer
            .into_inner()
            .map_err(|e| io("cannot write", &tmp)(e.into_error()))?;
        file.sync_all().map_err(io("cannot sync", &tmp))?;
        std::fs::rename(&tmp, path).map_err(io("cannot rename to", path))?;
        // Make the rename itself durable.
        if let Ok(dir) = File::open(&dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Saves `source` as a snapshot at `path`, atomically.
pub fn save(path: &Path, source: &dyn StatsSource) -> Result<(), PersistError> {
    write_atomic(path, |writer| {
        write_snapshot(source, &mut *writer).map_err(|cause| match cause {
            SnapshotError::Io(cause) => io("cannot write", path)(cause),
            cause => PersistError::Snapshot {
                path: path.to_owned(),
                cause,
            },
        })?;
        writer.flush().map_err(io("cannot write", path))
    })
}

/// Loads the snapshot at `path`; `Ok(None)` if there is none.
pub fn load(path: &Path) -> Result<Option<Snapshot>, PersistError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("cannot open", path)(e)),
    };
    read_snapshot(std::io::BufReader::new(file))
        .map(Some)
        .map_err(|cause| match cause {
            SnapshotError::Io(cause) => io("cannot read", path)(cause),
            cause => PersistError::Snapshot {
                path: path.to_owned(),
                cause,
            },
        })
}

/// An unreadable snapshot found at start and where it was moved.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SetAside {
    /// Where it is now (`<name>.corrupt-<UTC timestamp>`).
    pub moved_to: PathBuf,
    /// Why it could not be read.
    pub error: String,
}

/// What `/healthz` says about snapshots.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SnapshotReport {
    /// `ok`, `degraded` (the last save failed, or the snapshot at start was unreadable, until
    /// the next successful save) or `off` (no state directory).
    pub status: &'static str,
    /// The last failure, with the OS error (`No space left on device`); `None` once a save
    /// succeeds again.
    pub error: Option<String>,
    /// Snapshots that could not be saved or read since start.
    pub failures: u64,
    /// The unreadable snapshot found at start, if there was one.
    pub set_aside: Option<SetAside>,
}

#[derive(Debug, Default)]
struct HealthState {
    error: Option<String>,
    set_aside: Option<SetAside>,
}

/// Snapshot failures, shared by the state directory (which records them) and the admin API
/// (which reports them).
#[derive(Debug, Default)]
pub struct SnapshotHealth {
    enabled: bool,
    failures: AtomicU64,
    state: Mutex<HealthState>,
}

impl SnapshotHealth {
    /// Health for a process without a state directory: always `off`, never failing.
    pub fn off() -> Arc<SnapshotHealth> {
        Arc::new(SnapshotHealth::default())
    }

    fn state(&self) -> std::sync::MutexGuard<'_, HealthState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Snapshots that could not be saved or read since start.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// The report for `/healthz`.
    pub fn report(&self) -> SnapshotReport {
        let state = self.state();
        SnapshotReport {
            status: match (self.enabled, &state.error) {
                (false, _) => "off",
                (true, None) => "ok",
                (true, Some(_)) => "degraded",
            },
            error: state.error.clone(),
            failures: self.failures(),
            set_aside: state.set_aside.clone(),
        }
    }

    /// Records a failure; true if it differs from the one before (worth a log line).
    fn failed(&self, error: &PersistError) -> bool {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let text = error.to_string();
        let mut state = self.state();
        let new = state.error.as_deref() != Some(text.as_str());
        state.error = Some(text);
        new
    }

    /// Records a success; true if it ends a run of failures.
    fn succeeded(&self) -> bool {
        self.state().error.take().is_some()
    }
}

/// A state directory: where the recorder's snapshot lives.
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
    health: Arc<SnapshotHealth>,
    /// Set when an unreadable snapshot could not be moved aside: saving would overwrite it.
    blocked: Arc<Mutex<Option<String>>>,
}

/// `20261207T160633Z` for now (UTC).
fn utc_stamp() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let text = pgscope_exporters::time::rfc3339(ms);
    let seconds = text.split('.').next().unwrap_or(&text);
    format!("{}Z", seconds.replace(['-', ':'], ""))
}

impl StateDir {
    /// Uses `dir`, creating it if needed.
    pub fn open(dir: &Path) -> Result<StateDir, PersistError> {
        std::fs::create_dir_all(dir).map_err(io("cannot create state directory", dir))?;
        Ok(StateDir {
            dir: dir.to_owned(),
            health: Arc::new(SnapshotHealth {
                enabled: true,
                ..SnapshotHealth::default()
            }),
            blocked: Arc::default(),
        })
    }

    /// The snapshot's path.
    pub fn snapshot_path(&self) -> PathBuf {
        self.dir.join(SNAPSHOT_FILE)
    }

    /// The failures of this directory's saves and loads.
    pub fn health(&self) -> &Arc<SnapshotHealth> {
        &self.health
    }

    /// Saves `source` there, recording the outcome in [`StateDir::health`] and logging a
    /// failure (once per distinct error) and the recovery after one.
    pub fn save(&self, source: &dyn StatsSource) -> Result<(), PersistError> {
        let path = self.snapshot_path();
        let blocked = {
            let mut blocked = self.blocked.lock().unwrap_or_else(PoisonError::into_inner);
            // Someone moved the unreadable snapshot away: saving may resume.
            if blocked.is_some() && !path.exists() {
                *blocked = None;
            }
            blocked.clone()
        };
        let result = match blocked {
            Some(reason) => Err(PersistError::Blocked {
                path: path.clone(),
                reason,
            }),
            None => save(&path, source),
        };
        match &result {
            Ok(()) if self.health.succeeded() => {
                log::info!("snapshots are saved again to {}", path.display());
            }
            Ok(()) => {}
            Err(error) if self.health.failed(error) => {
                log::error!("cannot save the recorder's snapshot (recorder degraded): {error}");
            }
            Err(error) => log::debug!("cannot save the recorder's snapshot: {error}"),
        }
        result
    }

    /// Loads the snapshot there, if any.
    pub fn load(&self) -> Result<Option<Snapshot>, PersistError> {
        load(&self.snapshot_path())
    }

    /// Loads the snapshot at start. One that cannot be read (corrupt, truncated, another
    /// version, an I/O error) is renamed to `<name>.corrupt-<UTC timestamp>`, logged and
    /// reported, so the next save does not overwrite it; if it cannot be renamed either,
    /// saving stays off.
    pub fn restore(&self) -> Option<Snapshot> {
        let error = match self.load() {
            Ok(snapshot) => return snapshot,
            Err(error) => error,
        };
        let path = self.snapshot_path();
        self.health.failed(&error);
        let stamp = utc_stamp();
        let mut aside = path.with_file_name(format!("{SNAPSHOT_FILE}.corrupt-{stamp}"));
        let mut n = 1;
        while aside.exists() {
            aside = path.with_file_name(format!("{SNAPSHOT_FILE}.corrupt-{stamp}-{n}"));
            n += 1;
        }
        match std::fs::rename(&path, &aside) {
            Ok(()) => {
                log::error!(
                    "the saved snapshot cannot be read ({error}); moved it to {} and starting \
                     with an empty recorder",
                    aside.display()
                );
                let mut state = self.health.state();
                state.error = Some(format!(
                    "the snapshot at start could not be read ({error}); moved to {}",
                    aside.display()
                ));
                state.set_aside = Some(SetAside {
                    moved_to: aside,
                    error: error.to_string(),
                });
            }
            Err(cause) => {
                let reason = format!(
                    "it cannot be read ({error}) nor moved to {}: {cause}",
                    aside.display()
                );
                log::error!(
                    "{}: {reason}; snapshots will not be saved until it is moved away",
                    path.display()
                );
                self.health.state().error = Some(format!("{}: {reason}", path.display()));
                *self.blocked.lock().unwrap_or_else(PoisonError::into_inner) = Some(reason);
            }
        }
        None
    }
}
