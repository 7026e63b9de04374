//! The two wrappers that make the SDK's batch processor bounded *and counted*.
//!
//! The SDK's `BatchSpanProcessor` already drops spans when its queue is full, but only keeps
//! the count to itself. [`BoundedProcessor`] sits in front of it and admits a span only while
//! fewer than `capacity` are queued or being exported, counting every refusal; the batch
//! processor's own queue has the same capacity, so it never drops a span uncounted.
//! [`CountingExporter`] sits behind it: it runs each export request on pgscope's small
//! OTLP runtime with a deadline, settles the batch's spans as exported or dropped, and logs
//! failures without flooding the log.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use opentelemetry::Context;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};
use opentelemetry_sdk::Resource;
use tokio::runtime::Runtime;

use super::SpanCounters;

/// How often a persisting export failure is logged again.
const FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// Admits spans to `inner` only while fewer than `capacity` are pending; counts the rest.
#[derive(Debug)]
pub(crate) struct BoundedProcessor<P> {
    inner: P,
    counters: Arc<SpanCounters>,
    capacity: u64,
}

impl<P> BoundedProcessor<P> {
    /// Bounds `inner` (whose own queue must hold at least `capacity` spans).
    pub(crate) fn new(inner: P, counters: Arc<SpanCounters>, capacity: usize) -> Self {
        BoundedProcessor {
            inner,
            counters,
            capacity: capacity as u64,
        }
    }
}

impl<P: SpanProcessor> SpanProcessor for BoundedProcessor<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        if self.counters.try_enqueue(self.capacity) {
            self.inner.on_end(span);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// What has been logged about failing exports.
#[derive(Debug, Default)]
struct FailureLog {
    /// When the last warning was written; `None` while exports succeed.
    last_warning: Option<Instant>,
    /// Spans dropped since then.
    dropped_since: u64,
}

/// Runs `inner`'s exports on `runtime` with a deadline and settles the counters.
#[derive(Debug)]
pub(crate) struct CountingExporter<E> {
    inner: E,
    /// `None` only while being dropped.
    runtime: Option<Runtime>,
    counters: Arc<SpanCounters>,
    timeout: Duration,
    failures: Mutex<FailureLog>,
}

impl<E> CountingExporter<E> {
    /// Wraps `inner`, which was built inside `runtime` (gRPC channels and HTTP clients bind
    /// to the runtime they were built in).
    pub(crate) fn new(
        inner: E,
        runtime: Runtime,
        counters: Arc<SpanCounters>,
        timeout: Duration,
    ) -> Self {
        CountingExporter {
            inner,
            runtime: Some(runtime),
            counters,
            timeout,
            failures: Mutex::new(FailureLog::default()),
        }
    }

    fn record(&self, spans: u64, result: &OTelSdkResult) {
        self.counters.settle(spans, result.is_ok());
        let mut log = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        match result {
            Ok(()) => {
                if log.last_warning.take().is_some() {
                    log::info!("span export works again");
                }
                log.dropped_since = 0;
            }
            Err(error) => {
                log.dropped_since += spans;
                let due = log
                    .last_warning
                    .is_none_or(|at| at.elapsed() >= FAILURE_LOG_INTERVAL);
                if due {
                    log::warn!(
                        "span export failed, {} span(s) dropped (next warning in {}s at most): \
                         {error}",
                        log.dropped_since,
                        FAILURE_LOG_INTERVAL.as_secs()
                    );
                    log.last_warning = Some(Instant::now());
                    log.dropped_since = 0;
                }
            }
        }
    }
}

impl<E: SpanExporter> SpanExporter for CountingExporter<E> {
    /// Exports synchronously on the calling thread — the batch processor's own thread, which
    /// is never a runtime thread — and returns the settled result.
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        let spans = batch.len() as u64;
        let result = match &self.runtime {
            Some(runtime) => runtime.block_on(async {
                tokio::time::timeout(self.timeout, self.inner.export(batch))
                    .await
                    .unwrap_or(Err(OTelSdkError::Timeout(self.timeout)))
            }),
            None => Err(OTelSdkError::AlreadyShutdown),
        };
        self.record(spans, &result);
        std::future::ready(result)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

impl<E> Drop for CountingExporter<E> {
    fn drop(&mut self) {
        // Never blocks, so it is safe wherever the last reference goes away.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
