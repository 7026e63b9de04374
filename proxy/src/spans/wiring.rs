//! [`SpanExport`]: span export as the composition root ([`crate::wiring`]) sets it up from the
//! `[tracing]` section, and its flush at shutdown.

use std::sync::Arc;
use std::time::Duration;

use pgscope_config::{OtlpProtocol, TracingConfig};
use pgscope_otel::{
    tracing_enabled, OtelError, Protocol, SpanCounters, TraceOptions, TraceSettings, Tracing,
};

use super::{ServerAddress, SpanObserver};
use crate::clock::WallClock;
use crate::observer::Observer;
use crate::shape::Shapes;

/// Why span export could not be set up. The message already holds the cause's, so the cause
/// is not also reported as a `source` (which would print it twice).
#[derive(Debug, thiserror::Error)]
#[error("tracing: {0}")]
pub struct SpanExportError(pub OtelError);

impl From<OtelError> for SpanExportError {
    fn from(error: OtelError) -> Self {
        SpanExportError(error)
    }
}

/// The running span pipeline and the observer feeding it.
#[derive(Debug)]
pub struct SpanExport {
    tracing: Tracing,
    pub(super) observer: Arc<SpanObserver>,
    shutdown_timeout: Duration,
}

impl SpanExport {
    /// Starts span export when `config.enabled` — or `OTEL_TRACES_EXPORTER=otlp`, unless
    /// `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none` (see
    /// [`tracing_enabled`]) — reading the `OTEL_*` variables of the process; `Ok(None)` (and
    /// nothing constructed) when tracing is off. `server` is the upstream's address;
    /// `counters` are where drops are counted (the proxy's stats); `shapes` are the process's
    /// one analysis per query shape and `clock` its one clock.
    pub fn start(
        config: &TracingConfig,
        server: ServerAddress,
        counters: Arc<SpanCounters>,
        shapes: Arc<Shapes>,
        clock: Arc<WallClock>,
    ) -> Result<Option<SpanExport>, SpanExportError> {
        let env = std::env::vars_os().map(|(name, value)| {
            (
                name.to_string_lossy().into_owned(),
                value.to_string_lossy().into_owned(),
            )
        });
        SpanExport::start_with_env(config, server, counters, shapes, clock, env)
    }

    /// Same with an explicit environment.
    pub fn start_with_env(
        config: &TracingConfig,
        server: ServerAddress,
        counters: Arc<SpanCounters>,
        shapes: Arc<Shapes>,
        clock: Arc<WallClock>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Option<SpanExport>, SpanExportError> {
        let env: Vec<(String, String)> = env.into_iter().collect();
        if !tracing_enabled(config.enabled, env.iter().cloned())? {
            return Ok(None);
        }
        let settings = TraceSettings::resolve(&options(config), env)?;
        let tracing = Tracing::start(&settings, counters)?;
        log::info!("tracing: exporting a span per query, {settings}");
        let observer = Arc::new(SpanObserver::new(
            tracing.emitter().clone(),
            server,
            shapes,
            clock,
        ));
        Ok(Some(SpanExport {
            tracing,
            observer,
            shutdown_timeout: config.shutdown_timeout,
        }))
    }

    /// The observer that makes the spans.
    pub fn observer(&self) -> Arc<dyn Observer> {
        self.observer.clone()
    }

    /// The pipeline.
    pub fn tracing(&self) -> &Tracing {
        &self.tracing
    }

    /// Exports the spans still queued (within `tracing.shutdown_timeout`) and logs what became
    /// of all spans. Call after the server has drained.
    pub fn finish(self) {
        let result = self.tracing.shutdown(self.shutdown_timeout);
        let counters = self.tracing.counters();
        let summary = format!(
            "{} exported, {} dropped ({} queue full, {} export failed)",
            counters.exported(),
            counters.dropped(),
            counters.dropped_queue_full(),
            counters.dropped_export_failed()
        );
        match result {
            Ok(()) => log::info!("tracing stopped: spans {summary}"),
            Err(error) => log::warn!("tracing stopped: spans {summary}; {error}"),
        }
    }
}

/// The exporter's options from the `[tracing]` section.
fn options(config: &TracingConfig) -> TraceOptions {
    TraceOptions {
        endpoint: config.endpoint.clone(),
        protocol: config.protocol.map(|protocol| match protocol {
            OtlpProtocol::HttpProtobuf => Protocol::HttpProtobuf,
            OtlpProtocol::Grpc => Protocol::Grpc,
        }),
        service_name: config.service_name.clone(),
        sample_ratio: config.sample_ratio,
        queue_size: config.queue_size,
        export_timeout: config.export_timeout,
    }
}
