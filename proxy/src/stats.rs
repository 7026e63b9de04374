//! Counters describing pgscope itself: connections, bytes, protocol errors.
//!
//! They are plain relaxed atomics updated by the pumps (a handful of uncontended increments per
//! chunk) and read by whoever exports them. Gauges are kept as `current` counters that pumps
//! increment and decrement through RAII guards, so a panic or early return cannot leak one.

use std::sync::atomic::{AtomicU64, Ordering};

/// Process-wide proxy counters. Shared by `Arc`; not a global.
#[derive(Debug, Default)]
pub struct ProxyStats {
    /// Client connections open now.
    pub client_connections: AtomicU64,
    /// Client connections accepted since start.
    pub client_connections_total: AtomicU64,
    /// Client connections refused (connection cap reached, shutting down).
    pub client_connections_refused: AtomicU64,
    /// Client connections still in their startup now (TLS, startup packet, authentication).
    pub client_connections_starting: AtomicU64,
    /// Connections in startup evicted by newer ones when `max_startup_connections` was full.
    pub startup_evictions: AtomicU64,
    /// Clients refused because the open-file budget was spent.
    pub fd_limit_refusals: AtomicU64,
    /// Upstream connections open now.
    pub upstream_connections: AtomicU64,
    /// Upstream connections opened since start (including cancel connections).
    pub upstream_connections_total: AtomicU64,
    /// Upstream connection attempts that failed.
    pub upstream_connections_failed: AtomicU64,
    /// Upstream connection attempts that failed in TLS (negotiation, handshake, certificate).
    pub upstream_tls_failures: AtomicU64,
    /// Client TLS handshakes completed.
    pub client_tls_handshakes: AtomicU64,
    /// Client TLS handshakes that failed (or direct TLS without ALPN `postgresql`).
    pub client_tls_failures: AtomicU64,
    /// Clients closed because their startup (TLS and authentication included) took longer than
    /// `startup_timeout`.
    pub startup_timeouts: AtomicU64,
    /// Configuration reloads applied (SIGHUP).
    pub config_reloads: AtomicU64,
    /// Configuration reloads that changed nothing because the new configuration was invalid.
    pub config_reload_failures: AtomicU64,
    /// Bytes forwarded from clients to upstream.
    pub bytes_client_to_server: AtomicU64,
    /// Bytes forwarded from upstream to clients.
    pub bytes_server_to_client: AtomicU64,
    /// Client connections closed because they broke the protocol.
    pub protocol_errors: AtomicU64,
    /// `CancelRequest`s forwarded upstream (from clients, or sent for vanished clients).
    pub cancels_forwarded: AtomicU64,
    /// Query spans exported and dropped (see [`crate::spans`]); all zero while tracing is off.
    pub spans: std::sync::Arc<pgscope_otel::SpanCounters>,
}

impl ProxyStats {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Increments a gauge now and decrements it when dropped.
#[derive(Debug)]
pub struct GaugeGuard<'a>(&'a AtomicU64);

impl<'a> GaugeGuard<'a> {
    /// Increments `gauge` (and `total`, if given) until the guard is dropped.
    pub fn enter(gauge: &'a AtomicU64, total: Option<&AtomicU64>) -> Self {
        gauge.fetch_add(1, Ordering::Relaxed);
        if let Some(total) = total {
            total.fetch_add(1, Ordering::Relaxed);
        }
        GaugeGuard(gauge)
    }
}

impl Drop for GaugeGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
