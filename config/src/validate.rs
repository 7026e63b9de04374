//! Stage two: turn the gathered raw values into one typed [`Config`], filling defaults for keys
//! set nowhere. This is the only place values are interpreted, so every key is checked the same
//! way whichever source it came from.

use crate::capture::{self, CaptureConfig};
use crate::error::ConfigError;
use crate::growth;
use crate::listen;
use crate::parse::{self, Reason};
use crate::raw::{RawConfig, RawValue};
use crate::tls::{self, TlsConfig};
use crate::tracing::{self, TracingConfig};
use crate::{Config, GrowthConfig, RecorderConfig, Secret};

/// Builds the validated configuration; the first invalid value is the error.
pub(crate) fn validate(mut raw: RawConfig) -> Result<Config, ConfigError> {
    let defaults = Config::default();
    let raw = &mut raw;
    Ok(Config {
        listen: get(raw, "listen", listen::listen)?.unwrap_or(defaults.listen),
        upstream: get(raw, "upstream", parse::upstream)?,
        admin: get(raw, "admin", parse::socket_addr)?.unwrap_or(defaults.admin),
        max_message_size: get(raw, "max_message_size", parse::message_size)?
            .unwrap_or(defaults.max_message_size),
        pipeline_timing: get(raw, "pipeline_timing", parse::pipeline_timing)?
            .unwrap_or(defaults.pipeline_timing),
        connect_timeout: get(raw, "connect_timeout", parse::nonzero_duration)?
            .unwrap_or(defaults.connect_timeout),
        startup_timeout: get(raw, "startup_timeout", parse::nonzero_duration)?
            .unwrap_or(defaults.startup_timeout),
        shutdown_grace: get(raw, "shutdown_grace", parse::duration)?
            .unwrap_or(defaults.shutdown_grace),
        handover_grace: get(raw, "handover_grace", parse::duration)?
            .unwrap_or(defaults.handover_grace),
        max_connections: get(raw, "max_connections", parse::count)?
            .unwrap_or(defaults.max_connections),
        max_startup_connections: get(raw, "max_startup_connections", parse::count)?
            .unwrap_or(defaults.max_startup_connections),
        threads: get(raw, "threads", parse::count)?.unwrap_or(defaults.threads),
        log_level: get(raw, "log_level", parse::log_level)?.unwrap_or(defaults.log_level),
        log_format: get(raw, "log_format", parse::log_format)?.unwrap_or(defaults.log_format),
        admin_token: get(raw, "admin_token", parse::token)?.map(Secret::new),
        tls: tls_section(raw)?,
        recorder: recorder(raw, defaults.recorder)?,
        tracing: tracing(raw, defaults.tracing)?,
        growth: growth_section(raw, defaults.growth)?,
        capture: capture_section(raw)?,
    })
}

/// The `[capture]` section.
fn capture_section(raw: &mut RawConfig) -> Result<CaptureConfig, ConfigError> {
    Ok(CaptureConfig {
        enabled: get(raw, "capture.enabled", parse::boolean)?.unwrap_or(false),
        path: get(raw, "capture.path", parse::path)?,
        directory: get(raw, "capture.directory", parse::path)?,
        duration: get(raw, "capture.duration", parse::nonzero_duration)?,
        max_bytes: get(raw, "capture.max_bytes", capture::bytes)?,
        rotate_bytes: get(raw, "capture.rotate_bytes", capture::bytes)?,
        redact: get(raw, "capture.redact", parse::boolean)?.unwrap_or(false),
        database: get(raw, "capture.database", capture::names)?.unwrap_or_default(),
        user: get(raw, "capture.user", capture::names)?.unwrap_or_default(),
        application: get(raw, "capture.application", capture::names)?.unwrap_or_default(),
    })
}

/// The `[tls]` section; a cross-check failure names the key it is about and where that key's
/// value came from (or that it was never set).
fn tls_section(raw: &mut RawConfig) -> Result<TlsConfig, ConfigError> {
    let origins: Vec<_> = ["tls.mode", "tls.cert", "tls.key", "tls.client_ca"]
        .iter()
        .map(|key| (*key, raw.peek(key).cloned()))
        .collect();
    let mode = get(raw, "tls.mode", tls::mode)?;
    let cert = get(raw, "tls.cert", parse::path)?;
    let key = get(raw, "tls.key", parse::path)?;
    let client_ca = get(raw, "tls.client_ca", parse::path)?;
    tls::check(mode, cert, key, client_ca).map_err(|(key, Reason(reason))| {
        let sourced = origins
            .iter()
            .find(|(name, _)| *name == key)
            .and_then(|(_, sourced)| sourced.clone());
        match sourced {
            Some(sourced) => ConfigError::InvalidValue {
                key: key.to_owned(),
                value: sourced.value.to_string(),
                origin: sourced.origin,
                reason,
            },
            None => ConfigError::Missing {
                key: key.to_owned(),
                reason,
            },
        }
    })
}

/// The `[growth]` section.
fn growth_section(
    raw: &mut RawConfig,
    defaults: GrowthConfig,
) -> Result<GrowthConfig, ConfigError> {
    Ok(GrowthConfig {
        enabled: get(raw, "growth.enabled", parse::boolean)?.unwrap_or(defaults.enabled),
        interval: get(raw, "growth.interval", growth::interval)?.unwrap_or(defaults.interval),
        user: get(raw, "growth.user", growth::role)?.unwrap_or(defaults.user),
        password: get(raw, "growth.password", growth::password)?.or(defaults.password),
        dsn: get(raw, "growth.dsn", growth::dsn)?.or(defaults.dsn),
        min_growth: get(raw, "growth.min_growth", growth::growth)?.unwrap_or(defaults.min_growth),
        elasticity: get(raw, "growth.elasticity", growth::elasticity)?
            .unwrap_or(defaults.elasticity),
        min_slowdown_ms: get(raw, "growth.min_slowdown_ms", growth::milliseconds)?
            .unwrap_or(defaults.min_slowdown_ms),
        query_timeout: get(raw, "growth.query_timeout", parse::nonzero_duration)?
            .unwrap_or(defaults.query_timeout),
    })
}

/// The `[tracing]` section.
fn tracing(raw: &mut RawConfig, defaults: TracingConfig) -> Result<TracingConfig, ConfigError> {
    Ok(TracingConfig {
        enabled: get(raw, "tracing.enabled", parse::boolean)?.unwrap_or(defaults.enabled),
        endpoint: get(raw, "tracing.endpoint", tracing::endpoint)?.or(defaults.endpoint),
        protocol: get(raw, "tracing.protocol", tracing::protocol)?.or(defaults.protocol),
        service_name: get(raw, "tracing.service_name", tracing::name)?.or(defaults.service_name),
        sample_ratio: get(raw, "tracing.sample_ratio", tracing::ratio)?.or(defaults.sample_ratio),
        queue_size: get(raw, "tracing.queue_size", tracing::queue_size)?.or(defaults.queue_size),
        export_timeout: get(raw, "tracing.export_timeout", parse::nonzero_duration)?
            .or(defaults.export_timeout),
        shutdown_timeout: get(raw, "tracing.shutdown_timeout", parse::duration)?
            .unwrap_or(defaults.shutdown_timeout),
    })
}

/// The `[recorder]` section.
fn recorder(raw: &mut RawConfig, defaults: RecorderConfig) -> Result<RecorderConfig, ConfigError> {
    Ok(RecorderConfig {
        enabled: get(raw, "recorder.enabled", parse::boolean)?.unwrap_or(defaults.enabled),
        max_fingerprints: get(raw, "recorder.max_fingerprints", parse::count)?
            .unwrap_or(defaults.max_fingerprints),
        max_query_text: get(raw, "recorder.max_query_text", parse::text_size)?
            .unwrap_or(defaults.max_query_text),
        window: get(raw, "recorder.window", parse::window)?.unwrap_or(defaults.window),
        windows: get(raw, "recorder.windows", parse::window_count)?.unwrap_or(defaults.windows),
        state_dir: get(raw, "recorder.state_dir", parse::path)?.or(defaults.state_dir),
        snapshot_interval: get(raw, "recorder.snapshot_interval", parse::nonzero_duration)?
            .unwrap_or(defaults.snapshot_interval),
        top_k: get(raw, "recorder.top_k", parse::count)?.unwrap_or(defaults.top_k),
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
