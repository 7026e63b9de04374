//! Stage one: gather every key's unparsed value, tagged with its [`Source`], from the config
//! file, the environment and the command line, in rising precedence. Nothing is interpreted
//! here except names: an unknown file key or `PGSCOPE_*` variable is rejected at once.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use crate::args::RunArgs;
use crate::error::{ConfigError, Source};

/// Every configuration key pgscope knows, dotted for keys inside a section. Adding a key or a
/// whole section starts here: its file name, `PGSCOPE_*` variable and error messages all
/// derive from this list.
pub(crate) const KEYS: &[&str] = &[
    "listen",
    "upstream",
    "admin",
    "max_message_size",
    "pipeline_timing",
    "connect_timeout",
    "startup_timeout",
    "shutdown_grace",
    "handover_grace",
    "max_connections",
    "max_startup_connections",
    "threads",
    "log_level",
    "log_format",
    "admin_token",
    "tls.cert",
    "tls.key",
    "tls.mode",
    "tls.client_ca",
    "recorder.enabled",
    "recorder.max_fingerprints",
    "recorder.max_query_text",
    "recorder.window",
    "recorder.windows",
    "recorder.state_dir",
    "recorder.snapshot_interval",
    "recorder.top_k",
    "tracing.enabled",
    "tracing.endpoint",
    "tracing.protocol",
    "tracing.service_name",
    "tracing.sample_ratio",
    "tracing.queue_size",
    "tracing.export_timeout",
    "tracing.shutdown_timeout",
    "growth.enabled",
    "growth.interval",
    "growth.user",
    "growth.password",
    "growth.dsn",
    "growth.min_growth",
    "growth.elasticity",
    "growth.min_slowdown_ms",
    "growth.query_timeout",
    "capture.enabled",
    "capture.path",
    "capture.directory",
    "capture.duration",
    "capture.max_bytes",
    "capture.rotate_bytes",
    "capture.redact",
    "capture.database",
    "capture.user",
    "capture.application",
];

/// `PGSCOPE_*` variables that are not configuration keys: they belong to pgscope's own tools and
/// tests (or name the config file), so the unknown-variable check leaves them alone.
pub const RESERVED_ENV_VARS: &[&str] = &[
    "PGSCOPE_CONFIG",
    "PGSCOPE_BIN",
    "PGSCOPE_PG_BIN",
    "PGSCOPE_VENV",
];

/// Prefixes of `PGSCOPE_*` variables reserved in the same way (test harness settings).
pub const RESERVED_ENV_PREFIXES: &[&str] = &["PGSCOPE_TEST_"];

/// The variable that names the config file when `--config` is absent.
const CONFIG_ENV: &str = "PGSCOPE_CONFIG";

/// The prefix shared by every pgscope environment variable.
const ENV_PREFIX: &str = "PGSCOPE_";

/// A value as written, before interpretation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum RawValue {
    /// A string: every environment and flag value, and TOML strings.
    Text(String),
    /// Any other TOML value (integer, boolean, float, array, table, datetime).
    Toml(toml::Value),
}

impl fmt::Display for RawValue {
    /// Renders the value for error messages: strings quoted, TOML values as TOML.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RawValue::Text(text) => write!(f, "{text:?}"),
            RawValue::Toml(value) => write!(f, "{value}"),
        }
    }
}

/// A raw value and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sourced {
    pub(crate) value: RawValue,
    pub(crate) origin: Source,
}

/// The winning raw value of every key that was set anywhere.
#[derive(Debug, Default)]
pub(crate) struct RawConfig {
    values: BTreeMap<&'static str, Sourced>,
}

impl RawConfig {
    /// Gathers file, then environment, then flags; a later source overwrites an earlier one.
    pub(crate) fn gather(
        args: &RunArgs,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<RawConfig, ConfigError> {
        let env: BTreeMap<String, String> = env
            .into_iter()
            .filter(|(name, _)| name.starts_with(ENV_PREFIX))
            .collect();
        let mut raw = RawConfig::default();
        if let Some((path, origin)) = config_path(args, &env) {
            raw.read_file(path, origin)?;
        }
        raw.read_env(&env)?;
        raw.read_flags(args);
        Ok(raw)
    }

    /// The winning value of `key`, if any, left in place.
    pub(crate) fn peek(&self, key: &str) -> Option<&Sourced> {
        self.values.get(key)
    }

    /// Removes and returns the winning value of `key`.
    pub(crate) fn take(&mut self, key: &str) -> Option<Sourced> {
        self.values.remove(key)
    }

    fn set(&mut self, key: &'static str, value: RawValue, origin: Source) {
        self.values.insert(key, Sourced { value, origin });
    }

    fn read_file(&mut self, path: PathBuf, origin: Source) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(&path).map_err(|cause| ConfigError::ReadFile {
            path: path.clone(),
            origin,
            cause,
        })?;
        let table: toml::Table = toml::from_str(&text).map_err(|cause| ConfigError::ParseFile {
            path: path.clone(),
            cause,
        })?;
        self.read_table(table, "", &Source::File(path))
    }

    /// Walks one TOML table; `prefix` is the dotted section it sits in ("" at the top).
    fn read_table(
        &mut self,
        table: toml::Table,
        prefix: &str,
        origin: &Source,
    ) -> Result<(), ConfigError> {
        for (name, value) in table {
            let dotted = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}.{name}")
            };
            match value {
                toml::Value::Table(inner) if is_section(&dotted) => {
                    self.read_table(inner, &dotted, origin)?;
                }
                value => {
                    let key = known_key(&dotted).ok_or_else(|| ConfigError::UnknownKey {
                        key: dotted.clone(),
                        origin: origin.clone(),
                        valid: KEYS.join(", "),
                    })?;
                    let value = match value {
                        toml::Value::String(text) => RawValue::Text(text),
                        other => RawValue::Toml(other),
                    };
                    self.set(key, value, origin.clone());
                }
            }
        }
        Ok(())
    }

    fn read_env(&mut self, env: &BTreeMap<String, String>) -> Result<(), ConfigError> {
        for (name, value) in env {
            if is_reserved_env(name) {
                continue;
            }
            let key = KEYS
                .iter()
                .copied()
                .find(|key| env_name(key) == *name)
                .ok_or_else(|| ConfigError::UnknownEnv {
                    name: name.clone(),
                    valid: KEYS
                        .iter()
                        .map(|key| env_name(key))
                        .collect::<Vec<_>>()
                        .join(", "),
                })?;
            self.set(
                key,
                RawValue::Text(value.clone()),
                Source::Env(name.clone()),
            );
        }
        Ok(())
    }

    fn read_flags(&mut self, args: &RunArgs) {
        for (key, value) in args.values() {
            if let Some(value) = value {
                let flag = format!("--{}", key.replace('_', "-"));
                self.set(key, RawValue::Text(value.clone()), Source::Flag(flag));
            }
        }
    }
}

/// The config file to read, if any: `--config` wins over `PGSCOPE_CONFIG`.
fn config_path(args: &RunArgs, env: &BTreeMap<String, String>) -> Option<(PathBuf, Source)> {
    if let Some(path) = &args.config {
        return Some((path.clone(), Source::Flag("--config".to_owned())));
    }
    env.get(CONFIG_ENV)
        .map(|path| (PathBuf::from(path), Source::Env(CONFIG_ENV.to_owned())))
}

/// The environment variable that sets `key`: `recorder.max_fingerprints` →
/// `PGSCOPE_RECORDER_MAX_FINGERPRINTS`.
pub(crate) fn env_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.replace('.', "_").to_ascii_uppercase())
}

fn is_reserved_env(name: &str) -> bool {
    RESERVED_ENV_VARS.contains(&name)
        || RESERVED_ENV_PREFIXES
            .iter()
            .any(|prefix| name.starts_with(prefix))
}

fn known_key(dotted: &str) -> Option<&'static str> {
    KEYS.iter().copied().find(|key| *key == dotted)
}

/// Whether `dotted` names a section, i.e. some key lives below it.
fn is_section(dotted: &str) -> bool {
    KEYS.iter().any(|key| {
        key.strip_prefix(dotted)
            .is_some_and(|rest| rest.starts_with('.'))
    })
}
