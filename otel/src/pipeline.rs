//! [`Tracing`]: the span emitter, its bounded batch processor, the OTLP exporter (pgscope's
//! own, `exporter.rs`) and the small runtime that exporter runs on.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::InstrumentationScope;
use opentelemetry_http::hyper::HyperClient;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SpanExporter, SpanProcessor as _,
};

use super::emit::SpanEmitter;
use super::exporter::OtlpExporter;
use super::queue::{BoundedProcessor, CountingExporter};
use super::tls::{self, TlsMaterial};
use super::transport::{self, Transport};
use super::{OtelError, Protocol, SamplerSpec, SpanCounters, TraceSettings};

/// The instrumentation scope of pgscope's spans.
pub const SCOPE_NAME: &str = "pgscope";

/// A running span pipeline: spans made by its [`emitter`](Tracing::emitter) are sampled,
/// queued (bounded; overflow dropped and counted in its [`SpanCounters`]) and exported in
/// batches from the SDK's own thread.
#[derive(Debug)]
pub struct Tracing {
    emitter: SpanEmitter,
    counters: Arc<SpanCounters>,
}

impl Tracing {
    /// Builds the OTLP exporter `settings` describe and starts the pipeline. Nothing is
    /// connected yet: a collector that is down shows up later as failed exports, never here.
    /// For an `https://` endpoint the TLS files are read and checked first; a bad one is an
    /// error naming its variable and path.
    pub fn start(
        settings: &TraceSettings,
        counters: Arc<SpanCounters>,
    ) -> Result<Tracing, OtelError> {
        let tls = if tls::is_https(&settings.endpoint) {
            Some(settings.tls.load()?)
        } else {
            if !settings.tls.is_empty() {
                log::warn!(
                    "tracing: the OTEL_EXPORTER_OTLP_*CERTIFICATE/KEY files are ignored: \
                     the endpoint {} is not https://",
                    settings.endpoint
                );
            }
            None
        };
        let https = match (&tls, settings.protocol) {
            (Some(tls), Protocol::HttpProtobuf) => Some(https_client(tls, settings)?),
            _ => None,
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("pgscope-otlp")
            .enable_all()
            .build()
            .map_err(OtelError::Runtime)?;
        let transport = {
            // gRPC channels and HTTP clients bind to the runtime they are built in.
            let _entered = runtime.enter();
            match settings.protocol {
                Protocol::HttpProtobuf => {
                    let client: Arc<dyn opentelemetry_http::HttpClient> = match https {
                        Some(client) => Arc::new(client),
                        None => Arc::new(HyperClient::with_default_connector(
                            settings.export_timeout,
                            None,
                        )),
                    };
                    Transport::http(client, &settings.endpoint, &settings.headers)
                }
                Protocol::Grpc => transport::channel(
                    &settings.endpoint,
                    settings.export_timeout,
                    tls.as_ref().map(TlsMaterial::tonic_config),
                )
                .and_then(|channel| Transport::grpc(channel, &settings.headers)),
            }
        };
        let transport = match transport {
            Ok(transport) => transport,
            Err(error) => {
                runtime.shutdown_background();
                return Err(error);
            }
        };
        let exporter = OtlpExporter::new(transport);
        let exporter = CountingExporter::new(
            exporter,
            runtime,
            Arc::clone(&counters),
            settings.export_timeout,
        );
        Ok(Tracing::with_exporter(settings, counters, exporter))
    }

    /// Starts the pipeline with any exporter (tests use an in-memory one). The exporter runs
    /// on the batch processor's thread; it must settle `counters` itself if it wants them
    /// exact, as the OTLP exporter's wrapper does.
    pub fn with_exporter(
        settings: &TraceSettings,
        counters: Arc<SpanCounters>,
        exporter: impl SpanExporter + 'static,
    ) -> Tracing {
        let batch = BatchSpanProcessor::builder(exporter)
            .with_batch_config(
                BatchConfigBuilder::default()
                    .with_max_queue_size(settings.queue_size)
                    .with_max_export_batch_size(settings.batch_size.min(settings.queue_size))
                    .with_scheduled_delay(settings.batch_delay)
                    .build(),
            )
            .build();
        let mut processor =
            BoundedProcessor::new(batch, Arc::clone(&counters), settings.queue_size);
        let resource = settings.otel_resource();
        processor.set_resource(&resource);
        let scope = InstrumentationScope::builder(SCOPE_NAME)
            .with_version(env!("CARGO_PKG_VERSION"))
            .build();
        Tracing {
            emitter: SpanEmitter::new(sampler(settings.sampler), scope, processor),
            counters,
        }
    }

    /// What makes the spans (shared: clone it for every thread that emits).
    pub fn emitter(&self) -> &SpanEmitter {
        &self.emitter
    }

    /// The pipeline's counters.
    pub fn counters(&self) -> &Arc<SpanCounters> {
        &self.counters
    }

    /// Exports everything queued now and waits for it (up to five seconds).
    pub fn force_flush(&self) -> Result<(), OtelError> {
        self.emitter.force_flush().map_err(OtelError::Flush)
    }

    /// Exports what is still queued, waiting at most `timeout`, and stops the pipeline;
    /// spans ended afterwards are not recorded. Call it once, after the last query.
    pub fn shutdown(&self, timeout: Duration) -> Result<(), OtelError> {
        self.emitter.shutdown(timeout).map_err(OtelError::Flush)
    }
}

/// The OTLP/HTTP client for an `https://` endpoint: hyper over rustls, HTTP/1.1, with the
/// export timeout as the request deadline (as the crate's default client has).
fn https_client(
    tls: &TlsMaterial,
    settings: &TraceSettings,
) -> Result<impl opentelemetry_http::HttpClient + 'static, OtelError> {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls.client_config()?)
        .https_only()
        .enable_http1()
        .build();
    Ok(HyperClient::new(connector, settings.export_timeout, None))
}

/// The SDK sampler for `spec`.
pub fn sampler(spec: SamplerSpec) -> Sampler {
    match spec {
        SamplerSpec::AlwaysOn => Sampler::AlwaysOn,
        SamplerSpec::AlwaysOff => Sampler::AlwaysOff,
        SamplerSpec::Ratio(ratio) => Sampler::TraceIdRatioBased(ratio),
        SamplerSpec::ParentBasedAlwaysOn => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        SamplerSpec::ParentBasedAlwaysOff => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        SamplerSpec::ParentBasedRatio(ratio) => {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio)))
        }
    }
}
