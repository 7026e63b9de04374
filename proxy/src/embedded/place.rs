//! Where a cluster's directory is made.
//!
//! A cluster is written more than it is read: `initdb` (or the template copy), WAL, COPY
//! loads. On a disk with slow writes that dominates start-up (measured on a CI machine: the
//! 39 MB template copied in 2.7 s to ext4, 0.17 s to tmpfs). A throw-away cluster loses
//! nothing by living in memory, so it goes to `/dev/shm` when that is a tmpfs with room to
//! spare, unless the user chose a temporary directory with `TMPDIR`. Small `/dev/shm`s (a
//! container's default is 64 MB) are not used: a cluster under load could fill them.

use std::path::PathBuf;
use std::process::Command;

/// The shared-memory file system tried first.
const SHM: &str = "/dev/shm";
/// The least free space `/dev/shm` must have to be used, in KiB (1 GiB).
const SHM_MIN_FREE_KIB: u64 = 1024 * 1024;

/// The directory to make a new cluster's temporary directory in.
pub(crate) fn cluster_parent() -> PathBuf {
    let tmpdir_chosen = std::env::var_os("TMPDIR").is_some_and(|dir| !dir.is_empty());
    if !tmpdir_chosen && shm_free_kib().is_some_and(|free| free >= SHM_MIN_FREE_KIB) {
        return PathBuf::from(SHM);
    }
    std::env::temp_dir()
}

/// The directories clusters may have been made in, by this process or an earlier one with
/// another `TMPDIR`: where a new one goes, `/dev/shm`, and the system temp dir.
pub(crate) fn sweep_parents() -> Vec<PathBuf> {
    let mut parents = vec![cluster_parent()];
    for dir in [PathBuf::from(SHM), std::env::temp_dir()] {
        if dir.is_dir() && !parents.contains(&dir) {
            parents.push(dir);
        }
    }
    parents
}

/// Free space on `/dev/shm` in KiB, from `df -Pk`; `None` if it is missing or unreadable.
fn shm_free_kib() -> Option<u64> {
    if !std::path::Path::new(SHM).is_dir() {
        return None;
    }
    let output = Command::new("df").args(["-Pk", SHM]).output().ok()?;
    if !output.status.success() {
        return None;
    }
    available_kib(&String::from_utf8_lossy(&output.stdout))
}

/// The "Available" column of the data line of `df -Pk` output.
fn available_kib(df: &str) -> Option<u64> {
    df.lines().nth(1)?.split_whitespace().nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn available_space_is_read_from_posix_df_output() {
        let df = "Filesystem     1024-blocks  Used Available Capacity Mounted on\n\
                  tmpfs             24684096  1100  24682996       1% /dev/shm\n";
        assert_eq!(available_kib(df), Some(24_682_996));
        assert_eq!(available_kib("Filesystem\n"), None);
        assert_eq!(available_kib(""), None);
    }
}
