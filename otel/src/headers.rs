//! Request headers (`OTEL_EXPORTER_OTLP_TRACES_HEADERS`, else `OTEL_EXPORTER_OTLP_HEADERS`)
//! and compression (`…_COMPRESSION`) for the OTLP exporter.
//!
//! Headers are `key=value` pairs separated by commas, values percent-decoded (W3C Baggage
//! octets, as the specification defines the variables). They often carry credentials, so
//! [`Headers`] never shows a value in `Debug` output. A pair without `=` or with an empty key is
//! an error naming the variable (the SDK's exporter skips it silently).
//!
//! Compression: `none` is the only value pgscope accepts, as before: the OTLP exporter it used
//! was built without gzip, and a collector asked for gzip it does not get would be a silent
//! misconfiguration, so `gzip` is an error naming the variable.

use std::fmt;

use super::settings::{parse_pairs, OtelEnv};
use super::OtelError;

/// The header variables, the signal-specific one first (it wins).
pub(super) const HEADERS: &[&str] = &[
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_HEADERS",
];
/// The compression variables, the signal-specific one first (it wins).
pub(super) const COMPRESSION: &[&str] = &[
    "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
];

/// Headers sent with every export request, in the order given (a repeated key: the last wins).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<(String, String)>);

impl fmt::Debug for Headers {
    /// The keys only: values are often credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(key, _)| format!("{key}=…")))
            .finish()
    }
}

impl std::ops::Deref for Headers {
    type Target = [(String, String)];

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Headers {
    /// The headers `env` sets, and a check that it asks for no compression pgscope lacks.
    pub(super) fn resolve(env: &OtelEnv) -> Result<Headers, OtelError> {
        if let Some((name, value)) = env.first(COMPRESSION) {
            if !value.eq_ignore_ascii_case("none") {
                return Err(OtelError::InvalidEnv {
                    name,
                    value: value.to_owned(),
                    expected: "none (pgscope does not compress span exports)",
                });
            }
        }
        let Some((name, value)) = env.first(HEADERS) else {
            return Ok(Headers::default());
        };
        parse_pairs(value)
            .map(Headers)
            .ok_or_else(|| OtelError::InvalidEnv {
                name,
                // The value may hold a credential: the error names the variable only.
                value: "…".to_owned(),
                expected: "key=value pairs separated by commas, values percent-encoded",
            })
    }
}
