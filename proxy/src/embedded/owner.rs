//! Who owns a cluster, and removing clusters whose owner is gone.
//!
//! A [`super::LocalCluster`] stops its server and deletes its directory when dropped, which
//! covers a normal exit, SIGTERM and SIGINT (pingora's main loop returns and `pgscope run`
//! unwinds), a failed start and a panic (the default `panic = "unwind"` runs destructors). A
//! process killed with SIGKILL, or by a signal before its handlers are installed, runs
//! nothing: its server keeps running (`pg_ctl` detached it into its own session) and its
//! directory stays. So each cluster's directory records its owner in [`OWNER_FILE`] — the
//! owner's process id and, on Linux, its start time, so a recycled process id is not taken
//! for the owner — and every new cluster first sweeps the places clusters are made in: a
//! `pgscope-pg-*` directory whose owner no longer exists has its server stopped (`pg_ctl stop
//! -m immediate`, or SIGQUIT then SIGKILL to the pid in `postmaster.pid` when `pg_ctl`
//! cannot) and is deleted. Directories without an owner file (being created right now, or
//! made by an older pgscope) and directories of another OS user are left alone.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::runner::{run_checked, Runner};
use super::{EmbeddedError, DIR_PREFIX, PG_CTL_TIMEOUT_SECS};

/// The file in a cluster's directory naming its owner: `PID START_TIME\n` (the start time in
/// clock ticks since boot, field 22 of `/proc/PID/stat`; `-` where there is no `/proc`).
pub const OWNER_FILE: &str = "pgscope-owner.pid";
/// How long a stale server is given to exit after SIGQUIT before it gets SIGKILL.
const QUIT_WAIT: Duration = Duration::from_secs(5);

/// The process that owns a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Owner {
    /// Its process id.
    pub(crate) pid: u32,
    /// Its start time, when it could be read.
    pub(crate) start: Option<u64>,
}

impl Owner {
    /// This process.
    pub(crate) fn current() -> Owner {
        let pid = std::process::id();
        Owner {
            pid,
            start: start_time(pid),
        }
    }

    /// The owner file's contents.
    fn to_line(&self) -> String {
        match self.start {
            Some(start) => format!("{} {start}\n", self.pid),
            None => format!("{} -\n", self.pid),
        }
    }

    /// Parses an owner file's contents; `None` when they are not `PID START_TIME`.
    pub(crate) fn parse(text: &str) -> Option<Owner> {
        let mut words = text.split_whitespace();
        let pid = words.next()?.parse().ok()?;
        let start = match words.next()? {
            "-" => None,
            ticks => Some(ticks.parse().ok()?),
        };
        words.next().is_none().then_some(Owner { pid, start })
    }

    /// Whether this owner is still running: a process with its id exists and, when both start
    /// times are known, started when the owner did.
    pub(crate) fn is_alive(&self) -> bool {
        if Path::new("/proc/self/stat").exists() {
            return match (start_time(self.pid), self.start) {
                (None, _) => false,
                (Some(now), Some(then)) => now == then,
                (Some(_), None) => true,
            };
        }
        // No /proc: `kill -0` tells whether the pid exists (EPERM still prints nothing
        // useful, so a failure for another user's process is taken as "alive").
        Command::new("kill")
            .args(["-0", &self.pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_or(true, |out| {
                out.status.success() || !String::from_utf8_lossy(&out.stderr).contains("No such")
            })
    }
}

/// Records this process as the owner of the cluster directory `dir` (written under a
/// temporary name and renamed, so a sweeping process never reads half a file).
pub(crate) fn write_owner(dir: &Path) -> Result<(), EmbeddedError> {
    let path = dir.join(OWNER_FILE);
    let partial = dir.join(format!("{OWNER_FILE}.partial"));
    fs::write(&partial, Owner::current().to_line())
        .and_then(|()| fs::rename(&partial, &path))
        .map_err(|cause| EmbeddedError::Io {
            action: "writing the owner file",
            path,
            cause,
        })
}

/// The start time of process `pid` (field 22 of `/proc/PID/stat`), if it exists.
fn start_time(pid: u32) -> Option<u64> {
    parse_start_time(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Field 22 (`starttime`) of a `/proc/PID/stat` line.
fn parse_start_time(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may hold spaces and parentheses itself:
    // count fields after the last `)`, where field 3 begins.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Stops and deletes every cluster under `parents` whose owner is gone and whose directory
/// belongs to `runner`'s user; returns the directories removed. Failures are logged, never
/// returned: a stale cluster must not stop a new one from starting.
pub(crate) fn remove_stale(parents: &[PathBuf], runner: &Runner, bin_dir: &Path) -> Vec<PathBuf> {
    let mut removed = Vec::new();
    for parent in parents {
        let Ok(entries) = fs::read_dir(parent) else {
            continue;
        };
        for entry in entries.flatten() {
            let dir = entry.path();
            let is_cluster = entry.file_name().to_string_lossy().starts_with(DIR_PREFIX);
            if !is_cluster || !owned_by(&dir, runner.uid()) {
                continue;
            }
            let Some(owner) = fs::read_to_string(dir.join(OWNER_FILE))
                .ok()
                .and_then(|text| Owner::parse(&text))
            else {
                continue;
            };
            if owner.is_alive() {
                continue;
            }
            log::warn!(
                "removing the throw-away PostgreSQL cluster {} left by pgscope process {}, \
                 which no longer runs",
                dir.display(),
                owner.pid
            );
            stop_server(&dir, runner, bin_dir);
            match fs::remove_dir_all(&dir) {
                Ok(()) => removed.push(dir),
                Err(err) => log::warn!("cannot remove {}: {err}", dir.display()),
            }
        }
    }
    removed
}

/// Whether `dir` is a directory (not a symlink) owned by user `uid`.
fn owned_by(dir: &Path, uid: u32) -> bool {
    use std::os::unix::fs::MetadataExt;
    fs::symlink_metadata(dir).is_ok_and(|meta| meta.is_dir() && meta.uid() == uid)
}

/// Stops the server of the cluster in `dir`, if one runs: `pg_ctl stop -m immediate`, and
/// when that fails while the server still runs, SIGQUIT and then SIGKILL.
pub(crate) fn stop_server(dir: &Path, runner: &Runner, bin_dir: &Path) {
    let data_dir = dir.join("data");
    let Some(pid) = postmaster_pid(&data_dir) else {
        return;
    };
    let mut pg_ctl = runner.command(&bin_dir.join("pg_ctl"), dir);
    pg_ctl.arg("-D").arg(&data_dir).args([
        "-m",
        "immediate",
        "-w",
        "-t",
        PG_CTL_TIMEOUT_SECS,
        "stop",
    ]);
    if let Err(err) = run_checked(pg_ctl) {
        log::debug!("pg_ctl could not stop the server {pid}: {err}");
    }
    if !is_server_of(pid, &data_dir) {
        return;
    }
    for signal in ["-QUIT", "-KILL"] {
        let _ = Command::new("kill")
            .args([signal, &pid.to_string()])
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + QUIT_WAIT;
        while is_server_of(pid, &data_dir) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        if !is_server_of(pid, &data_dir) {
            return;
        }
    }
    log::warn!(
        "the PostgreSQL server {pid} of {} would not stop",
        dir.display()
    );
}

/// The postmaster's process id from `data_dir/postmaster.pid` (its first line), if any.
pub(crate) fn postmaster_pid(data_dir: &Path) -> Option<u32> {
    let text = fs::read_to_string(data_dir.join("postmaster.pid")).ok()?;
    text.lines().next()?.trim().parse().ok()
}

/// Whether process `pid` runs and is a PostgreSQL server of `data_dir` (its command line
/// names the data directory). Without `/proc`, whether `pid` exists at all.
pub(crate) fn is_server_of(pid: u32, data_dir: &Path) -> bool {
    if !Path::new("/proc/self/cmdline").exists() {
        return Owner { pid, start: None }.is_alive();
    }
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let needle = data_dir.as_os_str().as_encoded_bytes();
    !needle.is_empty() && cmdline.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_line_round_trips_with_and_without_a_start_time() {
        let with = Owner {
            pid: 42,
            start: Some(123_456),
        };
        assert_eq!(Owner::parse(&with.to_line()), Some(with));
        let without = Owner {
            pid: 7,
            start: None,
        };
        assert_eq!(Owner::parse(&without.to_line()), Some(without));
    }

    #[test]
    fn malformed_owner_files_are_not_read_as_owners() {
        for text in ["", "42", "x 1", "42 y", "42 1 extra"] {
            assert_eq!(Owner::parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn this_process_is_alive_and_an_impostor_with_another_start_time_is_not() {
        let me = Owner::current();
        assert!(me.is_alive());
        if let Some(start) = me.start {
            let recycled = Owner {
                pid: me.pid,
                start: Some(start + 1),
            };
            assert!(
                !recycled.is_alive(),
                "a reused pid must not count as the owner"
            );
        }
    }

    #[test]
    fn a_process_that_exited_is_not_alive() {
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        let start = start_time(pid);
        child.wait().unwrap();
        assert!(!Owner { pid, start }.is_alive());
    }

    #[test]
    fn start_time_is_read_past_a_command_name_with_spaces_and_parentheses() {
        let stat = "4242 (odd (name) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 \
                    987654 1000 10 18446744073709551615";
        assert_eq!(parse_start_time(stat), Some(987_654));
        assert_eq!(parse_start_time("4242 (short) S 1"), None);
        if Path::new("/proc/self/stat").exists() {
            assert!(start_time(std::process::id()).is_some_and(|ticks| ticks > 0));
        }
    }
}
