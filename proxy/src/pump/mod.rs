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
//! After startup the two directions run as two futures on the connection's task. Each reads a
//! chunk, lets the session look at it (under an uncontended mutex, never held across an await),
//! writes the same chunk on, and only then hands the session's events to the observer: the
//! observer can never delay a byte. Running the directions independently matters: a client that
//! pipelines large batches and a server that streams large results must be able to make
//! progress at the same time, or the proxy would deadlock a pipeline that works direct.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;

use crate::admission::{Admission, StartupTicket};
use crate::event::Event;
use crate::observer::Observer;
use crate::reload::Live;
use crate::session::{Action, Output, Session, SessionConfig};
use crate::stats::{GaugeGuard, ProxyStats};
use crate::tls::{ServerTls, UpstreamConnector};

mod connect;
mod startup;

use startup::Startup;

/// Bytes asked of the kernel per read.
const READ_SIZE: usize = 16 * 1024;
/// How long a vanished client's cancel request may take.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a startup that timed out checks whether a write to the client is still half done.
const WRITE_POLL: Duration = Duration::from_millis(20);

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
    ClientRefused(Output),
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
        C: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let _open = GaugeGuard::enter(
            &self.stats.client_connections,
            Some(&self.stats.client_connections_total),
        );
        let connected = Instant::now();
        let deadline = tokio::time::Instant::now() + self.config.startup_timeout;
        let mut session = Session::new(self.config.session.clone());
        let mut out = Output::default();
        let mut buf = BytesMut::with_capacity(1024);
        let ticket = self.config.admission.start();
        // The upstream as configured now: a reload affects new connections only.
        let connector = self.config.connector.get();
        let startup = self.startup(&connector, client, &mut session, &mut buf, &mut out);
        let outcome = tokio::select! {
            outcome = tokio::time::timeout_at(deadline, startup) => Some(outcome),
            () = ticket.evicted() => None,
        };
        let client = match outcome {
            Some(Ok(Startup::Connect(client))) => client,
            Some(Ok(Startup::Done)) => return,
            // Closed silently, as a timed-out startup is: the client never became a session.
            None => {
                log::debug!("evicted a connection still sending its startup packet");
                return;
            }
            Some(Err(_)) => {
                // As PostgreSQL does for a startup packet that never completes: close silently.
                ProxyStats::add(&self.stats.startup_timeouts, 1);
                log::debug!(
                    "client did not complete its startup within {:?}",
                    self.config.startup_timeout
                );
                return;
            }
        };
        let mut client = client;
        let Some(_slot) = self.config.admission.slot() else {
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
            return;
        };
        let connected_at = connected;
        let connected = match self.open_upstream(&connector, &mut session, &mut out).await {
            Ok(connected) => connected,
            Err(out) => {
                let _ = write_all(&mut client, &out.to_client).await;
                let _ = client.shutdown().await;
                return;
            }
        };
        let _upstream_open = GaugeGuard::enter(&self.stats.upstream_connections, None);
        let (mut server_read, mut server_write) = tokio::io::split(connected.stream);
        out.clear();
        let leftover = buf.split().freeze();

        let session = Mutex::new(session);
        let client_writing = AtomicBool::new(false);
        let (mut client_read, mut client_write) = tokio::io::split(client);
        // Each of the three is polled only when its own waker fired: a `select!` would poll all
        // of them on every wake-up, i.e. walk two idle reads and the drain watch per chunk
        // (≈ 1,000 instructions per query, `benches/README.md`).
        let end = {
            let mut relay: FuturesUnordered<Pin<Box<dyn Future<Output = End> + Send + '_>>> =
                FuturesUnordered::new();
            relay.push(Box::pin(self.client_to_server(
                &mut client_read,
                &mut server_write,
                &session,
                leftover,
            )));
            let eviction = ticket.eviction();
            relay.push(Box::pin(self.server_to_client(
                &mut server_read,
                &mut client_write,
                &session,
                &client_writing,
                connected.prefetched,
                (Some(ticket), connected_at, draining.clone()),
            )));
            relay.push(Box::pin(drained(&session, &client_writing, draining)));
            relay.push(Box::pin(startup_deadline(
                &session,
                &client_writing,
                deadline,
                eviction,
            )));
            // Never `None`: the set is not empty.
            relay.next().await.unwrap_or(End::ClientClosed)
        };
        let mut session = session.into_inner().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let mut out = match end {
            End::ClientRefused(out) => {
                ProxyStats::add(&self.stats.protocol_errors, 1);
                out
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
        if !client_writing.load(Ordering::Acquire) {
            let _ = write_all(&mut client_write, &out.to_client).await;
        }
        let _ = client_write.shutdown().await;
        if !out.to_server.is_empty() {
            let _ = write_all(&mut server_write, &out.to_server).await;
        }
        let _ = server_write.shutdown().await;
        drop((server_read, server_write));
        session.end_capture(now, &mut out);
        // Take the action before `observe` clears `out`.
        let action = out.action.take();
        self.observe(&mut out);
        if let Some(Action::Cancel(packet)) = action {
            // The client vanished with a query running: cancel it so the backend stops.
            self.forward_cancel(&connector, packet).await;
        }
    }

    async fn client_to_server<R, W>(
        &self,
        client: &mut R,
        server: &mut W,
        session: &Mutex<Session>,
        leftover: Bytes,
    ) -> End
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let mut out = Output::default();
        let mut buf = BytesMut::with_capacity(READ_SIZE);
        let mut chunk = leftover;
        loop {
            if !chunk.is_empty() {
                lock(session).on_client_data(chunk, Instant::now(), &mut out);
                if out.action == Some(Action::Close) {
                    return End::ClientRefused(std::mem::take(&mut out));
                }
                if write_all(server, &out.to_server).await.is_err() {
                    return End::ServerClosed;
                }
                self.observe(&mut out);
            }
            buf.reserve(READ_SIZE);
            match client.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return End::ClientClosed,
                Ok(n) => ProxyStats::add(&self.stats.bytes_client_to_server, n as u64),
            }
            chunk = buf.split().freeze();
        }
    }

    /// Relays the server's bytes; `(ticket, connected, draining)`: the startup slot, released
    /// at the first `ReadyForQuery` (where the capture is asked about this session), when the
    /// client connected, and the drain flag: once it is up, the relay ends as soon as a chunk
    /// written to the client leaves the session idle.
    async fn server_to_client<R, W>(
        &self,
        server: &mut R,
        client: &mut W,
        session: &Mutex<Session>,
        client_writing: &AtomicBool,
        prefetched: Bytes,
        (mut ticket, connected, draining): (Option<StartupTicket>, Instant, watch::Receiver<bool>),
    ) -> End
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let mut out = Output::default();
        let mut buf = BytesMut::with_capacity(READ_SIZE);
        let mut prefetched = Some(prefetched).filter(|chunk| !chunk.is_empty());
        loop {
            let chunk = match prefetched.take() {
                Some(chunk) => chunk,
                None => {
                    buf.reserve(READ_SIZE);
                    match server.read_buf(&mut buf).await {
                        Ok(0) | Err(_) => return End::ServerClosed,
                        Ok(n) => ProxyStats::add(&self.stats.bytes_server_to_client, n as u64),
                    }
                    buf.split().freeze()
                }
            };
            {
                let mut session = lock(session);
                let now = Instant::now();
                session.on_server_data(chunk, now, &mut out);
                // The first ReadyForQuery ends the startup: its place goes to others, and the
                // capture (if one runs) decides whether this session is in it.
                if ticket.is_some() && session.is_ready() {
                    ticket = None;
                    let id = self.config.capture.admit(session.connection());
                    session.on_ready_for_capture(id, connected, now, &mut out);
                    // The session's start reaches the capture before anything the client sends
                    // once it sees ReadyForQuery (observed by the other direction, under this
                    // lock): otherwise its first messages could arrive as orphans. A capture's
                    // observe never waits, so the byte is not delayed.
                    if let Some(started @ Event::SessionCaptured(_)) = out.events.last() {
                        self.observer.observe(started);
                        out.events.pop();
                    }
                }
            }
            client_writing.store(true, Ordering::Release);
            if write_all(client, &out.to_client).await.is_err() {
                return End::ClientClosed;
            }
            client_writing.store(false, Ordering::Release);
            self.observe(&mut out);
            // Only the server's bytes make a session idle (its `ReadyForQuery`): once a drain
            // has begun, this is the one place that has to look.
            if *draining.borrow() && lock(session).is_idle() {
                return End::Drained;
            }
        }
    }

    /// Hands the events of `out` to the observer and clears `out`.
    fn observe(&self, out: &mut Output) {
        for event in &out.events {
            self.observer.observe(event);
        }
        out.clear();
    }
}

/// Resolves when shutdown begins if the session is idle then and no write to the client is
/// half done (so the closing error lands at a message boundary). If it is busy, it never
/// resolves: the server direction ends the relay when the session next becomes idle.
async fn drained(
    session: &Mutex<Session>,
    client_writing: &AtomicBool,
    mut draining: watch::Receiver<bool>,
) -> End {
    if draining.wait_for(|d| *d).await.is_ok()
        && !client_writing.load(Ordering::Acquire)
        && lock(session).is_idle()
    {
        return End::Drained;
    }
    std::future::pending().await
}

/// Resolves at the startup deadline, or when a newer connection evicts this one, if the server
/// has not yet said `ReadyForQuery` (and no write to the client is half done); never resolves
/// once it has.
async fn startup_deadline(
    session: &Mutex<Session>,
    client_writing: &AtomicBool,
    deadline: tokio::time::Instant,
    eviction: Arc<tokio::sync::Notify>,
) -> End {
    if lock(session).is_ready() {
        return std::future::pending().await;
    }
    let end = tokio::select! {
        () = tokio::time::sleep_until(deadline) => End::StartupTimeout,
        () = eviction.notified() => End::Evicted,
    };
    loop {
        if lock(session).is_ready() {
            return std::future::pending().await;
        }
        if !client_writing.load(Ordering::Acquire) {
            return end;
        }
        tokio::time::sleep(WRITE_POLL).await;
    }
}

fn lock(session: &Mutex<Session>) -> std::sync::MutexGuard<'_, Session> {
    // A poisoned lock means a panic elsewhere on this connection's task; the state is still
    // the best we have.
    session.lock().unwrap_or_else(PoisonError::into_inner)
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
