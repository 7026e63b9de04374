//! The one error type of the embedded cluster.

use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;

/// Why a throw-away cluster could not be found, started or stopped. Every message says what was
/// being done and, when PostgreSQL itself refused, carries the tail of its own output.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// No directory holding `initdb` was found in any of the places searched.
    #[error(
        "no PostgreSQL server binaries found (searched: {searched}); install PostgreSQL \
         (on Debian: `apt-get install postgresql`) or set PGSCOPE_PG_BIN to the directory \
         that holds initdb, pg_ctl and postgres"
    )]
    BinariesNotFound {
        /// The places looked at, in order, comma-separated.
        searched: String,
    },
    /// `PGSCOPE_PG_BIN` names a directory without `initdb` in it.
    #[error("PGSCOPE_PG_BIN is set to {}, which has no initdb", dir.display())]
    BadBinDir {
        /// The directory `PGSCOPE_PG_BIN` names.
        dir: PathBuf,
    },
    /// Running as root, but the OS user the server must run as does not exist (PostgreSQL
    /// refuses to run as root).
    #[error(
        "running as root, and PostgreSQL refuses to run as root, but there is no OS user \
         {user:?} to run it as: {detail}"
    )]
    NoServerUser {
        /// The user looked up (`postgres`).
        user: &'static str,
        /// What the lookup said.
        detail: String,
    },
    /// A file-system step failed.
    #[error("{action} {}: {cause}", path.display())]
    Io {
        /// What was being done, e.g. "writing".
        action: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The I/O error.
        #[source]
        cause: io::Error,
    },
    /// A helper program could not be started at all.
    #[error("could not run {program}: {cause}")]
    Spawn {
        /// The program (with `runuser` when it runs as another user).
        program: String,
        /// The I/O error from spawning it.
        #[source]
        cause: io::Error,
    },
    /// A helper program ran and failed.
    #[error("{program} failed ({status}):\n{output}")]
    CommandFailed {
        /// The program and its first arguments.
        program: String,
        /// How it exited.
        status: ExitStatus,
        /// The tail of what it printed on stdout and stderr.
        output: String,
    },
    /// A `postgresql.conf` setting given in [`super::ClusterOptions`] cannot be written safely.
    #[error("invalid setting {name:?} = {value:?}: {reason}")]
    InvalidSetting {
        /// The setting's name.
        name: String,
        /// Its value.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A `pg_hba.conf` line given in [`super::ClusterOptions`] contains a line break.
    #[error("invalid pg_hba.conf line {line:?}: it must not contain a line break")]
    InvalidHbaLine {
        /// The offending line.
        line: String,
    },
    /// The server did not come up; `tail` is the end of its log.
    #[error(
        "PostgreSQL did not start on 127.0.0.1:{port} ({status}); last lines of {}:\n{tail}",
        log.display()
    )]
    StartFailed {
        /// The port it was asked to listen on.
        port: u16,
        /// How `pg_ctl start` exited.
        status: ExitStatus,
        /// The server's log file.
        log: PathBuf,
        /// The last lines of that log (and of pg_ctl's own output).
        tail: String,
    },
    /// Every port tried was already taken.
    #[error("no free TCP port on 127.0.0.1 after {attempts} attempts")]
    NoFreePort {
        /// How many ports were tried.
        attempts: u32,
    },
}
