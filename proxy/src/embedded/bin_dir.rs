//! Finding the PostgreSQL server binaries (`initdb`, `pg_ctl`, `postgres`).
//!
//! The search order is the one a user can predict and override: `$PGSCOPE_PG_BIN` when set
//! (and then nothing else, so a typo is an error rather than a silent fallback), then what
//! `pg_config --bindir` reports, then the newest `/usr/lib/postgresql/<major>/bin` (Debian and
//! Ubuntu install server binaries there, off `PATH`), then the directory of an `initdb` on
//! `PATH`.

use std::env;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::EmbeddedError;

/// The environment variable that names the directory of the PostgreSQL binaries to use.
pub const PG_BIN_ENV: &str = "PGSCOPE_PG_BIN";

/// Where Debian and Ubuntu install one directory of server binaries per major version.
const DEBIAN_ROOT: &str = "/usr/lib/postgresql";

/// Finds the directory holding `initdb`, `pg_ctl` and `postgres`: `$PGSCOPE_PG_BIN` if set,
/// else `pg_config --bindir` if it has `initdb`, else the highest `/usr/lib/postgresql/*/bin`,
/// else the directory of an `initdb` found on `PATH`.
pub fn find_bin_dir() -> Result<PathBuf, EmbeddedError> {
    if let Some(dir) = env::var_os(PG_BIN_ENV).filter(|dir| !dir.is_empty()) {
        let dir = PathBuf::from(dir);
        return if has_initdb(&dir) {
            Ok(dir)
        } else {
            Err(EmbeddedError::BadBinDir { dir })
        };
    }
    let mut searched = Vec::new();
    searched.push("`pg_config --bindir`".to_owned());
    if let Some(dir) = pg_config_bindir().filter(|dir| has_initdb(dir)) {
        return Ok(dir);
    }
    searched.push(format!("{DEBIAN_ROOT}/*/bin"));
    if let Some(dir) = newest_debian_bin_dir(Path::new(DEBIAN_ROOT)) {
        return Ok(dir);
    }
    searched.push("PATH".to_owned());
    if let Some(dir) = env::var_os("PATH").and_then(|path| initdb_on_path(&path)) {
        return Ok(dir);
    }
    Err(EmbeddedError::BinariesNotFound {
        searched: searched.join(", "),
    })
}

/// Whether `dir` holds an `initdb` file.
fn has_initdb(dir: &Path) -> bool {
    dir.join("initdb").is_file()
}

/// The directory `pg_config --bindir` prints, if `pg_config` runs and prints one.
fn pg_config_bindir() -> Option<PathBuf> {
    let output = Command::new("pg_config").arg("--bindir").output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    let line = text.trim();
    (!line.is_empty()).then(|| PathBuf::from(line))
}

/// The `bin` directory of the highest major version under `root` that has `initdb`.
fn newest_debian_bin_dir(root: &Path) -> Option<PathBuf> {
    let entries = std::fs::read_dir(root).ok()?;
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = version_key(&entry.file_name())?;
            let bin = entry.path().join("bin");
            has_initdb(&bin).then_some((version, bin))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, bin)| bin)
}

/// A directory name like `15` or `9.6` as comparable numbers; `None` for anything else.
fn version_key(name: &OsStr) -> Option<Vec<u32>> {
    let name = name.to_str()?;
    name.split('.').map(|part| part.parse().ok()).collect()
}

/// The first directory of the `PATH`-style list `path` that holds `initdb`.
fn initdb_on_path(path: &OsStr) -> Option<PathBuf> {
    env::split_paths(path).find(|dir| has_initdb(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make_bin(root: &Path, version: &str) {
        let bin = root.join(version).join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("initdb"), b"").unwrap();
    }

    #[test]
    fn highest_major_version_wins_numerically() {
        let root = tempfile::tempdir().unwrap();
        make_bin(root.path(), "9.6");
        make_bin(root.path(), "15");
        make_bin(root.path(), "13");
        std::fs::create_dir_all(root.path().join("17/bin")).unwrap(); // no initdb: skipped
        std::fs::create_dir_all(root.path().join("extra/bin")).unwrap();
        let found = newest_debian_bin_dir(root.path()).unwrap();
        assert_eq!(found, root.path().join("15/bin"));
    }

    #[test]
    fn no_versions_means_none() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(newest_debian_bin_dir(root.path()), None);
        assert_eq!(newest_debian_bin_dir(&root.path().join("missing")), None);
    }

    #[test]
    fn initdb_is_found_on_a_path_list() {
        let root = tempfile::tempdir().unwrap();
        make_bin(root.path(), "a");
        let list = env::join_paths([root.path().join("none"), root.path().join("a/bin")]).unwrap();
        assert_eq!(initdb_on_path(&list), Some(root.path().join("a/bin")));
    }

    #[test]
    fn version_key_rejects_non_numeric_names() {
        assert_eq!(version_key(OsStr::new("15")), Some(vec![15]));
        assert_eq!(version_key(OsStr::new("9.6")), Some(vec![9, 6]));
        assert_eq!(version_key(OsStr::new("extra")), None);
    }
}
