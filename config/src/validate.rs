//! Stage two: turn the gathered raw values into one typed [`Config`], filling defaults for keys
//! set nowhere. This is the only place values are interpreted, so every key is checked the same
//! way whichever source it came from.

use crate::error::ConfigError;
use crate::parse::{self, Reason};
use crate::raw::{RawConfig, RawValue};
use crate::Config;

/// Builds the validated configuration; the first invalid value is the error.
pub(crate) fn validate(mut raw: RawConfig) -> Result<Config, ConfigError> {
    let defaults = Config::default();
    let raw = &mut raw;
    Ok(Config {
        listen: get(raw, "listen", parse::socket_addr)?.unwrap_or(defaults.listen),
        upstream: get(raw, "upstream", parse::upstream)?,
        admin: get(raw, "admin", parse::socket_addr)?.unwrap_or(defaults.admin),
        max_message_size: get(raw, "max_message_size", parse::message_size)?
            .unwrap_or(defaults.max_message_size),
        connect_timeout: get(raw, "connect_timeout", parse::nonzero_duration)?
            .unwrap_or(defaults.connect_timeout),
        shutdown_grace: get(raw, "shutdown_grace", parse::duration)?
            .unwrap_or(defaults.shutdown_grace),
        max_connections: get(raw, "max_connections", parse::count)?
            .unwrap_or(defaults.max_connections),
        threads: get(raw, "threads", parse::count)?.unwrap_or(defaults.threads),
        log_level: get(raw, "log_level", parse::log_level)?.unwrap_or(defaults.log_level),
    })
}

/// Parses `key`'s winning value, if any, turning a rejection into an error naming the key, the
/// value and its source.
fn get<T>(
    raw: &mut RawConfig,
    key: &str,
    parse: fn(&RawValue) -> Result<T, Reason>,
) -> Result<Option<T>, ConfigError> {
    let Some(sourced) = raw.take(key) else {
        return Ok(None);
    };
    parse(&sourced.value)
        .map(Some)
        .map_err(|Reason(reason)| ConfigError::InvalidValue {
            key: key.to_owned(),
            value: sourced.value.to_string(),
            origin: sourced.origin,
            reason,
        })
}
