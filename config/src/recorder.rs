//! The `[recorder]` section and the admin API's bearer token.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Settings of per-query recording (`[recorder]` in the file, `PGSCOPE_RECORDER_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecorderConfig {
    /// Whether queries are recorded at all (off: forwarding only, to measure recording's cost).
    pub enabled: bool,
    /// Most fingerprint × database × user × application entries kept (at least 1).
    pub max_fingerprints: usize,
    /// Longest normalized query text stored, in bytes (at least 16); longer texts are cut.
    pub max_query_text: usize,
    /// Width of one rolling window (whole milliseconds, at least 1 ms).
    pub window: Duration,
    /// Rolling windows kept (at least 1).
    pub windows: usize,
    /// Where snapshots are kept across restarts; `None`: no persistence.
    pub state_dir: Option<PathBuf>,
    /// How often a snapshot is written to `state_dir` (besides at shutdown).
    pub snapshot_interval: Duration,
    /// Fingerprints (by total time) that get their own `fingerprint` label in `/metrics`.
    pub top_k: usize,
}

impl Default for RecorderConfig {
    /// Recording on, 5000 entries (as pg_stat_statements), 4 KiB texts, 60 one-minute windows,
    /// no state directory, snapshots every minute, top 100 fingerprints labelled.
    fn default() -> Self {
        RecorderConfig {
            enabled: true,
            max_fingerprints: 5000,
            max_query_text: 4096,
            window: Duration::from_secs(60),
            windows: 60,
            state_dir: None,
            snapshot_interval: Duration::from_secs(60),
            top_k: 100,
        }
    }
}

/// A secret (the admin bearer token): compared and used, never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}
