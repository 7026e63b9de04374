//! `/readyz`: whether pgscope can take clients now — it is not shutting down and the upstream
//! accepts connections.
//!
//! The upstream check is a plain connect (TCP, or the Unix socket) to the upstream in force
//! (a reload that changes `upstream` moves the check too), closed at once without a byte sent,
//! so PostgreSQL logs nothing. Its result is kept for [`FRESH_FOR`]: a storm of probes opens at
//! most one connection a second, and probes arriving while one is under way wait for it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::net::{TcpStream, UnixStream};

use crate::reload::Live;
use crate::server::Drain;
use crate::tls::UpstreamConnector;

/// How long one check's result answers later probes.
pub const FRESH_FOR: Duration = Duration::from_secs(1);
/// How long the connect may take before the upstream counts as not accepting connections.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The answer to one readiness probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Whether pgscope is ready for clients.
    pub ready: bool,
    /// The upstream checked, as users name it (`host:port` or a socket path).
    pub upstream: String,
    /// Why not, when not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A check's result and when it was taken.
#[derive(Debug, Clone)]
struct Checked {
    at: Instant,
    upstream: String,
    result: Result<(), String>,
}

/// Checks readiness, caching the upstream check.
#[derive(Debug)]
pub struct Readiness {
    connector: Arc<Live<UpstreamConnector>>,
    drain: Option<Arc<Drain>>,
    timeout: Duration,
    last: tokio::sync::Mutex<Option<Checked>>,
}

impl Readiness {
    /// Checks the upstream `connector` points at; not ready once `drain` (if any) started.
    pub fn new(connector: Arc<Live<UpstreamConnector>>, drain: Option<Arc<Drain>>) -> Self {
        Readiness {
            connector,
            drain,
            timeout: PROBE_TIMEOUT,
            last: tokio::sync::Mutex::new(None),
        }
    }

    /// Whether pgscope is ready, connecting to the upstream unless a check of the same
    /// upstream finished less than [`FRESH_FOR`] ago.
    pub async fn check(&self) -> Verdict {
        let connector = self.connector.get();
        let upstream = connector.label().to_owned();
        if self.drain.as_ref().is_some_and(|d| d.is_draining()) {
            return Verdict {
                ready: false,
                upstream,
                reason: Some("shutting down: draining client connections".to_owned()),
            };
        }
        let mut last = self.last.lock().await;
        let fresh = last
            .as_ref()
            .filter(|c| c.upstream == upstream && c.at.elapsed() < FRESH_FOR);
        let result = match fresh {
            Some(checked) => checked.result.clone(),
            None => {
                let result = self.connect(&connector).await;
                *last = Some(Checked {
                    at: Instant::now(),
                    upstream: upstream.clone(),
                    result: result.clone(),
                });
                result
            }
        };
        Verdict {
            ready: result.is_ok(),
            reason: result
                .err()
                .map(|e| format!("upstream {upstream} does not accept connections: {e}")),
            upstream,
        }
    }

    /// Opens and drops one connection to the upstream.
    async fn connect(&self, connector: &UpstreamConnector) -> Result<(), String> {
        let upstream = connector.upstream();
        let open = async {
            match upstream.socket_path() {
                Some(path) => UnixStream::connect(path).await.map(drop),
                None => TcpStream::connect((upstream.host.as_str(), upstream.port))
                    .await
                    .map(drop),
            }
        };
        match tokio::time::timeout(self.timeout, open).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err(format!("no answer within {:?}", self.timeout)),
        }
    }
}

#[cfg(test)]
mod tests {
    use pgscope_config::{SslMode, Upstream};
    use tokio::net::TcpListener;

    use super::*;
    use crate::admission::Admission;
    use crate::stats::ProxyStats;

    fn connector_to(port: u16) -> Arc<Live<UpstreamConnector>> {
        let mut upstream = Upstream::tcp("127.0.0.1", port);
        upstream.tls.mode = SslMode::Disable;
        let connector = UpstreamConnector::new(&upstream, Duration::from_secs(1)).unwrap();
        Arc::new(Live::new(Arc::new(connector)))
    }

    #[tokio::test]
    async fn ready_while_the_upstream_listens_and_not_after_it_stops() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let readiness = Readiness::new(connector_to(port), None);
        let verdict = readiness.check().await;
        assert!(verdict.ready, "{verdict:?}");
        assert_eq!(verdict.upstream, format!("127.0.0.1:{port}"));

        drop(listener);
        tokio::time::sleep(FRESH_FOR).await;
        let verdict = readiness.check().await;
        assert!(!verdict.ready);
        let reason = verdict.reason.unwrap();
        assert!(reason.contains("does not accept connections"), "{reason}");
    }

    #[tokio::test]
    async fn probes_within_a_second_share_one_connection() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let readiness = Readiness::new(connector_to(port), None);
        for _ in 0..20 {
            assert!(readiness.check().await.ready);
        }
        let first = listener.accept().await;
        assert!(first.is_ok());
        let second = tokio::time::timeout(Duration::from_millis(100), listener.accept()).await;
        assert!(second.is_err(), "a second connection was opened");
    }

    #[tokio::test]
    async fn not_ready_while_draining() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let stats = Arc::new(ProxyStats::default());
        let drain = Drain::new(Admission::new(10, 10, 100, stats));
        let readiness = Readiness::new(connector_to(port), Some(Arc::clone(&drain)));
        assert!(readiness.check().await.ready);
        drain.start();
        let verdict = readiness.check().await;
        assert!(!verdict.ready);
        assert!(verdict.reason.unwrap().contains("shutting down"));
    }

    #[tokio::test]
    async fn follows_the_upstream_a_reload_sets() {
        let up = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let down = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let down_port = down.local_addr().unwrap().port();
        drop(down);
        let live = connector_to(up.local_addr().unwrap().port());
        let readiness = Readiness::new(Arc::clone(&live), None);
        assert!(readiness.check().await.ready);
        live.set(connector_to(down_port).get());
        let verdict = readiness.check().await;
        assert!(
            !verdict.ready,
            "the cached answer for the old upstream was used"
        );
        assert_eq!(verdict.upstream, format!("127.0.0.1:{down_port}"));
    }
}
