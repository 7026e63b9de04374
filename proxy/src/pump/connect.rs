//! Opening the upstream connection for a client (and for its cancel requests), with libpq's
//! `sslmode=allow` retry, and failures reported once per burst.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{write_all, Pump, CANCEL_TIMEOUT, READ_SIZE};
use crate::session::{Output, Session};
use crate::stats::ProxyStats;
use crate::tls::{ConnectError, ServerStream, UpstreamConnector};

/// A burst of upstream failures is logged once per this period (with the count suppressed).
const LOG_PERIOD: Duration = Duration::from_secs(10);

/// The upstream connection of a client, ready for the relay.
pub(super) struct Connected {
    /// The connection, the startup packet already written to it.
    pub(super) stream: ServerStream,
    /// Bytes the server sent that were read while connecting (`sslmode=allow`'s first answer).
    pub(super) prefetched: Bytes,
}

/// Logs the first failure of a burst, then at most one line per [`LOG_PERIOD`] saying how many
/// were not logged, so an upstream outage does not flood the log.
#[derive(Debug, Default)]
pub(super) struct BurstLog {
    last: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

impl BurstLog {
    fn warn(&self, message: &str) {
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if last.is_some_and(|at| now.duration_since(at) < LOG_PERIOD) {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        *last = Some(now);
        match self.suppressed.swap(0, Ordering::Relaxed) {
            0 => log::warn!("{message}"),
            n => log::warn!("{message} ({n} more failures not logged in the last {LOG_PERIOD:?})"),
        }
    }
}

impl Pump {
    /// Opens the upstream connection and writes the session's output (the client's startup
    /// packet) to it. On failure, the output to send the client (FATAL 08006) is the error.
    pub(super) async fn open_upstream(
        &self,
        connector: &UpstreamConnector,
        session: &mut Session,
        out: &mut Output,
    ) -> Result<Connected, Output> {
        let startup = std::mem::take(&mut out.to_server);
        let mut stream = self
            .connect(connector)
            .await
            .map_err(|error| self.connect_failed(connector, session, &error))?;
        if write_all(&mut stream, &startup).await.is_err() {
            return Err(self.connect_failed(connector, session, &ConnectError::lost()));
        }
        let mut prefetched = Bytes::new();
        if connector.retries_with_tls() && !stream.is_tls() {
            // libpq's `allow`: if the server refuses the plaintext startup, try again with TLS.
            let mut first = BytesMut::with_capacity(READ_SIZE);
            let refused = match stream.read_buf(&mut first).await {
                Ok(0) | Err(_) => true,
                Ok(_) => first.first() == Some(&pgscope_protocol::tag::backend::ERROR_RESPONSE),
            };
            if refused {
                log::debug!(
                    "{} refused a plaintext startup; retrying with TLS",
                    connector.label()
                );
                ProxyStats::add(&self.stats.upstream_connections_total, 1);
                stream = match connector.connect_tls().await {
                    Ok(stream) => stream,
                    Err(error) => {
                        ProxyStats::add(&self.stats.upstream_connections_failed, 1);
                        return Err(self.connect_failed(connector, session, &error));
                    }
                };
                if write_all(&mut stream, &startup).await.is_err() {
                    return Err(self.connect_failed(connector, session, &ConnectError::lost()));
                }
            } else {
                ProxyStats::add(&self.stats.bytes_server_to_client, first.len() as u64);
                prefetched = first.freeze();
            }
        }
        session.on_upstream_connected(stream.is_tls());
        Ok(Connected { stream, prefetched })
    }

    /// Opens one upstream connection, counting it.
    async fn connect(&self, connector: &UpstreamConnector) -> Result<ServerStream, ConnectError> {
        let result = connector.connect().await;
        ProxyStats::add(&self.stats.upstream_connections_total, 1);
        if result.is_err() {
            ProxyStats::add(&self.stats.upstream_connections_failed, 1);
        }
        result
    }

    /// Counts and logs a failure, and prepares the client's FATAL 08006.
    fn connect_failed(
        &self,
        connector: &UpstreamConnector,
        session: &mut Session,
        error: &ConnectError,
    ) -> Output {
        let label = connector.label();
        if error.tls {
            ProxyStats::add(&self.stats.upstream_tls_failures, 1);
        }
        self.failures
            .warn(&format!("upstream {label} unreachable: {}", error.reason));
        let mut out = Output::default();
        session.on_connect_failed(label, &error.reason, &mut out);
        out
    }

    /// Sends a `CancelRequest` packet, unchanged, on a fresh upstream connection opened under
    /// the same TLS policy as the client's own, so cancelling works against TLS-only servers.
    pub(super) async fn forward_cancel(&self, connector: &UpstreamConnector, packet: Bytes) {
        let cancel = async {
            let mut stream = self.connect(connector).await.map_err(|e| e.reason)?;
            stream.write_all(&packet).await.map_err(|e| e.to_string())?;
            stream.flush().await.map_err(|e| e.to_string())?;
            // The server closes the connection once it has read the request.
            let mut sink = [0u8; 64];
            let _ = stream.read(&mut sink).await;
            Ok::<(), String>(())
        };
        match tokio::time::timeout(CANCEL_TIMEOUT, cancel).await {
            Ok(Ok(())) => ProxyStats::add(&self.stats.cancels_forwarded, 1),
            Ok(Err(e)) => self
                .failures
                .warn(&format!("could not forward a cancel request: {e}")),
            Err(_) => log::warn!("forwarding a cancel request timed out"),
        }
    }
}
