//! [`OtlpExporter`]: the SDK batch processor's exporter — a batch of spans becomes one OTLP
//! request (`proto.rs`), encoded once by prost and sent over the configured transport
//! (`transport.rs`), retried as the OTLP specification allows.
//!
//! Retries follow the SDK exporter's recommended policy: at most three more attempts after the
//! first, 100 ms before the first retry and twice as long before each next one (at most
//! 1.6 s), plus up to 100 ms of jitter; a collector's `Retry-After` (at most 30 s) replaces the
//! computed delay. Every attempt shares the one export deadline the caller (`queue.rs`) puts
//! around the whole export, so a collector that keeps failing costs one timeout, not four.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use prost::Message;

use super::proto;
use super::transport::Transport;

/// Attempts after the first.
const RETRIES: u32 = 3;
/// The delay before the first retry.
const FIRST_DELAY: Duration = Duration::from_millis(100);
/// The longest computed delay.
const MAX_DELAY: Duration = Duration::from_millis(1600);
/// The longest wait a collector's `Retry-After` can ask for.
const MAX_THROTTLE: Duration = Duration::from_secs(30);
/// The most jitter added to a delay.
const MAX_JITTER_MS: u64 = 100;

/// Exports span batches as OTLP over `transport`.
#[derive(Debug)]
pub(crate) struct OtlpExporter {
    transport: Transport,
    resource: Resource,
    shut_down: AtomicBool,
}

impl OtlpExporter {
    /// An exporter over `transport`; the batch processor hands it the resource.
    pub(crate) fn new(transport: Transport) -> OtlpExporter {
        OtlpExporter {
            transport,
            resource: Resource::default(),
            shut_down: AtomicBool::new(false),
        }
    }

    async fn send(&self, body: Bytes) -> OTelSdkResult {
        let mut delay = FIRST_DELAY;
        let mut attempt = 0;
        loop {
            let error = match self.transport.send(&body).await {
                Ok(()) => return Ok(()),
                Err(error) => error,
            };
            if !error.retryable || attempt == RETRIES {
                return Err(OTelSdkError::InternalFailure(error.message));
            }
            attempt += 1;
            let wait = match error.retry_after {
                Some(asked) => asked.min(MAX_THROTTLE),
                None => delay,
            };
            tokio::time::sleep(wait + jitter()).await;
            delay = (delay * 2).min(MAX_DELAY);
        }
    }
}

impl SpanExporter for OtlpExporter {
    fn export(
        &self,
        batch: Vec<SpanData>,
    ) -> impl std::future::Future<Output = OTelSdkResult> + Send {
        let body = (!self.shut_down.load(Ordering::Relaxed))
            .then(|| Bytes::from(proto::request(batch, &self.resource).encode_to_vec()));
        async move {
            match body {
                Some(body) => self.send(body).await,
                None => Err(OTelSdkError::AlreadyShutdown),
            }
        }
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        if self.shut_down.swap(true, Ordering::Relaxed) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        Ok(())
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.resource = proto::resource(resource);
    }
}

/// Up to [`MAX_JITTER_MS`] milliseconds, from the clock's nanoseconds (spreading retries of
/// several pgscope processes is all it is for).
fn jitter() -> Duration {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| u64::from(since.subsec_nanos()));
    Duration::from_millis(nanos % (MAX_JITTER_MS + 1))
}
