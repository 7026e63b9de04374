//! The socket driver of one client connection: the only code that reads or writes sockets.
//!
//! A [`Pump`] runs one [`Session`] between a client stream and one upstream connection (TCP,
//! TLS or a Unix socket, opened by [`UpstreamConnector`])
//! (pgscope does not pool: each client gets its own server connection, so every session-level
//! feature — prepared statements, `SET`, `LISTEN`, temporary tables, advisory locks — behaves as
//! it does direct, in front of or behind PgBouncer).
//!
//! The startup phase (`startup`: startup packets, TLS handshakes, cancel requests) runs under
//! one deadline, `startup_timeout`, which keeps running through authentication until the
//! server's first `ReadyForQuery`. Opening the upstream connection is `connect`'s.
//!
//! After startup, `relay` runs the connection: one hand-written poll function on the
//! connection's one task drives both directions, the drain and the startup deadline, owning the
//! session and both sockets outright (no second task, no channel, no lock, no per-query timer).
//! Each direction reads a chunk, lets the session look at it, writes the same chunk on, and only
//! then hands the session's events to the observer: the observer can never delay a byte. The
//! directions move independently: a client that pipelines large batches and a server that
//! streams large results make progress at the same time, as they do direct.
//!
//! The client socket is whatever the listener gives: `server` hands over the raw tokio socket
//! taken out of pingora's `Stream` where it can (`crate::socket`), so reads and writes go from
//! here to mio without pingora's wrappers; TLS (either side) is rustls over that socket.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::{watch, OwnedSemaphorePermit};

use crate::admission::Admission;
use crate::observer::Observer;
use crate::reload::Live;
use crate::session::{Action, Output, Session, SessionConfig};
use crate::socket::{Accepted, Raw, Unwrapper};
use crate::stats::{GaugeGuard, ProxyStats};
use crate::tls::{ClientStream, ServerStream, ServerTls, UpstreamConnector};

mod connect;
mod ready;
mod relay;
mod startup;

use ready::ReadReady;
use relay::Relay;
use startup::Startup;

/// Bytes asked of the kernel per read.
const READ_SIZE: usize = 16 * 1024;
/// How long a vanished client's cancel request may take.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(5);

/// Settings shared by all pumps.
#[derive(Debug, Clone)]
pub struct PumpConfig {
    /// Opens upstream connections (address, TLS policy, connect timeout); a reload may
    /// replace it, and each connection keeps the one it started with.
    pub connector: Arc<Live<UpstreamConnector>>,
    /// Session slots and the cap on connections in startup.
    pub admission: Arc<Admission>,
    /// pgscope's TLS server settings for clients; `None`: `SSLRequest` is answered `N`.
    pub tls: Option<Arc<ServerTls>>,
    /// Limit on a client's whole startup: from accept to the server's first `ReadyForQuery`,
    /// TLS handshake and authentication included.
    pub startup_timeout: Duration,
    /// Settings of each session.
    pub session: SessionConfig,
    /// The traffic capture (off unless started): asked once per connection, at its first
    /// `ReadyForQuery`, whether to capture it.
    pub capture: Arc<crate::capture::Capture>,
}

/// Runs client connections. Cheap to share: one per listener, used by every connection task.
pub struct Pump {
    config: PumpConfig,
    observer: Arc<dyn Observer>,
    stats: Arc<ProxyStats>,
    failures: connect::BurstLog,
    unwrapper: Unwrapper,
}

/// A connection past its startup, ready for [`Relay`].
struct Running<'c> {
    session: Session,
    connected: connect::Connected,
    /// The client's bytes read after its startup packet.
    leftover: Bytes,
    /// The startup slot, when the client connected, and the startup limit.
    startup: (
        crate::admission::StartupTicket,
        Instant,
        relay::Pending<End>,
    ),
    draining: watch::Receiver<bool>,
    /// The upstream as configured when the connection began.
    connector: Arc<UpstreamConnector>,
    /// Held for the connection's life: its session slot, and its count as an upstream.
    guards: (OwnedSemaphorePermit, GaugeGuard<'c>),
}

impl std::fmt::Debug for Pump {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pump")
            .field("config", &self.config)
            .finish()
    }
}

/// Why the relay of a connection ended.
enum End {
    /// The client closed its side or its socket failed.
    ClientClosed,
    /// The client broke the protocol; the session prepared its answer.
    ClientRefused(Box<Output>),
    /// The server closed its side or its socket failed.
    ServerClosed,
    /// Shutting down and the session is idle.
    Drained,
    /// Authentication did not finish within `startup_timeout`.
    StartupTimeout,
    /// Still in startup, and evicted by a newer connection (`max_startup_connections`).
    Evicted,
}

impl Pump {
    /// A pump forwarding to `config.upstream`, reporting events to `observer`.
    pub fn new(config: PumpConfig, observer: Arc<dyn Observer>, stats: Arc<ProxyStats>) -> Self {
        Pump {
            config,
            observer,
            stats,
            failures: connect::BurstLog::default(),
            unwrapper: Unwrapper::new(),
        }
    }

    /// The shared counters.
    pub fn stats(&self) -> &Arc<ProxyStats> {
        &self.stats
    }

    /// Serves one client connection until it ends. `draining` turns true when the server shuts
    /// down: the connection is then closed as soon as it is idle (no request in flight, no open
    /// transaction). IO errors end the connection; they are logged, not returned.
    pub async fn serve<C>(&self, client: C, draining: watch::Receiver<bool>)
    where
        C: AsyncRead + AsyncWrite + Unpin + Send + Accepted,
    {
        let _open = GaugeGuard::enter(
            &self.stats.client_connections,
            Some(&self.stats.client_connections_total),
        );
        // Each phase's future is boxed and freed when the phase ends, so an idle connection
        // holds the running phase's state only, not room for startup's and connect's as well.
        let Some((client, running)) = Box::pin(self.begin(client, draining)).await else {
            return;
        };
        // The data path runs on the raw socket where it can be had: pingora's stream served the
        // startup (and stays under TLS, which rustls began on it).
        match client {
            ClientStream::Plain(plain) => match plain.into_raw(&self.unwrapper) {
                Ok(Raw::Tcp(socket)) => self.run(socket, running).await,
                Ok(Raw::Unix(socket)) => self.run(socket, running).await,
                Err(plain) => self.run(ClientStream::Plain(plain), running).await,
            },
            tls => self.run(tls, running).await,
        }
    }

    /// A connection's startup, up to its upstream connection: `None` when it ended there.
    async fn begin<C>(
        &self,
        client: C,
        draining: watch::Receiver<bool>,
    ) -> Option<(ClientStream<C>, Running<'_>)>
    where
        C: AsyncRead + AsyncWrite + Unpin + Send + Accepted,
    {
        let connected = Instant::now();
        let deadline = tokio::time::Instant::now() + self.config.startup_timeout;
        let mut session = Session::new(self.config.session.clone());
        let mut out = Output::default();
        let mut buf = BytesMut::with_capacity(1024);
        let ticket = self.config.admission.start();
        // The upstream as configured now: a reload affects new connections only.
        let connector = self.config.connector.get();
        let startup = Box::pin(self.startup(&connector, client, &mut session, &mut buf, &mut out));
        let outcome = tokio::select! {
            outcome = tokio::time::timeout_at(deadline, startup) => Some(outcome),
            () = ticket.evicted() => None,
        };
        let client = match outcome {
            Some(Ok(Startup::Connect(client))) => client,
            Some(Ok(Startup::Done)) => return None,
            // Closed silently, as a timed-out startup is: the client never became a session.
            None => {
                log::debug!("evicted a connection still sending its startup packet");
                return None;
            }
            Some(Err(_)) => {
                // As PostgreSQL does for a startup packet that never completes: close silently.
                ProxyStats::add(&self.stats.startup_timeouts, 1);
                log::debug!(
                    "client did not complete its startup within {:?}",
                    self.config.startup_timeout
                );
                return None;
            }
        };
        let mut client = client;
        let Some(slot) = self.config.admission.slot() else {
            ProxyStats::add(&self.stats.client_connections_refused, 1);
            // A drain takes every slot as sessions end: a client whose startup was under way
            // when it began is refused as shutting down, as PostgreSQL does, not as "too many".
            let (sqlstate, message) = if *draining.borrow() {
                ("57P01", "pgscope is shutting down")
            } else {
                (
                    "53300",
                    "pgscope: sorry, too many clients already (max_connections reached)",
                )
            };
            let error =
                pgscope_protocol::encode::backend::error_response("FATAL", sqlstate, message);
            let _ = write_all(&mut client, &[error]).await;
            let _ = client.shutdown().await;
            return None;
        };
        let connected_at = connected;
        let open = Box::pin(self.open_upstream(&connector, &mut session, &mut out));
        let connected = match open.await {
            Ok(connected) => connected,
            Err(out) => {
                let _ = write_all(&mut client, &out.to_client).await;
                let _ = client.shutdown().await;
                return None;
            }
        };
        let upstream_open = GaugeGuard::enter(&self.stats.upstream_connections, None);
        // Neither is used again: their allocations go now rather than at the connection's end.
        drop(out);
        let leftover = buf.split().freeze();
        drop(buf);
        let eviction = ticket.eviction();
        let limit: relay::Pending<End> = Box::pin(async move {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => End::StartupTimeout,
                () = eviction.notified() => End::Evicted,
            }
        });
        let running = Running {
            session,
            connected,
            leftover,
            startup: (ticket, connected_at, limit),
            draining,
            connector,
            guards: (slot, upstream_open),
        };
        Some((client, running))
    }

    /// Relays a connection whose startup is done, then ends it as the relay's end says.
    ///
    /// Not an `async fn`: the future keeps the relay alone, not also the room of the parts the
    /// relay is built from (an `async fn` keeps its arguments for its whole life).
    fn run<'a, K>(&'a self, client: K, running: Running<'a>) -> impl Future<Output = ()> + 'a
    where
        K: AsyncRead + AsyncWrite + ReadReady + Unpin + Send + 'a,
    {
        let Running {
            session,
            connected,
            leftover,
            startup,
            draining,
            connector,
            guards,
        } = running;
        let mut relay = Relay::new(
            self,
            (client, connected.stream),
            session,
            (leftover, connected.prefetched),
            startup,
            draining,
        );
        async move {
            let end = std::future::poll_fn(|cx| relay.poll(cx)).await;
            // Boxed: while the connection runs its state holds the relay, not the ending's.
            Box::pin(self.close(relay, end, &connector)).await;
            drop(guards);
        }
    }

    /// Ends a connection whose relay stopped at `end`: the session's last words to each side,
    /// both sockets shut, its last events observed, and the cancel a vanished client leaves.
    async fn close<K>(
        &self,
        relay: Relay<'_, K, ServerStream>,
        end: End,
        connector: &UpstreamConnector,
    ) where
        K: AsyncRead + AsyncWrite + ReadReady + Unpin + Send,
    {
        let client_writing = relay.client_writing();
        let Relay {
            mut client,
            mut server,
            mut session,
            ..
        } = relay;
        let mut out = Output::default();
        let now = Instant::now();
        let mut out = match end {
            End::ClientRefused(out) => {
                ProxyStats::add(&self.stats.protocol_errors, 1);
                *out
            }
            End::ClientClosed => {
                session.on_client_closed(now, &mut out);
                out
            }
            End::ServerClosed => {
                session.on_server_closed(connector.label(), now, &mut out);
                out
            }
            End::Drained => {
                session.on_shutdown(&mut out);
                out
            }
            End::StartupTimeout => {
                ProxyStats::add(&self.stats.startup_timeouts, 1);
                session.on_startup_timeout(&mut out);
                out
            }
            End::Evicted => {
                session.on_startup_evicted(&mut out);
                out
            }
        };
        if !client_writing {
            let _ = write_all(&mut client, &out.to_client).await;
        }
        let _ = client.shutdown().await;
        if !out.to_server.is_empty() {
            let _ = write_all(&mut server, &out.to_server).await;
        }
        let _ = server.shutdown().await;
        drop((client, server));
        session.end_capture(now, &mut out);
        self.observer.observe_each(&out.events);
        let action = out.action.take();
        if let Some(Action::Cancel(packet)) = action {
            // The client vanished with a query running: cancel it so the backend stops.
            Box::pin(self.forward_cancel(connector, packet)).await;
        }
    }
}

async fn write_all<W: AsyncWrite + Unpin>(writer: &mut W, chunks: &[Bytes]) -> std::io::Result<()> {
    if chunks.is_empty() {
        return Ok(());
    }
    for chunk in chunks {
        writer.write_all(chunk).await?;
    }
    writer.flush().await
}
