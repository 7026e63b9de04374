//! SIGUSR2: pgscope starts its own successor and hands over to it (nginx's binary upgrade,
//! done with pingora's socket handover).
//!
//! `pgscope run --upgrade` plus SIGQUIT replaces a running pgscope, but under a service
//! manager the new process must be *inside the service*: systemd accepts notifications (and a
//! new main PID) only from processes in the unit's control group, and with `PrivateTmp=` only
//! they see the upgrade socket in the unit's private `/tmp`. A process started from an
//! operator's shell is neither. So on SIGUSR2 the running pgscope itself starts the program
//! it was started as (the file now at that path: the new binary, once it has been replaced)
//! with the same arguments plus `--upgrade`, as its child — in its control group, with its
//! environment (`NOTIFY_SOCKET` too) and its stdout and stderr (the journal). It waits until
//! the child listens for the sockets, then hands over exactly as on SIGQUIT; the child tells
//! systemd `MAINPID=` itself once it serves ([`crate::notify`]). If the child exits first (a
//! broken binary, a configuration it rejects), nothing is handed over and the running process
//! carries on.

use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

/// How long the successor gets to start listening for the sockets.
const START_WAIT: Duration = Duration::from_secs(30);
/// How often the wait looks.
const START_POLL: Duration = Duration::from_millis(20);

/// Why no successor took over.
#[derive(Debug, thiserror::Error)]
pub enum SuccessorError {
    /// The program could not be started.
    #[error("cannot start {program}: {cause}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        cause: std::io::Error,
    },
    /// It exited before listening for the sockets.
    #[error("the new process exited ({0}) before taking the sockets; see its log lines above")]
    Exited(std::process::ExitStatus),
    /// It did not listen for the sockets in time.
    #[error("the new process did not wait for the sockets within {0:?}")]
    Slow(Duration),
    /// Its state could not be read.
    #[error("cannot watch the new process: {0}")]
    Watch(std::io::Error),
}

/// How to start this process's successor.
#[derive(Debug, Clone)]
pub struct Successor {
    program: PathBuf,
    args: Vec<OsString>,
    upgrade_sock: PathBuf,
}

impl Successor {
    /// This process again: its program (the path it was started from, resolved now, so a
    /// binary replaced later is the one started) and arguments, plus `--upgrade`; the
    /// successor waits for the sockets on `upgrade_sock`.
    pub fn of_this_process(upgrade_sock: PathBuf) -> std::io::Result<Successor> {
        let program = std::env::current_exe()?;
        let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
        if !args.iter().any(|a| a == "--upgrade") {
            args.push("--upgrade".into());
        }
        Ok(Successor {
            program,
            args,
            upgrade_sock,
        })
    }

    /// Starts the successor and resolves once it listens for the sockets; returns its pid.
    pub async fn start(&self) -> Result<u32, SuccessorError> {
        let before = inode(&self.upgrade_sock);
        let mut child = Command::new(&self.program)
            .args(&self.args)
            .spawn()
            .map_err(|cause| SuccessorError::Spawn {
                program: self.program.display().to_string(),
                cause,
            })?;
        let pid = child.id();
        let deadline = tokio::time::Instant::now() + START_WAIT;
        loop {
            if let Some(status) = child.try_wait().map_err(SuccessorError::Watch)? {
                return Err(SuccessorError::Exited(status));
            }
            // pingora's `--upgrade` unlinks the path and binds a new socket there.
            let now = inode(&self.upgrade_sock);
            if now.is_some() && now != before {
                reap_later(child);
                return Ok(pid);
            }
            if tokio::time::Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(SuccessorError::Slow(START_WAIT));
            }
            tokio::time::sleep(START_POLL).await;
        }
    }
}

/// Which file is at `path`, if any: its inode and change time (an inode number alone may be
/// reused by the file that replaces it).
fn inode(path: &std::path::Path) -> Option<(u64, i64, i64)> {
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.ino(), m.ctime(), m.ctime_nsec()))
}

/// Waits for the successor on a thread of its own, so it leaves no zombie should it exit
/// while this process still runs (after this process exits, init reaps it).
fn reap_later(mut child: Child) {
    let spawned = std::thread::Builder::new()
        .name("pgscope-successor".to_owned())
        .spawn(move || {
            if let Ok(status) = child.wait() {
                log::info!("the new process {} exited ({status})", child.id());
            }
        });
    if let Err(error) = spawned {
        log::warn!("cannot watch the new process: {error}");
    }
}
