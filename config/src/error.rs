//! The one error type of this crate and the [`Source`] every value is traced back to.

use std::fmt;
use std::path::PathBuf;

/// Where a configuration value came from; every error names one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The TOML file given by `--config` or `PGSCOPE_CONFIG`.
    File(PathBuf),
    /// A `PGSCOPE_*` environment variable (its name).
    Env(String),
    /// A command-line flag of `pgscope run` (its spelling, e.g. `--connect-timeout`).
    Flag(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(path) => write!(f, "config file {}", path.display()),
            Source::Env(name) => write!(f, "environment variable {name}"),
            Source::Flag(flag) => write!(f, "command-line flag {flag}"),
        }
    }
}

/// Why the configuration could not be loaded. Each variant's message names the offending key
/// (or variable, or file) and where it came from, so the user can fix it without guessing.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A key was present but its value does not parse or is out of range.
    #[error("invalid value {value} for {key} (from {origin}): {reason}")]
    InvalidValue {
        /// The key, dotted for keys inside a section (`recorder.window`).
        key: String,
        /// The value as written, quoted when it was a string.
        value: String,
        /// Where the value came from.
        origin: Source,
        /// What was expected instead.
        reason: String,
    },
    /// A key another key's value depends on was set nowhere (e.g. `tls.key` with `tls.cert`).
    #[error("missing {key}: {reason}")]
    Missing {
        /// The key that must be set.
        key: String,
        /// Why it is needed.
        reason: String,
    },
    /// The config file holds a key (or section) pgscope does not know.
    #[error("unknown key {key:?} in {origin}; valid keys are: {valid}")]
    UnknownKey {
        /// The unknown key, dotted when inside a section.
        key: String,
        /// Where it was found.
        origin: Source,
        /// The valid keys, comma-separated.
        valid: String,
    },
    /// The environment holds a `PGSCOPE_*` variable pgscope does not know.
    #[error("unknown environment variable {name}; valid variables are: {valid}")]
    UnknownEnv {
        /// The variable's name.
        name: String,
        /// The valid variable names, comma-separated.
        valid: String,
    },
    /// The config file could not be read.
    #[error("cannot read config file {} (from {origin}): {cause}", path.display())]
    ReadFile {
        /// The file's path.
        path: PathBuf,
        /// Where the path came from (`--config` or `PGSCOPE_CONFIG`).
        origin: Source,
        /// The I/O error.
        #[source]
        cause: std::io::Error,
    },
    /// The config file is not valid TOML.
    #[error("config file {} is not valid TOML: {cause}", path.display())]
    ParseFile {
        /// The file's path.
        path: PathBuf,
        /// The parser's error, with line and column.
        #[source]
        cause: toml::de::Error,
    },
}
