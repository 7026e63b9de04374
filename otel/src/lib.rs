//! pgscope-otel: OpenTelemetry span export — configuration from the standard `OTEL_*` variables and
//! pgscope's own options, and a pipeline that can never slow the queries it describes.
//!
//! # Design
//!
//! * **Settings** ([`TraceSettings::resolve`]) are a pure function of pgscope's
//!   [`TraceOptions`] (its `[tracing]` section) and an environment passed in as pairs, so
//!   tests drive them without touching the process. A `tracing.*` option that is set wins
//!   over its `OTEL_*` counterpart, which wins over the OpenTelemetry default. The variables
//!   read are listed in [`OTEL_VARIABLES`]; a malformed one is an error naming it. Request
//!   headers come from `OTEL_EXPORTER_OTLP_*HEADERS` ([`Headers`], never shown in logs);
//!   `…_COMPRESSION` may only say `none`.
//! * **On or off** ([`tracing_enabled`]): `tracing.enabled`, unless `OTEL_SDK_DISABLED=true`
//!   (off) or `OTEL_TRACES_EXPORTER` (`otlp` on, `none` off) says otherwise.
//! * **TLS** ([`TlsFiles`], `tls.rs`): an `https://` endpoint is reached over rustls (ring
//!   provider) on both transports, trusting the CA bundle of `OTEL_EXPORTER_OTLP_CERTIFICATE`
//!   or else the system trust store, and presenting `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`
//!   and `…_CLIENT_KEY` for mutual TLS (each `…_TRACES_…` variant wins). The files are read
//!   and checked when the pipeline starts: an unreadable, non-PEM or mismatched file stops
//!   it with an error naming the variable and the path.
//! * **Pipeline** ([`Tracing`]): a [`SpanEmitter`] — the SDK's configured sampler and id
//!   generator, making the SDK's `SpanData` without its tracer (`emit.rs` says why) — then
//!   a bounded queue, then the SDK's batch processor — whose worker is its own OS thread —
//!   then pgscope's OTLP exporter (`exporter.rs`), running on a one-thread tokio runtime owned
//!   by the pipeline. Ending a span costs the caller one atomic increment and a non-blocking
//!   channel send; everything slow happens on those two threads.
//! * **OTLP without the SDK's exporter** (`proto.rs`, `transport.rs`): a batch becomes one
//!   `ExportTraceServiceRequest` built directly in `opentelemetry-proto`'s generated types
//!   and encoded once by prost — the mapping the SDK's `opentelemetry-otlp` exporter applies,
//!   without its costs (it spent ≈ 17.5k of ≈ 21k instructions per exported span converting
//!   and encoding, see `benches/README.md`). The body goes out as HTTP/protobuf (hyper) or as
//!   the gRPC `TraceService/Export` call (tonic, the encoded body passed through), with the
//!   SDK exporter's retry policy. No byte of OTLP is written by hand: prost encodes every
//!   message; an integration test decodes what a collector receives and compares it with
//!   what the SDK's tracer and exporter send for the same spans.
//! * **Never block, always count** ([`SpanCounters`]): when the queue is full the span is
//!   dropped and counted; when an export request fails or passes its deadline its spans are
//!   dropped and counted. Failures are logged at most once a minute. The SDK's own drop
//!   count is private, which is why the queue bound is enforced in front of it (see
//!   `queue.rs`).
//! * **Shutdown** ([`Tracing::shutdown`]) exports what is still queued, within a deadline.
//!
//! What a span *says* — names and attributes — is the proxy's business (`pgscope::spans`);
//! this crate knows nothing of queries, nor of the statistics model (`pgscope-exporters`): it
//! is a crate of its own so that the model and its formats build without the OpenTelemetry,
//! tonic and hyper stack, and the two compile side by side.

mod counters;
mod emit;
mod exporter;
mod headers;
mod pipeline;
mod proto;
mod queue;
mod settings;
mod switch;
mod tls;
mod transport;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tls_tests;

pub use counters::SpanCounters;
pub use emit::{FinishedSpan, SampledSpan, SpanEmitter};
pub use headers::Headers;
pub use pipeline::{sampler, Tracing, SCOPE_NAME};
pub use settings::{
    Protocol, SamplerSpec, TraceOptions, TraceSettings, DEFAULT_GRPC_ENDPOINT,
    DEFAULT_HTTP_ENDPOINT, DEFAULT_SERVICE_NAME, OTEL_VARIABLES,
};
pub use switch::tracing_enabled;
pub use tls::{TlsFile, TlsFiles, TlsMaterial};

use std::path::PathBuf;

/// Why span export could not be set up or stopped.
#[derive(Debug, thiserror::Error)]
pub enum OtelError {
    /// An `OTEL_*` variable holds a value that cannot be used.
    #[error("invalid value {value:?} for environment variable {name}: expected {expected}")]
    InvalidEnv {
        /// The variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// What it should look like.
        expected: &'static str,
    },
    /// The exporter's runtime could not be started.
    #[error("cannot start the span export runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The OTLP exporter cannot be set up as configured.
    #[error("cannot set up the OTLP span exporter: {0}")]
    Exporter(String),
    /// A client certificate is named without its key, or a key without its certificate.
    #[error("{set} is set but {missing} is not: a client certificate needs its private key and a key its certificate")]
    TlsIncomplete {
        /// The variable that is set.
        set: &'static str,
        /// The variable that should be set too.
        missing: &'static str,
    },
    /// A TLS file cannot be read.
    #[error("cannot read {} (named by {variable}): {error}", path.display())]
    TlsRead {
        /// The variable naming it.
        variable: &'static str,
        /// The file.
        path: PathBuf,
        /// Why (in the message, so not also a source).
        error: std::io::Error,
    },
    /// A TLS file does not hold what it should.
    #[error("{} (named by {variable}) cannot be used: {problem}", path.display())]
    TlsFile {
        /// The variable naming it.
        variable: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// The client key does not go with the client certificate (or cannot sign).
    #[error("the client key {} does not go with the client certificate {}: {problem}", key.display(), certificate.display())]
    TlsIdentity {
        /// The certificate file.
        certificate: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls's reason.
        problem: String,
    },
    /// No CA file is named and the system trust store holds no certificate.
    #[error("no trusted certificate found in the system store for the https:// endpoint (set OTEL_EXPORTER_OTLP_CERTIFICATE to a CA bundle): {0}")]
    NoSystemRoots(String),
    /// rustls refused the TLS configuration.
    #[error("cannot set up TLS for span export: {0}")]
    TlsSetup(String),
    /// Flushing or shutting down the pipeline failed or timed out.
    #[error("span export did not finish: {0}")]
    Flush(#[source] opentelemetry_sdk::error::OTelSdkError),
}
