//! What a capture is asked to do: the JSON body of `POST /api/v1/capture` (and the `[capture]`
//! settings), validated into [`CaptureOptions`].

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// Default bound on a capture's duration.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(600);
/// Default bound on a capture's bytes (all parts).
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;
/// The smallest `max_bytes` accepted (a header, a block and a trailer).
const MIN_MAX_BYTES: u64 = 4096;

/// A request to start a capture, as JSON (every field optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureRequest {
    /// How long to capture, e.g. `"60s"`, `"10m"` (default 10 minutes).
    pub duration: Option<String>,
    /// Bound on the bytes written, all parts together (default 1 GiB).
    pub max_bytes: Option<u64>,
    /// Start a new part file once the current one holds this many bytes.
    pub rotate_bytes: Option<u64>,
    /// The capture file (must not exist).
    pub path: Option<PathBuf>,
    /// A directory to create `capture-<time>.pgcap` in (when `path` is not given).
    pub directory: Option<PathBuf>,
    /// Replace literals and parameter values.
    #[serde(default)]
    pub redact: bool,
    /// Capture only these databases (empty: all).
    #[serde(default)]
    pub database: Vec<String>,
    /// Capture only these users (empty: all).
    #[serde(default)]
    pub user: Vec<String>,
    /// Capture only these application names (empty: all).
    #[serde(default)]
    pub application: Vec<String>,
}

/// A validated capture request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureOptions {
    /// How long to capture.
    pub duration: Duration,
    /// Bound on the bytes of all parts.
    pub max_bytes: u64,
    /// Part size, if rotating.
    pub rotate_bytes: Option<u64>,
    /// The first part's path.
    pub path: PathBuf,
    /// Redact literals and parameter values.
    pub redact: bool,
    /// Which sessions are captured.
    pub filters: Filters,
}

/// Which sessions a capture takes: each non-empty list must contain the session's value.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Filters {
    /// Databases.
    pub database: Vec<String>,
    /// Users.
    pub user: Vec<String>,
    /// Application names (as of authentication).
    pub application: Vec<String>,
}

impl Filters {
    /// Whether a session with these labels is captured.
    pub fn admits(&self, database: &str, user: &str, application: &str) -> bool {
        let ok = |list: &[String], v: &str| list.is_empty() || list.iter().any(|x| x == v);
        ok(&self.database, database) && ok(&self.user, user) && ok(&self.application, application)
    }
}

impl CaptureRequest {
    /// The request the `[capture]` section makes at start-up.
    pub fn from_config(config: &pgscope_config::CaptureConfig) -> CaptureRequest {
        CaptureRequest {
            duration: config
                .duration
                .map(|d| humantime::format_duration(d).to_string()),
            max_bytes: config.max_bytes,
            rotate_bytes: config.rotate_bytes,
            path: config.path.clone(),
            directory: config.directory.clone(),
            redact: config.redact,
            database: config.database.clone(),
            user: config.user.clone(),
            application: config.application.clone(),
        }
    }

    /// Validates the request; `default_dir` is where a capture goes when neither `path` nor
    /// `directory` is given. `now_ms` names the file.
    pub fn validate(
        self,
        default_dir: &std::path::Path,
        now_ms: u64,
    ) -> Result<CaptureOptions, String> {
        let duration = match &self.duration {
            Some(text) => humantime::parse_duration(text)
                .map_err(|e| format!("duration {text:?}: {e} (e.g. \"60s\", \"10m\")"))?,
            None => DEFAULT_DURATION,
        };
        if duration.is_zero() {
            return Err("duration must be more than 0s".into());
        }
        let max_bytes = self.max_bytes.unwrap_or(DEFAULT_MAX_BYTES);
        if max_bytes < MIN_MAX_BYTES {
            return Err(format!("max_bytes must be at least {MIN_MAX_BYTES}"));
        }
        if let Some(rotate) = self.rotate_bytes {
            if rotate < MIN_MAX_BYTES {
                return Err(format!("rotate_bytes must be at least {MIN_MAX_BYTES}"));
            }
        }
        let path = match (self.path, self.directory) {
            (Some(_), Some(_)) => return Err("give path or directory, not both".into()),
            (Some(path), None) => path,
            (None, dir) => {
                let dir = dir.unwrap_or_else(|| default_dir.to_path_buf());
                let stamp: String = pgscope_exporters::time::rfc3339(now_ms)
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .collect();
                dir.join(format!("capture-{stamp}.pgcap"))
            }
        };
        if !path.is_absolute() {
            return Err(format!(
                "path {} is relative: give an absolute path (pgscope's working directory is not \
                 the caller's)",
                path.display()
            ));
        }
        let parent = path.parent().unwrap_or(std::path::Path::new("/"));
        if !parent.is_dir() {
            return Err(format!("directory {} does not exist", parent.display()));
        }
        if path.exists() {
            return Err(format!(
                "{} exists already (captures never overwrite)",
                path.display()
            ));
        }
        Ok(CaptureOptions {
            duration,
            max_bytes,
            rotate_bytes: self.rotate_bytes,
            path,
            redact: self.redact,
            filters: Filters {
                database: self.database,
                user: self.user,
                application: self.application,
            },
        })
    }
}
