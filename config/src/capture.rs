//! The `[capture]` section: a traffic capture started with the process (`pgscope capture
//! start` and `POST /api/v1/capture` start one at any time; these are the same settings).

use std::path::PathBuf;
use std::time::Duration;

use crate::parse::{text, Reason};
use crate::raw::RawValue;

/// Settings of a capture at start-up (`[capture]` in the file, `PGSCOPE_CAPTURE_*`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CaptureConfig {
    /// Start a capture when pgscope starts (default off).
    pub enabled: bool,
    /// The capture file (absolute; must not exist).
    pub path: Option<PathBuf>,
    /// A directory for `capture-<time>.pgcap` (default: `recorder.state_dir`, else the
    /// temporary directory).
    pub directory: Option<PathBuf>,
    /// How long to capture (default 10 minutes).
    pub duration: Option<Duration>,
    /// Bound on the bytes written, all parts together (default 1 GiB; at least 4096).
    pub max_bytes: Option<u64>,
    /// Start a new part file at this size (at least 4096).
    pub rotate_bytes: Option<u64>,
    /// Replace literals and parameter values.
    pub redact: bool,
    /// Capture only these databases (empty: all).
    pub database: Vec<String>,
    /// Capture only these users (empty: all).
    pub user: Vec<String>,
    /// Capture only these application names (empty: all).
    pub application: Vec<String>,
}

const BYTES: &str = "expected a number of bytes of at least 4096";
const NAMES: &str = "expected a list of names, like [\"shop\", \"billing\"] (or \"shop,billing\")";

/// A byte count of at least 4096.
pub(crate) fn bytes(value: &RawValue) -> Result<u64, Reason> {
    let parsed = match value {
        RawValue::Toml(toml::Value::Integer(n)) => u64::try_from(*n).ok(),
        other => text(other, BYTES)?.trim().parse::<u64>().ok(),
    };
    parsed
        .filter(|n| *n >= 4096)
        .ok_or_else(|| Reason::from(BYTES))
}

/// A list of non-empty names: a TOML array of strings, or comma-separated text.
pub(crate) fn names(value: &RawValue) -> Result<Vec<String>, Reason> {
    let names: Vec<String> = match value {
        RawValue::Toml(toml::Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<Vec<String>>>()
            .ok_or_else(|| Reason::from(NAMES))?,
        other => text(other, NAMES)?
            .split(',')
            .map(|s| s.trim().to_owned())
            .collect(),
    };
    if names.iter().any(String::is_empty) {
        return Err(Reason::from(NAMES));
    }
    Ok(names)
}
