//! `pgscope run --config FILE` as an operator runs it: a config file written by the test, the
//! binary started on it (no flag but those the test adds), and bounded waits for what the
//! process does in the background (reloads, drains, handovers).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::proxy::pgscope_bin;

/// How long [`wait_for`] waits.
pub const WAIT: Duration = Duration::from_secs(15);

/// Writes a config file for pgscope on `127.0.0.1:port` (admin on `admin`) in front of the
/// plaintext server on `upstream`, then the lines `extra`.
pub fn write_config(path: &Path, port: u16, admin: &str, upstream: u16, extra: &str) {
    std::fs::write(
        path,
        format!(
            "listen = \"127.0.0.1:{port}\"\nadmin = \"{admin}\"\n\
             upstream = \"postgres://127.0.0.1:{upstream}/?sslmode=disable\"\n{extra}"
        ),
    )
    .unwrap_or_else(|err| panic!("cannot write {}: {err}", path.display()));
}

/// Starts `pgscope run --config CONFIG EXTRA_ARGS…` with stdout and stderr in `log` and
/// `RUST_LOG` unset (the file decides the level).
pub fn run_with_config(config: &Path, log: &Path, extra_args: &[&str]) -> Child {
    command_with_config(config, log, extra_args)
        .spawn()
        .unwrap_or_else(|err| panic!("cannot run pgscope: {err}"))
}

/// The command [`run_with_config`] runs, for a test to add to (environment variables) first.
pub fn command_with_config(config: &Path, log: &Path, extra_args: &[&str]) -> Command {
    let log_file = std::fs::File::create(log)
        .unwrap_or_else(|err| panic!("cannot create {}: {err}", log.display()));
    let log_too = log_file
        .try_clone()
        .unwrap_or_else(|err| panic!("cannot duplicate a file handle: {err}"));
    let mut command = Command::new(pgscope_bin());
    command
        .args(["run", "--config"])
        .arg(config)
        .args(extra_args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::from(log_file))
        .stderr(Stdio::from(log_too));
    command
}

/// Polls `check` every 50 ms for up to [`WAIT`]; panics with `what` if it never holds.
pub fn wait_for(what: &str, check: impl FnMut() -> bool) {
    wait_for_within(what, WAIT, check);
}

/// [`wait_for`] with another limit.
pub fn wait_for_within(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
