//! Running client programs (`psql`, `pgbench`, Python) with a deadline.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long [`psql_at`] and [`crate::Cluster::psql`] let a client run before killing it.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// The PostgreSQL client program `name` (`psql`, `pgbench`, …): from the directory
/// [`pgscope::embedded::find_bin_dir`] picks when it is there, else `name` on `PATH`.
pub fn pg_bin(name: &str) -> PathBuf {
    pgscope::embedded::find_bin_dir()
        .ok()
        .map(|dir| dir.join(name))
        .filter(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// A `psql -X -d URL` command (no psqlrc, stdin closed, a 10 s connect timeout) for the
/// caller to add arguments and environment to.
pub fn psql_command(url: &str) -> Command {
    let mut command = Command::new(pg_bin("psql"));
    command
        .arg("-X")
        .arg("-d")
        .arg(url)
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(Stdio::null());
    command
}

/// Runs `psql -X -d URL ARGS…` against any URL and returns its output, whether it succeeded
/// or not. Panics only if it cannot run or outlives [`CLIENT_TIMEOUT`].
pub fn psql_at(url: &str, args: &[&str]) -> Output {
    let mut command = psql_command(url);
    command.args(args);
    output_within(&mut command, CLIENT_TIMEOUT)
}

/// The Python interpreter that has psycopg 3: `$PGSCOPE_TEST_PYTHON` (the venv
/// `scripts/test.sh` prepares), else `python3`.
pub fn python() -> PathBuf {
    std::env::var_os("PGSCOPE_TEST_PYTHON")
        .filter(|value| !value.is_empty())
        .map_or_else(|| PathBuf::from("python3"), PathBuf::from)
}

/// Runs the Python program `code` (`python -c`, with psycopg, see [`python`]) within
/// [`CLIENT_TIMEOUT`] and panics with its stderr and `context` (e.g. the proxy's log) unless it
/// exits successfully. Returns its output.
pub fn python_ok(code: &str, context: &str) -> Output {
    let output = output_within(Command::new(python()).args(["-c", code]), CLIENT_TIMEOUT);
    assert!(
        output.status.success(),
        "python -c failed ({}):\n{}\n{context}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Runs `command` to completion like [`Command::output`] (stdin as the caller set it), but
/// kills it and panics with what it printed so far if it runs longer than `timeout`.
pub fn output_within(command: &mut Command, timeout: Duration) -> Output {
    let shown = format!("{command:?}");
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot run {shown}: {err}"));
    let stdout = drain(&mut child, true);
    let stderr = drain(&mut child, false);
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                let out = stdout.join().unwrap_or_default();
                let err = stderr.join().unwrap_or_default();
                panic!(
                    "{shown} still running after {timeout:?}; killed.\nstdout:\n{}\nstderr:\n{}",
                    String::from_utf8_lossy(&out),
                    String::from_utf8_lossy(&err)
                );
            }
            Err(err) => panic!("waiting for {shown}: {err}"),
        }
    };
    Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// A thread reading the child's stdout (or stderr) to the end, so a chatty child never blocks
/// on a full pipe while we wait for it.
fn drain(child: &mut Child, stdout: bool) -> thread::JoinHandle<Vec<u8>> {
    let pipe: Option<Box<dyn Read + Send>> = if stdout {
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>)
    } else {
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>)
    };
    thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}
