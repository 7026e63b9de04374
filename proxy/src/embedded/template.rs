//! A cached `initdb` result, copied into each new cluster.
//!
//! `initdb` takes one to two seconds, most of a cluster's start-up; copying its result takes a
//! fraction of that. So the first cluster of a given PostgreSQL installation (and OS user)
//! runs `initdb` once into a shared template directory in the system temp dir, and every
//! cluster after it, in this process or a later one, copies the template's `data/` with
//! `cp -a` (as the server's user, so owner and modes are right) and then applies its own
//! settings. The template is built under a private name and renamed into place, so a reader
//! never sees a half-made one; when two processes race, both build one and the loser's is
//! discarded. The cache key covers the binaries' directory and the `initdb` file's size and
//! modification time, so an upgraded installation gets a fresh template.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::runner::{run_checked, Runner};
use super::{EmbeddedError, SUPERUSER};

/// The `initdb` arguments every cluster is made with (after `-D DIR`).
pub(crate) const INITDB_ARGS: [&str; 8] = [
    "-A",
    "trust",
    "-U",
    SUPERUSER,
    "--no-sync",
    "-E",
    "UTF8",
    "--no-locale",
];

/// Fills `data_dir` (which must not exist) with a fresh cluster: a copy of the cached
/// template when one can be had, else a direct `initdb`.
pub(crate) fn init_data_dir(
    bin_dir: &Path,
    runner: &Runner,
    data_dir: &Path,
    cwd: &Path,
) -> Result<(), EmbeddedError> {
    if let Some(template) = cached_template(bin_dir, runner) {
        let mut cp = runner.command(Path::new("cp"), cwd);
        cp.arg("-a").arg(&template).arg(data_dir);
        if run_checked(cp).is_ok() {
            return Ok(());
        }
        // A broken copy is discarded; initdb below starts from nothing.
        let _ = std::fs::remove_dir_all(data_dir);
    }
    initdb(bin_dir, runner, data_dir, cwd)
}

/// Runs `initdb` into `data_dir`.
fn initdb(
    bin_dir: &Path,
    runner: &Runner,
    data_dir: &Path,
    cwd: &Path,
) -> Result<(), EmbeddedError> {
    let mut command = runner.command(&bin_dir.join("initdb"), cwd);
    command.arg("-D").arg(data_dir).args(INITDB_ARGS);
    run_checked(command).map(drop)
}

/// The template's data directory, building it first if needed; `None` when it cannot be had
/// (the caller then runs `initdb` itself and reports that error, if any).
fn cached_template(bin_dir: &Path, runner: &Runner) -> Option<PathBuf> {
    let root = std::env::temp_dir();
    let dir = root.join(format!("pgscope-initdb-{:016x}", key(bin_dir, runner)?));
    let data = dir.join("data");
    if dir.exists() {
        // Only a template our server user made is used; anything else in its place (made by
        // another local user, or left half-made) is ignored, not trusted and not replaced.
        return (is_complete(&data) && is_trusted(&dir, runner.uid())).then_some(data);
    }
    let staging = tempfile::Builder::new()
        .prefix("pgscope-initdb-staging-")
        .tempdir_in(&root)
        .ok()?;
    let staging_runner = Runner::for_dir(staging.path()).ok()?;
    initdb(
        bin_dir,
        &staging_runner,
        &staging.path().join("data"),
        staging.path(),
    )
    .ok()?;
    // Renaming fails when another process finished first; either way a template is there,
    // and `staging` (if still present) is deleted when it goes out of scope.
    let staged = staging.keep();
    if std::fs::rename(&staged, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&staged);
    }
    (is_complete(&data) && is_trusted(&dir, runner.uid())).then_some(data)
}

/// Whether `data` looks like a finished `initdb` result.
fn is_complete(data: &Path) -> bool {
    data.join("PG_VERSION").is_file() && data.join("global/pg_control").is_file()
}

/// Whether `dir` and its `data` are owned by `uid` and writable by no one else.
fn is_trusted(dir: &Path, uid: u32) -> bool {
    [dir.to_path_buf(), dir.join("data")].iter().all(|path| {
        std::fs::symlink_metadata(path)
            .is_ok_and(|meta| meta.is_dir() && meta.uid() == uid && meta.mode() & 0o022 == 0)
    })
}

/// The cache key: the binaries' directory, the `initdb` file's identity, who runs it, and
/// the `initdb` arguments.
fn key(bin_dir: &Path, runner: &Runner) -> Option<u64> {
    let meta = std::fs::metadata(bin_dir.join("initdb")).ok()?;
    let mut hasher = DefaultHasher::new();
    bin_dir.hash(&mut hasher);
    (meta.len(), meta.mtime(), meta.mtime_nsec(), meta.ino()).hash(&mut hasher);
    runner.uid().hash(&mut hasher);
    INITDB_ARGS.hash(&mut hasher);
    Some(hasher.finish())
}
