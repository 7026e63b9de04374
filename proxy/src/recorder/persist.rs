//! Snapshots on disk: written atomically (a temporary file in the same directory, flushed and
//! fsynced, then renamed over the old one, then the directory fsynced), so a crash leaves either
//! the previous snapshot or the new one, never half of one.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use pgscope_exporters::{read_snapshot, write_snapshot, Snapshot, SnapshotError, StatsSource};

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
    let result = (|| {
        let file = File::create(&tmp).map_err(io("cannot create", &tmp))?;
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
        write_snapshot(source, &mut *writer).map_err(|cause| PersistError::Snapshot {
            path: path.to_owned(),
            cause,
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
        .map_err(|cause| PersistError::Snapshot {
            path: path.to_owned(),
            cause,
        })
}

/// A state directory: where the recorder's snapshot lives.
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    /// Uses `dir`, creating it if needed.
    pub fn open(dir: &Path) -> Result<StateDir, PersistError> {
        std::fs::create_dir_all(dir).map_err(io("cannot create state directory", dir))?;
        Ok(StateDir {
            dir: dir.to_owned(),
        })
    }

    /// The snapshot's path.
    pub fn snapshot_path(&self) -> PathBuf {
        self.dir.join(SNAPSHOT_FILE)
    }

    /// Saves `source` there.
    pub fn save(&self, source: &dyn StatsSource) -> Result<(), PersistError> {
        save(&self.snapshot_path(), source)
    }

    /// Loads the snapshot there, if any.
    pub fn load(&self) -> Result<Option<Snapshot>, PersistError> {
        load(&self.snapshot_path())
    }
}
