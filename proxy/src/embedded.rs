//! A throw-away local PostgreSQL cluster.
//!
//! `pgscope run` without `--upstream` starts one so that a newcomer sees pgscope work with a
//! single command, and the integration tests start one per test; both use this module, so
//! there is one implementation to get right.
//!
//! A cluster lives in a fresh temporary directory (in `/dev/shm` when it is roomy, see
//! `place`): `data/` (what `initdb -A trust -U postgres --no-sync -E UTF8 --no-locale`
//! makes, copied from a cached template after the first time; see `template`), the server's
//! log `postgres.log`, and the server's Unix socket (the directory itself is
//! `unix_socket_directories`, so clusters never share a lock file).
//! It listens on 127.0.0.1 only, on a free port, with `fsync = off`: it is for tests and
//! demos, never for data anyone wants back. Starting retries with another port when the one
//! chosen was taken in the meantime, so many clusters can start in parallel. Dropping a
//! [`LocalCluster`] stops the server (`pg_ctl stop -m immediate`) and removes the directory.
//! The directory also names its owner process ([`OWNER_FILE`]), and starting a cluster first
//! stops and removes those whose owner is gone (killed with SIGKILL, say; see `owner`).
//!
//! PostgreSQL refuses to run as root; as root, the directory is given to the `postgres` OS user
//! and the server's programs run through `runuser` (see `runner`).

mod bin_dir;
mod error;
mod owner;
mod place;
mod port;
mod runner;
mod template;

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

pub use bin_dir::{find_bin_dir, PG_BIN_ENV};
pub use error::EmbeddedError;
pub use owner::OWNER_FILE;
pub use port::free_port;

use runner::{file_tail, run_checked, Runner};

/// How the name of every cluster's directory begins.
const DIR_PREFIX: &str = "pgscope-pg-";
/// The database superuser `initdb` creates (`-U postgres`).
const SUPERUSER: &str = "postgres";
/// The only address the cluster listens on.
const HOST: &str = "127.0.0.1";
/// How many ports are tried before giving up when each one turns out to be taken.
const START_ATTEMPTS: u32 = 8;
/// How many lines of the server's log a start failure reports.
const LOG_TAIL_LINES: usize = 30;
/// Seconds `pg_ctl` waits for the server to start or stop.
const PG_CTL_TIMEOUT_SECS: &str = "60";

/// How to set up a [`LocalCluster`]. The default is a plain cluster on a free port.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// Extra `postgresql.conf` settings as (name, value), e.g.
    /// `("shared_preload_libraries", "pg_stat_statements")`. Values are written quoted, which
    /// PostgreSQL accepts for settings of every type.
    pub settings: Vec<(String, String)>,
    /// When `Some`, these lines replace `pg_hba.conf` (the default trusts every local and
    /// loopback connection).
    pub hba: Option<Vec<String>>,
    /// The TCP port to listen on; `None` picks a free one.
    pub port: Option<u16>,
}

/// A running throw-away PostgreSQL cluster. Dropping it stops the server and deletes its
/// directory; [`LocalCluster::stop`] does the same but reports failures.
#[derive(Debug)]
pub struct LocalCluster {
    /// The temporary directory holding everything; deleted when dropped. `None` once
    /// [`LocalCluster::stop`] has deleted it.
    dir: Option<TempDir>,
    /// The path of `dir`.
    dir_path: PathBuf,
    /// `dir/data`, the data directory.
    data_dir: PathBuf,
    /// Where `initdb`, `pg_ctl` and `postgres` are.
    bin_dir: PathBuf,
    /// The TCP port the server listens on.
    port: u16,
    /// Who the server's programs run as.
    runner: Runner,
    /// Whether the server still has to be stopped.
    running: bool,
}

impl LocalCluster {
    /// Creates, configures and starts a cluster, returning once it accepts connections.
    pub fn start(opts: &ClusterOptions) -> Result<LocalCluster, EmbeddedError> {
        let conf = config_lines(&opts.settings)?;
        let hba = opts.hba.as_deref().map(hba_file).transpose()?;
        let bin_dir = find_bin_dir()?;
        let parent = place::cluster_parent();
        let dir = tempfile::Builder::new()
            .prefix(DIR_PREFIX)
            .tempdir_in(&parent)
            .map_err(|cause| EmbeddedError::Io {
                action: "creating a temporary directory in",
                path: parent,
                cause,
            })?;
        owner::write_owner(dir.path())?;
        let runner = Runner::for_dir(dir.path())?;
        owner::remove_stale(&place::sweep_parents(), &runner, &bin_dir);
        let dir_path = dir.path().to_path_buf();
        let data_dir = dir_path.join("data");
        let mut cluster = LocalCluster {
            dir: Some(dir),
            dir_path,
            data_dir,
            bin_dir,
            port: 0,
            runner,
            running: false,
        };
        cluster.init(&conf, hba.as_deref())?;
        cluster.start_server(opts.port)?;
        Ok(cluster)
    }

    /// The TCP port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The address the server listens on: `127.0.0.1`.
    pub fn host(&self) -> &str {
        HOST
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The directory holding the server's Unix socket (and its log).
    pub fn socket_dir(&self) -> &Path {
        &self.dir_path
    }

    /// The server's log file.
    pub fn log_path(&self) -> PathBuf {
        self.dir_path.join("postgres.log")
    }

    /// The database superuser: `postgres`, trusted from local and loopback connections unless
    /// [`ClusterOptions::hba`] says otherwise.
    pub fn superuser(&self) -> &str {
        SUPERUSER
    }

    /// A URL to connect as the superuser: `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://{SUPERUSER}@{HOST}:{}/postgres", self.port)
    }

    /// The directory of the PostgreSQL binaries this cluster runs (`psql`, `pgbench` are
    /// usually there too).
    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// Stops the server (`pg_ctl stop -m fast`) and deletes the cluster's directory.
    pub fn stop(mut self) -> Result<(), EmbeddedError> {
        self.pg_ctl_stop("fast")?;
        self.running = false;
        match self.dir.take() {
            Some(dir) => dir.close().map_err(|cause| EmbeddedError::Io {
                action: "removing",
                path: self.dir_path.clone(),
                cause,
            }),
            None => Ok(()),
        }
    }

    /// Makes the data directory (see [`template`]), then writes the settings and
    /// `pg_hba.conf`.
    fn init(&self, conf: &str, hba: Option<&str>) -> Result<(), EmbeddedError> {
        template::init_data_dir(&self.bin_dir, &self.runner, &self.data_dir, &self.dir_path)?;
        let socket_dir = quote(&self.dir_path.to_string_lossy());
        let mut text = format!(
            "\n# pgscope embedded cluster\nlisten_addresses = '{HOST}'\n\
             unix_socket_directories = {socket_dir}\nfsync = off\n"
        );
        text.push_str(conf);
        let conf_path = self.data_dir.join("postgresql.conf");
        let appended = OpenOptions::new()
            .append(true)
            .open(&conf_path)
            .and_then(|mut file| file.write_all(text.as_bytes()));
        appended.map_err(|cause| EmbeddedError::Io {
            action: "appending settings to",
            path: conf_path,
            cause,
        })?;
        if let Some(hba) = hba {
            let hba_path = self.data_dir.join("pg_hba.conf");
            // Truncating an existing file keeps its owner (the server's user).
            std::fs::write(&hba_path, hba).map_err(|cause| EmbeddedError::Io {
                action: "writing",
                path: hba_path,
                cause,
            })?;
        }
        Ok(())
    }

    /// Starts the server on `chosen_port`, or when that is `None` on free ports until one is
    /// not taken.
    fn start_server(&mut self, chosen_port: Option<u16>) -> Result<(), EmbeddedError> {
        let log = self.log_path();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = match chosen_port {
                Some(port) => port,
                None => free_port()?,
            };
            let log_start = std::fs::metadata(&log).map_or(0, |m| m.len());
            let mut pg_ctl = self.command("pg_ctl");
            pg_ctl
                .arg("-D")
                .arg(&self.data_dir)
                .arg("-l")
                .arg(&log)
                .args(["-w", "-t", PG_CTL_TIMEOUT_SECS, "-o"])
                .arg(format!("-p {port}"))
                .arg("start");
            let failure = match run_checked(pg_ctl) {
                Ok(_) => {
                    self.port = port;
                    self.running = true;
                    return Ok(());
                }
                Err(EmbeddedError::CommandFailed { status, output, .. }) => (status, output),
                Err(other) => return Err(other),
            };
            // A pg_ctl that timed out may have left a server starting; make sure it is gone.
            let _ = self.pg_ctl_stop("immediate");
            let from = usize::try_from(log_start).unwrap_or(0);
            let log_tail = file_tail(&log, from, LOG_TAIL_LINES);
            let taken = log_tail.contains("could not bind") || log_tail.contains("in use");
            let retry = taken && chosen_port.is_none() && attempt < START_ATTEMPTS;
            if !retry {
                let (status, output) = failure;
                return Err(EmbeddedError::StartFailed {
                    port,
                    status,
                    log,
                    tail: format!("{log_tail}\n{}", output.trim_end()),
                });
            }
        }
    }

    /// `pg_ctl stop` in the given mode, waiting for the server to exit.
    fn pg_ctl_stop(&self, mode: &str) -> Result<(), EmbeddedError> {
        let mut pg_ctl = self.command("pg_ctl");
        pg_ctl.arg("-D").arg(&self.data_dir).args([
            "-m",
            mode,
            "-w",
            "-t",
            PG_CTL_TIMEOUT_SECS,
            "stop",
        ]);
        run_checked(pg_ctl).map(drop)
    }

    /// A command for the server binary `name`, run as the server's user in the cluster's
    /// directory.
    fn command(&self, name: &str) -> std::process::Command {
        self.runner
            .command(&self.bin_dir.join(name), &self.dir_path)
    }
}

impl Drop for LocalCluster {
    /// Stops the server (`pg_ctl stop -m immediate`, signals if that fails); the directory is
    /// deleted when `dir` drops right after.
    fn drop(&mut self) {
        if self.running {
            owner::stop_server(&self.dir_path, &self.runner, &self.bin_dir);
        }
    }
}

/// The `postgresql.conf` lines for `settings`, each `name = 'value'`.
fn config_lines(settings: &[(String, String)]) -> Result<String, EmbeddedError> {
    let mut text = String::new();
    for (name, value) in settings {
        let invalid = |reason| EmbeddedError::InvalidSetting {
            name: name.clone(),
            value: value.clone(),
            reason,
        };
        let name_ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        if !name_ok {
            return Err(invalid("a name is letters, digits, '_' and '.'"));
        }
        if value.contains(['\n', '\r', '\0']) {
            return Err(invalid("a value must not contain a line break or NUL"));
        }
        let _ = writeln!(text, "{name} = {}", quote(value));
    }
    Ok(text)
}

/// The contents of a `pg_hba.conf` made of `lines`.
fn hba_file(lines: &[String]) -> Result<String, EmbeddedError> {
    let mut text = String::new();
    for line in lines {
        if line.contains(['\n', '\r']) {
            return Err(EmbeddedError::InvalidHbaLine { line: line.clone() });
        }
        text.push_str(line);
        text.push('\n');
    }
    Ok(text)
}

/// `value` as a single-quoted `postgresql.conf` string.
fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
}

#[cfg(test)]
mod tests;
