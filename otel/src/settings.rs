//! Resolving what to export where: pgscope's own options over the standard `OTEL_*`
//! variables over the OpenTelemetry defaults. The environment is an argument, so resolution is
//! a pure function that tests drive without touching the process environment.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use super::headers::{self, Headers};
use super::tls::{self, TlsFiles};
use super::OtelError;

/// The OTLP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `http/protobuf`: protobuf bodies POSTed to `…/v1/traces`.
    HttpProtobuf,
    /// `grpc`: the `opentelemetry.proto.collector.trace.v1.TraceService/Export` call.
    Grpc,
}

impl Protocol {
    /// The name `OTEL_EXPORTER_OTLP_PROTOCOL` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::Grpc => "grpc",
        }
    }
}

/// Which spans are sampled, as `OTEL_TRACES_SAMPLER` names them.
///
/// Each decides on the parent and the trace id alone, never on a span's attributes, which is
/// why the proxy's span observer builds a span's attributes only once it is sampled: a sampler
/// that read attributes would need them built first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SamplerSpec {
    /// `always_on`: every span, whatever its parent says.
    AlwaysOn,
    /// `always_off`: none.
    AlwaysOff,
    /// `traceidratio`: this fraction of trace ids, whatever the parent says.
    Ratio(f64),
    /// `parentbased_always_on` (the default): follow the parent; roots always.
    ParentBasedAlwaysOn,
    /// `parentbased_always_off`: follow the parent; roots never.
    ParentBasedAlwaysOff,
    /// `parentbased_traceidratio`: follow the parent; this fraction of roots.
    ParentBasedRatio(f64),
}

impl fmt::Display for SamplerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SamplerSpec::AlwaysOn => f.write_str("always_on"),
            SamplerSpec::AlwaysOff => f.write_str("always_off"),
            SamplerSpec::Ratio(r) => write!(f, "traceidratio({r})"),
            SamplerSpec::ParentBasedAlwaysOn => f.write_str("parentbased_always_on"),
            SamplerSpec::ParentBasedAlwaysOff => f.write_str("parentbased_always_off"),
            SamplerSpec::ParentBasedRatio(r) => write!(f, "parentbased_traceidratio({r})"),
        }
    }
}

/// pgscope's own settings (its `[tracing]` section); each one that is set wins over its
/// `OTEL_*` counterpart.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceOptions {
    /// The collector's base URL, meant as `OTEL_EXPORTER_OTLP_ENDPOINT` is.
    pub endpoint: Option<String>,
    /// The transport.
    pub protocol: Option<Protocol>,
    /// `service.name`.
    pub service_name: Option<String>,
    /// Fraction of root spans sampled (the sampler becomes `parentbased_traceidratio`).
    pub sample_ratio: Option<f64>,
    /// Bound of the export queue.
    pub queue_size: Option<usize>,
    /// Limit on one export request.
    pub export_timeout: Option<Duration>,
}

/// Everything the pipeline needs, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceSettings {
    /// The transport.
    pub protocol: Protocol,
    /// The URL requests go to (for HTTP, with the `/v1/traces` path).
    pub endpoint: String,
    /// `service.name` of the resource.
    pub service_name: String,
    /// Further resource attributes (`OTEL_RESOURCE_ATTRIBUTES`), in order.
    pub resource: Vec<(String, String)>,
    /// The sampler.
    pub sampler: SamplerSpec,
    /// Most spans waiting for export; more are dropped and counted.
    pub queue_size: usize,
    /// Most spans in one export request.
    pub batch_size: usize,
    /// Longest a span waits for its batch to be sent.
    pub batch_delay: Duration,
    /// Limit on one export request.
    pub export_timeout: Duration,
    /// The PEM files for an `https://` endpoint.
    pub tls: TlsFiles,
    /// Headers sent with every export request (`OTEL_EXPORTER_OTLP_*HEADERS`).
    pub headers: Headers,
}

/// The service name when none is configured.
pub const DEFAULT_SERVICE_NAME: &str = "pgscope";
/// The OTLP/HTTP default base endpoint.
pub const DEFAULT_HTTP_ENDPOINT: &str = "http://localhost:4318";
/// The OTLP/gRPC default endpoint.
pub const DEFAULT_GRPC_ENDPOINT: &str = "http://localhost:4317";
/// The path of the traces signal under an OTLP/HTTP base endpoint.
const TRACES_PATH: &str = "/v1/traces";

const PROTOCOL: &str = "http/protobuf or grpc (http/json is not supported)";
const MILLIS: &str = "a whole number of milliseconds";
const COUNT: &str = "a whole number of at least 1";
const RATIO: &str = "a number from 0 to 1";
const SAMPLER: &str = "always_on, always_off, traceidratio, parentbased_always_on, \
                       parentbased_always_off or parentbased_traceidratio";
const URL: &str = "an http:// or https:// URL";

/// The `OTEL_*` variables of an environment; empty values count as unset, as the
/// specification says.
pub(super) struct OtelEnv(BTreeMap<String, String>);

impl OtelEnv {
    pub(super) fn new(env: impl IntoIterator<Item = (String, String)>) -> Self {
        OtelEnv(
            env.into_iter()
                .filter(|(name, value)| name.starts_with("OTEL_") && !value.trim().is_empty())
                .collect(),
        )
    }

    fn get(&self, name: &'static str) -> Option<(&'static str, &str)> {
        self.0.get(name).map(|value| (name, value.trim()))
    }

    /// The first of `names` that is set.
    pub(super) fn first(&self, names: &[&'static str]) -> Option<(&'static str, &str)> {
        names.iter().find_map(|name| self.get(name))
    }

    fn parse<T>(
        &self,
        names: &[&'static str],
        expected: &'static str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, OtelError> {
        match self.first(names) {
            None => Ok(None),
            Some((name, value)) => parse(value).map(Some).ok_or_else(|| OtelError::InvalidEnv {
                name,
                value: value.to_owned(),
                expected,
            }),
        }
    }
}

/// Every variable [`TraceSettings::resolve`] and [`super::tracing_enabled`] read.
pub const OTEL_VARIABLES: &[&str] = &[
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
    "OTEL_EXPORTER_OTLP_CLIENT_KEY",
    headers::HEADERS[0],
    headers::HEADERS[1],
    headers::COMPRESSION[0],
    headers::COMPRESSION[1],
];

impl TraceSettings {
    /// The resource spans are exported under: `service.name` and the further attributes.
    pub fn otel_resource(&self) -> opentelemetry_sdk::Resource {
        opentelemetry_sdk::Resource::builder_empty()
            .with_service_name(self.service_name.clone())
            .with_attributes(
                self.resource
                    .iter()
                    .map(|(key, value)| opentelemetry::KeyValue::new(key.clone(), value.clone())),
            )
            .build()
    }

    /// Resolves `options` over the `OTEL_*` variables of `env` over the defaults. A variable
    /// that is set but malformed is an error naming it (a proxy asked to trace should not
    /// silently trace differently).
    pub fn resolve(
        options: &TraceOptions,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<TraceSettings, OtelError> {
        let env = OtelEnv::new(env);
        let protocol = match options.protocol {
            Some(protocol) => protocol,
            None => env
                .parse(
                    &[
                        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
                        "OTEL_EXPORTER_OTLP_PROTOCOL",
                    ],
                    PROTOCOL,
                    parse_protocol,
                )?
                .unwrap_or(Protocol::HttpProtobuf),
        };
        let endpoint = resolve_endpoint(options, &env, protocol)?;
        let export_timeout = match options.export_timeout {
            Some(timeout) => timeout,
            None => env
                .parse(
                    &[
                        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
                        "OTEL_EXPORTER_OTLP_TIMEOUT",
                    ],
                    MILLIS,
                    parse_millis,
                )?
                .unwrap_or(Duration::from_secs(10)),
        };
        let resource = env
            .parse(
                &["OTEL_RESOURCE_ATTRIBUTES"],
                "key=value pairs separated by commas, values percent-encoded UTF-8",
                parse_pairs,
            )?
            .unwrap_or_default();
        let service_name = options
            .service_name
            .clone()
            .or_else(|| env.get("OTEL_SERVICE_NAME").map(|(_, v)| v.to_owned()))
            .or_else(|| {
                resource
                    .iter()
                    .find(|(key, _)| key == "service.name")
                    .map(|(_, value)| value.clone())
            })
            .unwrap_or_else(|| DEFAULT_SERVICE_NAME.to_owned());
        let sampler = match options.sample_ratio {
            Some(ratio) => SamplerSpec::ParentBasedRatio(ratio.clamp(0.0, 1.0)),
            None => resolve_sampler(&env)?,
        };
        let queue_size = match options.queue_size {
            Some(size) => size,
            None => env
                .parse(&["OTEL_BSP_MAX_QUEUE_SIZE"], COUNT, parse_count)?
                .unwrap_or(2048),
        };
        let batch_size = env
            .parse(&["OTEL_BSP_MAX_EXPORT_BATCH_SIZE"], COUNT, parse_count)?
            .unwrap_or(512)
            .min(queue_size);
        let batch_delay = env
            .parse(&["OTEL_BSP_SCHEDULE_DELAY"], MILLIS, parse_millis)?
            .unwrap_or(Duration::from_secs(5));
        let tls = TlsFiles::resolve(&env)?;
        let headers = Headers::resolve(&env)?;
        Ok(TraceSettings {
            protocol,
            endpoint,
            service_name,
            resource: resource
                .into_iter()
                .filter(|(key, _)| key != "service.name")
                .collect(),
            sampler,
            queue_size,
            batch_size,
            batch_delay,
            export_timeout,
            tls,
            headers,
        })
    }
}

impl fmt::Display for TraceSettings {
    /// One line for the log: `OTLP http/protobuf to URL as SERVICE, sampler S, queue N`,
    /// then for an `https://` endpoint the CA file trusted and the client certificate.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "OTLP {} to {} as {:?}, sampler {}, queue {}",
            self.protocol.as_str(),
            self.endpoint,
            self.service_name,
            self.sampler,
            self.queue_size
        )?;
        if tls::is_https(&self.endpoint) {
            match &self.tls.certificate {
                Some(ca) => write!(f, ", trusting {}", ca.path.display())?,
                None => f.write_str(", trusting the system store")?,
            }
            if let Some(cert) = &self.tls.client_certificate {
                write!(f, ", client certificate {}", cert.path.display())?;
            }
        }
        Ok(())
    }
}

fn resolve_endpoint(
    options: &TraceOptions,
    env: &OtelEnv,
    protocol: Protocol,
) -> Result<String, OtelError> {
    let with_path = |base: &str| match protocol {
        Protocol::HttpProtobuf => format!("{}{TRACES_PATH}", base.trim_end_matches('/')),
        Protocol::Grpc => base.to_owned(),
    };
    if let Some(base) = &options.endpoint {
        return Ok(with_path(base));
    }
    if let Some(url) = env.parse(&["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"], URL, parse_url)? {
        return Ok(url);
    }
    if let Some(base) = env.parse(&["OTEL_EXPORTER_OTLP_ENDPOINT"], URL, parse_url)? {
        return Ok(with_path(&base));
    }
    Ok(with_path(match protocol {
        Protocol::HttpProtobuf => DEFAULT_HTTP_ENDPOINT,
        Protocol::Grpc => DEFAULT_GRPC_ENDPOINT,
    }))
}

fn resolve_sampler(env: &OtelEnv) -> Result<SamplerSpec, OtelError> {
    let Some((name, value)) = env.get("OTEL_TRACES_SAMPLER") else {
        return Ok(SamplerSpec::ParentBasedAlwaysOn);
    };
    // A missing argument means 1.0, as the specification says.
    let ratio = || {
        env.parse(&["OTEL_TRACES_SAMPLER_ARG"], RATIO, parse_ratio)
            .map(|r| r.unwrap_or(1.0))
    };
    Ok(match value.to_ascii_lowercase().as_str() {
        "always_on" => SamplerSpec::AlwaysOn,
        "always_off" => SamplerSpec::AlwaysOff,
        "traceidratio" => SamplerSpec::Ratio(ratio()?),
        "parentbased_always_on" => SamplerSpec::ParentBasedAlwaysOn,
        "parentbased_always_off" => SamplerSpec::ParentBasedAlwaysOff,
        "parentbased_traceidratio" => SamplerSpec::ParentBasedRatio(ratio()?),
        _ => {
            return Err(OtelError::InvalidEnv {
                name,
                value: value.to_owned(),
                expected: SAMPLER,
            })
        }
    })
}

fn parse_protocol(value: &str) -> Option<Protocol> {
    match value {
        "http/protobuf" => Some(Protocol::HttpProtobuf),
        "grpc" => Some(Protocol::Grpc),
        _ => None,
    }
}

fn parse_url(value: &str) -> Option<String> {
    let rest = value
        .strip_prefix("http://")
        .or_else(|| value.strip_prefix("https://"))?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty()).then(|| value.to_owned())
}

fn parse_millis(value: &str) -> Option<Duration> {
    value.parse::<u64>().ok().map(Duration::from_millis)
}

fn parse_count(value: &str) -> Option<usize> {
    value.parse::<usize>().ok().filter(|n| *n >= 1)
}

fn parse_ratio(value: &str) -> Option<f64> {
    value
        .parse::<f64>()
        .ok()
        .filter(|r| (0.0..=1.0).contains(r))
}

/// `key=value,key2=value2`, values percent-decoded UTF-8 (W3C Baggage octets, as the
/// specification defines `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_EXPORTER_OTLP_*HEADERS`); `None`
/// for a pair without `=`, an empty key or a value that does not decode to UTF-8. The SDK's
/// `EnvResourceDetector` is not used: it reads the process environment (resolution here is a
/// function of the environment it is given), it does not percent-decode values, and it drops a
/// malformed pair silently where pgscope names the variable in an error.
pub(crate) fn parse_pairs(value: &str) -> Option<Vec<(String, String)>> {
    value
        .split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=')?;
            let key = key.trim();
            let value = percent_encoding::percent_decode_str(value.trim())
                .decode_utf8()
                .ok()?;
            (!key.is_empty()).then(|| (key.to_owned(), value.into_owned()))
        })
        .collect()
}
