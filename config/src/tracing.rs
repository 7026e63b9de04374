//! The `[tracing]` section: OpenTelemetry spans for every query, exported over OTLP.
//!
//! Tracing is off unless `tracing.enabled` is true. The exporter and the sampler follow the
//! standard `OTEL_*` environment variables (`OTEL_EXPORTER_OTLP_ENDPOINT`,
//! `OTEL_EXPORTER_OTLP_PROTOCOL`, `OTEL_SERVICE_NAME`, `OTEL_TRACES_SAMPLER`, …), which this
//! crate leaves alone: they are read where the exporter is built. Every other key of the
//! section is optional and, when set, wins over its `OTEL_*` counterpart, so the pgscope file
//! can pin what the environment would otherwise decide.

use std::time::Duration;

use crate::parse::{self, text, Reason};
use crate::raw::RawValue;

/// Settings of span export (`[tracing]` in the file, `PGSCOPE_TRACING_*`).
#[derive(Debug, Clone, PartialEq)]
pub struct TracingConfig {
    /// Whether a span is exported for each query (default false: no tracing code runs).
    pub enabled: bool,
    /// The collector's base URL (`http://host:4318`), as `OTEL_EXPORTER_OTLP_ENDPOINT` means
    /// it: for HTTP the signal path `/v1/traces` is appended.
    pub endpoint: Option<String>,
    /// The OTLP transport.
    pub protocol: Option<OtlpProtocol>,
    /// `service.name` of pgscope's spans.
    pub service_name: Option<String>,
    /// Fraction of root spans sampled, 0 to 1; spans whose parent (from a `traceparent`
    /// comment) was sampled are always exported. Sets the sampler to
    /// `parentbased_traceidratio`.
    pub sample_ratio: Option<f64>,
    /// Most spans waiting for export; more are dropped and counted.
    pub queue_size: Option<usize>,
    /// Limit on one export request.
    pub export_timeout: Option<Duration>,
    /// How long the spans still queued at shutdown may take to be exported.
    pub shutdown_timeout: Duration,
}

impl Default for TracingConfig {
    /// Off; everything else from the `OTEL_*` variables; 5 s to flush at shutdown.
    fn default() -> Self {
        TracingConfig {
            enabled: false,
            endpoint: None,
            protocol: None,
            service_name: None,
            sample_ratio: None,
            queue_size: None,
            export_timeout: None,
            shutdown_timeout: Duration::from_secs(5),
        }
    }
}

/// How spans travel to the collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    /// `http/protobuf`: protobuf bodies POSTed to `/v1/traces`.
    HttpProtobuf,
    /// `grpc`: the OTLP gRPC service.
    Grpc,
}

impl OtlpProtocol {
    /// The name `OTEL_EXPORTER_OTLP_PROTOCOL` uses (`http/protobuf`, `grpc`).
    pub fn as_str(self) -> &'static str {
        match self {
            OtlpProtocol::HttpProtobuf => "http/protobuf",
            OtlpProtocol::Grpc => "grpc",
        }
    }
}

const PROTOCOL: &str = "expected \"http/protobuf\" or \"grpc\"";
const ENDPOINT: &str = "expected an http:// or https:// URL like \"http://localhost:4318\"";
const RATIO: &str = "expected a number from 0 to 1, like 0.01";
const NAME: &str = "expected a non-empty name";
const QUEUE: &str = "expected a whole number from 1 to 1048576";

/// Largest accepted `tracing.queue_size` (each queued span holds its attributes in memory).
pub(crate) const MAX_QUEUE_SIZE: usize = 1 << 20;

/// An OTLP protocol name.
pub(crate) fn protocol(value: &RawValue) -> Result<OtlpProtocol, Reason> {
    match text(value, PROTOCOL)?.trim() {
        "http/protobuf" => Ok(OtlpProtocol::HttpProtobuf),
        "grpc" => Ok(OtlpProtocol::Grpc),
        _ => Err(Reason::from(PROTOCOL)),
    }
}

/// A collector URL: `http://` or `https://` followed by a host.
pub(crate) fn endpoint(value: &RawValue) -> Result<String, Reason> {
    let url = text(value, ENDPOINT)?.trim();
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| Reason::from(ENDPOINT))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(Reason::from(ENDPOINT));
    }
    Ok(url.to_owned())
}

/// A sampling ratio from 0 to 1, as a TOML number or a string.
pub(crate) fn ratio(value: &RawValue) -> Result<f64, Reason> {
    let parsed = match value {
        RawValue::Toml(toml::Value::Float(f)) => Some(*f),
        RawValue::Toml(toml::Value::Integer(n)) => Some(*n as f64),
        other => text(other, RATIO)?.trim().parse::<f64>().ok(),
    };
    parsed
        .filter(|r| (0.0..=1.0).contains(r))
        .ok_or_else(|| Reason::from(RATIO))
}

/// A non-empty name without surrounding whitespace.
pub(crate) fn name(value: &RawValue) -> Result<String, Reason> {
    let name = text(value, NAME)?.trim();
    if name.is_empty() {
        return Err(Reason::from(NAME));
    }
    Ok(name.to_owned())
}

/// A span queue bound, 1 to [`MAX_QUEUE_SIZE`].
pub(crate) fn queue_size(value: &RawValue) -> Result<usize, Reason> {
    parse::count(value)
        .ok()
        .filter(|n| *n <= MAX_QUEUE_SIZE)
        .ok_or_else(|| Reason::from(QUEUE))
}
