//! Configuration of pgscope: one validated [`Config`] built from defaults, a TOML file,
//! `PGSCOPE_*` environment variables and the flags of `pgscope run`, in rising precedence.
//!
//! # Design
//!
//! Loading happens in two stages, as in ripgrep's low-level/high-level arguments:
//!
//! 1. **Raw** (`raw.rs`): each source is read into the same shape, a map from key to the value
//!    *as written* plus its [`Source`] (the file's path, the variable's name or the flag's
//!    spelling). Later sources overwrite earlier ones, so precedence is just insertion order.
//!    Only names are checked here: a file key or a `PGSCOPE_*` variable that matches no known
//!    key is an error at once, naming it and listing the valid ones.
//! 2. **Validated** (`validate.rs`, with one interpreter per kind of value in `parse.rs`):
//!    each key's winning value is parsed into its type and range-checked, the same way whatever
//!    its source. A rejection becomes [`ConfigError::InvalidValue`], whose message names the key,
//!    the value, the source and what was expected:
//!
//! ```text
//! invalid value "5x" for connect_timeout (from environment variable PGSCOPE_CONNECT_TIMEOUT): expected a duration like "5s" or "250ms"
//! ```
//!
//! Only winning values are interpreted: a bad value in the file that an environment variable or
//! flag overrides is never looked at, just as if it had been absent.
//!
//! Keeping every value a string (or raw TOML value) until stage two is what lets errors name
//! their source, and why every [`RunArgs`] flag is an `Option<String>`: clap never parses them.
//!
//! The list of keys lives in one place (`raw::KEYS`): the file key, the environment variable
//! (`PGSCOPE_` + the key upper-cased, dots as `_`) and error messages derive from it. Adding
//! a section such as `[recorder]` means adding its dotted keys (`recorder.window`) there, a
//! typed struct field on [`Config`], and one line per key in `validate.rs`.
//!
//! The `[tracing]` section (`tracing.rs`) is the one place another convention also applies:
//! the standard `OTEL_*` variables configure span export too. They are not read here but
//! where the exporter is built; a `tracing.*` key that is set wins over its `OTEL_*`
//! counterpart.
//!
//! Some `PGSCOPE_*` variables belong to tools and tests rather than to the configuration; they
//! are listed once in [`RESERVED_ENV_VARS`] and [`RESERVED_ENV_PREFIXES`].
//!
//! [`Config::load_from`] takes the environment as an argument and touches no process-global
//! state, so tests run in parallel without racing on `std::env`.

mod args;
mod capture;
mod error;
mod growth;
mod listen;
mod parse;
mod pgpass;
mod raw;
mod recorder;
mod target;
mod tls;
mod tracing;
mod upstream;
mod upstream_tls;
mod validate;

#[cfg(test)]
mod tests;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

pub use args::RunArgs;
pub use capture::CaptureConfig;
pub use error::{ConfigError, Source};
pub use growth::GrowthConfig;
pub use listen::{ListenAddr, DEFAULT_LISTEN_PORT};
pub use parse::{MAX_MESSAGE_SIZE, MIN_MESSAGE_SIZE};
pub use pgpass::{Pgpass, PgpassKey};
pub use raw::{RESERVED_ENV_PREFIXES, RESERVED_ENV_VARS};
pub use recorder::{RecorderConfig, Secret};
pub use target::{Target, TargetError};
pub use tls::{TlsConfig, TlsMode};
pub use tracing::{OtlpProtocol, TracingConfig};
pub use upstream::{Upstream, DEFAULT_PG_PORT};
pub use upstream_tls::{RootCert, SslMode, SslNegotiation, UpstreamTls};

/// The validated configuration of `pgscope run`.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where clients connect: TCP addresses and Unix sockets (at least one).
    pub listen: Vec<ListenAddr>,
    /// The PostgreSQL server; `None` means "start an embedded throw-away cluster".
    pub upstream: Option<Upstream>,
    /// Where the admin HTTP server listens.
    pub admin: SocketAddr,
    /// Longest protocol message accepted, in bytes (between [`MIN_MESSAGE_SIZE`] and
    /// [`MAX_MESSAGE_SIZE`]).
    pub max_message_size: u32,
    /// How pipelined statements are timed.
    pub pipeline_timing: PipelineTiming,
    /// Upstream connect timeout (never zero).
    pub connect_timeout: Duration,
    /// Limit on a client's whole startup, from accept to its first `ReadyForQuery` (TLS
    /// handshake and authentication included); never zero.
    pub startup_timeout: Duration,
    /// How long in-flight sessions may finish after SIGTERM.
    pub shutdown_grace: Duration,
    /// After a graceful upgrade has handed the listening sockets to a new process, how long
    /// the old one keeps serving its open sessions as usual (each ends when its client
    /// disconnects) before draining them as after SIGTERM.
    pub handover_grace: Duration,
    /// Cap on concurrent client sessions (at least 1); taken when the startup packet is
    /// complete.
    pub max_connections: usize,
    /// Cap on connections still in their startup (at least 1); when full, a new connection
    /// evicts the oldest one still in startup.
    pub max_startup_connections: usize,
    /// Worker threads (at least 1). Each runs its own scheduler; a connection stays on the
    /// thread that accepted it.
    pub threads: usize,
    /// Log verbosity.
    pub log_level: LogLevel,
    /// How log lines are written: plain text, or one JSON object per line.
    pub log_format: LogFormat,
    /// Bearer token the admin API requires (`Authorization: Bearer TOKEN`); `None`: open.
    pub admin_token: Option<Secret>,
    /// The `[tls]` section (pgscope as a TLS server for clients).
    pub tls: TlsConfig,
    /// The `[recorder]` section.
    pub recorder: RecorderConfig,
    /// The `[tracing]` section.
    pub tracing: TracingConfig,
    /// The `[growth]` section.
    pub growth: GrowthConfig,
    /// The `[capture]` section.
    pub capture: CaptureConfig,
}

/// Worker threads when none are configured: half the CPUs, rounded up (1 on 1–2 CPUs).
///
/// A proxy shares its machine with the clients or the server it sits beside, and each extra
/// runtime thread that wakes for a share of the connections costs context switches: on the
/// 2-CPU benchmark machine, one thread served the same throughput as two at 17% less CPU per
/// query (`benches/README.md`, "Threads"). Busy dedicated hosts set `threads` explicitly.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().div_ceil(2))
}

impl Default for Config {
    /// The configuration when nothing is set: loopback listeners, no upstream, 1 GiB messages,
    /// 5 s connect timeout, 60 s startup timeout (PgBouncer's `client_login_timeout`), no TLS, 30 s shutdown grace, 10000 connections, `info` text logs, and worker threads
    /// for half the CPUs, rounded up ([`default_threads`]).
    fn default() -> Config {
        Config {
            listen: vec![ListenAddr::Tcp(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::LOCALHOST,
                DEFAULT_LISTEN_PORT,
            )))],
            upstream: None,
            admin: SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9187)),
            max_message_size: MAX_MESSAGE_SIZE,
            pipeline_timing: PipelineTiming::Exact,
            connect_timeout: Duration::from_secs(5),
            startup_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(30),
            handover_grace: Duration::from_secs(300),
            max_connections: 10_000,
            max_startup_connections: 1_000,
            threads: default_threads(),
            log_level: LogLevel::Info,
            log_format: LogFormat::Text,
            admin_token: None,
            tls: TlsConfig::default(),
            recorder: RecorderConfig::default(),
            tracing: TracingConfig::default(),
            growth: GrowthConfig::default(),
            capture: CaptureConfig::default(),
        }
    }
}

impl Config {
    /// Load from the CLI flags, the process environment and the file they name.
    pub fn load(args: &RunArgs) -> Result<Config, ConfigError> {
        let env = std::env::vars_os().map(|(name, value)| {
            (
                name.to_string_lossy().into_owned(),
                value.to_string_lossy().into_owned(),
            )
        });
        Config::load_from(args, env)
    }

    /// Same with an explicit environment (for tests; no process-global state touched).
    pub fn load_from(
        args: &RunArgs,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        validate::validate(raw::RawConfig::gather(args, env)?)
    }
}

/// How statements sent in a pipeline (several `Execute`s before one `Sync`) are timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipelineTiming {
    /// A `Flush` goes upstream after each `Execute` the client did not follow with `Sync` or
    /// `Flush`, so the server sends each result as it completes: each statement's own latency.
    Exact,
    /// Only the client's bytes go upstream: PostgreSQL sends a pipeline's results in one burst
    /// at the `Sync`, so statements are timed by their arrival in it.
    Batch,
}

/// How much pgscope logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Only errors.
    Error,
    /// Errors and warnings.
    Warn,
    /// Also lifecycle information (the default).
    Info,
    /// Also per-connection detail.
    Debug,
    /// Everything.
    Trace,
}

impl LogLevel {
    /// The level's name as written in configuration (`"info"`).
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LogFormat {
    /// env_logger's human-readable lines (the default).
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `target`, `message`), for log shippers.
    Json,
}

impl LogFormat {
    /// The format's name as written in configuration (`"text"`).
    pub fn as_str(self) -> &'static str {
        match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
