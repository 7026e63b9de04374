//! The running phase of one connection: both directions, the drain and the startup deadline,
//! polled by hand from the connection's one task.
//!
//! [`Relay::poll`] is the whole data path. On every wake-up it goes round the two legs —
//! client → server and server → client — until neither can move: a leg whose output is written
//! reads its socket; a chunk read goes through the session (owned here: no lock) and its output
//! is written on; only once the write is complete are the chunk's events handed to the observer,
//! so the observer can never delay a byte. A leg with output still unwritten does not read
//! (back-pressure, as a socket pair gives it), but the other leg keeps moving: a client that
//! pipelines large batches and a server that streams large results both make progress, as they
//! do direct. Each leg's read buffer and output are reused from chunk to chunk.
//!
//! Nothing here runs on a timer once startup is over. A drain is noticed when it begins (one
//! registration with the drain watch, then one atomic load per wake-up) and ends the relay at
//! the first moment the session is idle — either then, or right after the write of the server's
//! bytes that made it idle, since only the server's `ReadyForQuery` makes a session idle. The
//! startup deadline and eviction are polled only until the server's first `ReadyForQuery`.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

use super::ready::ReadReady;
use super::{End, Pump, READ_SIZE};
use crate::admission::StartupTicket;
use crate::observer::Event;
use crate::session::{Action, Output, Session};
use crate::stats::ProxyStats;

/// A future that resolves once, boxed so the relay can keep it across wake-ups.
pub(super) type Pending<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// One direction: the buffer it reads into and the session's output being written.
#[derive(Default)]
struct Leg {
    buf: BytesMut,
    out: Output,
    /// The chunk of the output being written, and how much of it is written.
    at: (usize, usize),
    /// The output is not written (and flushed) yet.
    writing: bool,
    /// A chunk to feed before reading: the client's bytes after its startup packet, or the
    /// server's answer read while connecting.
    first: Option<Bytes>,
}

impl Leg {
    /// Finishes writing this leg's output (`to` picks its direction) to `writer`, then hands
    /// its events to the observers; `false` when the writer failed.
    fn poll_finish<W: AsyncWrite + Unpin>(
        &mut self,
        writer: &mut W,
        to: fn(&Output) -> &[Bytes],
        pump: &Pump,
        cx: &mut Context<'_>,
    ) -> Poll<bool> {
        if ready!(poll_write_out(writer, to(&self.out), &mut self.at, cx)).is_err() {
            return Poll::Ready(false);
        }
        self.writing = false;
        pump.observer.observe_each(&self.out.events);
        self.out.clear();
        Poll::Ready(true)
    }

    /// The next chunk to feed: the first one, else what `reader` has (its size added to
    /// `counter`); `None` at end of stream or on error.
    fn poll_chunk<R: AsyncRead + ReadReady + Unpin>(
        &mut self,
        reader: &mut R,
        counter: &AtomicU64,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Bytes>> {
        if let Some(chunk) = self.first.take() {
            return Poll::Ready(Some(chunk));
        }
        let Some(n) = ready!(read(reader, &mut self.buf, cx)) else {
            return Poll::Ready(None);
        };
        ProxyStats::add(counter, n as u64);
        Poll::Ready(Some(self.buf.split().freeze()))
    }
}

/// The client's side of an output.
fn to_client(out: &Output) -> &[Bytes] {
    &out.to_client
}

/// The server's side of an output.
fn to_server(out: &Output) -> &[Bytes] {
    &out.to_server
}

/// Until the server's first `ReadyForQuery`: the startup slot and how the startup may end.
struct Startup {
    ticket: StartupTicket,
    connected: Instant,
    /// Resolves at the deadline (`StartupTimeout`) or on eviction (`Evicted`).
    limit: Pending<End>,
    /// The limit was reached while a write to the client was half done.
    reached: Option<End>,
}

/// The drain watch, polled only when it has news.
struct Drain {
    wait: Pending<bool>,
    peek: watch::Receiver<bool>,
    /// `wait` is registered (polled once) and not resolved.
    armed: bool,
    draining: bool,
}

impl Drain {
    fn new(draining: watch::Receiver<bool>) -> Self {
        let mut wait = draining.clone();
        Drain {
            wait: Box::pin(async move { wait.wait_for(|d| *d).await.is_ok() }),
            peek: draining,
            armed: false,
            draining: false,
        }
    }

    /// Whether the drain has begun; registers this task for its start.
    fn poll(&mut self, cx: &mut Context<'_>) -> bool {
        if self.draining || (self.armed && !matches!(self.peek.has_changed(), Ok(true))) {
            return self.draining;
        }
        match self.wait.as_mut().poll(cx) {
            Poll::Ready(draining) => {
                self.draining = draining;
                // Resolved without a drain (the server is gone): never poll it again.
                self.armed = true;
                let _ = self.peek.borrow_and_update();
            }
            Poll::Pending => self.armed = true,
        }
        self.draining
    }
}

/// One connection's running phase.
pub(super) struct Relay<'p, C, S> {
    pump: &'p Pump,
    pub(super) client: C,
    pub(super) server: S,
    pub(super) session: Session,
    up: Leg,
    down: Leg,
    startup: Option<Startup>,
    drain: Drain,
}

impl<'p, C, S> Relay<'p, C, S>
where
    C: AsyncRead + AsyncWrite + ReadReady + Unpin,
    S: AsyncRead + AsyncWrite + ReadReady + Unpin,
{
    /// A relay starting with `leftover` from the client and `prefetched` from the server; the
    /// startup ends at `limit` unless the server says `ReadyForQuery` first.
    pub(super) fn new(
        pump: &'p Pump,
        (client, server): (C, S),
        session: Session,
        (leftover, prefetched): (Bytes, Bytes),
        (ticket, connected, limit): (StartupTicket, Instant, Pending<End>),
        draining: watch::Receiver<bool>,
    ) -> Self {
        let leg = |first: Bytes| Leg {
            buf: BytesMut::new(),
            first: Some(first).filter(|chunk| !chunk.is_empty()),
            ..Leg::default()
        };
        Relay {
            pump,
            client,
            server,
            session,
            up: leg(leftover),
            down: leg(prefetched),
            startup: Some(Startup {
                ticket,
                connected,
                limit,
                reached: None,
            }),
            drain: Drain::new(draining),
        }
    }

    /// Whether a write to the client is half done (a closing error would break its framing).
    pub(super) fn client_writing(&self) -> bool {
        self.down.writing
    }

    /// Moves bytes until the connection ends.
    pub(super) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<End> {
        // A leg that returned `Pending` has registered this task for what it waits on, and the
        // other leg's progress cannot unblock it: it is not polled again in this wake-up.
        let (mut up, mut down) = (true, true);
        while up || down {
            if let Some(end) = self.poll_limits(cx) {
                return Poll::Ready(end);
            }
            if up {
                up = match self.poll_up(cx) {
                    Poll::Ready(Ok(())) => true,
                    Poll::Ready(Err(end)) => return Poll::Ready(end),
                    Poll::Pending => false,
                };
            }
            if down {
                down = match self.poll_down(cx) {
                    Poll::Ready(Ok(())) => true,
                    Poll::Ready(Err(end)) => return Poll::Ready(end),
                    Poll::Pending => false,
                };
            }
        }
        // Both legs wait. Every step was followed by a look at the limits (the loop goes round
        // once more after any step), so none of them can be due unnoticed.
        Poll::Pending
    }

    /// The drain and the startup limit: an end, once it may be taken (no write to the client
    /// half done).
    fn poll_limits(&mut self, cx: &mut Context<'_>) -> Option<End> {
        if let Some(startup) = &mut self.startup {
            if startup.reached.is_none() {
                if let Poll::Ready(end) = startup.limit.as_mut().poll(cx) {
                    startup.reached = Some(end);
                }
            }
            // A replication connection counts as ready once forwarded: no limit ends it then.
            if !self.down.writing && !self.session.is_ready() {
                if let Some(end) = startup.reached.take() {
                    return Some(end);
                }
            }
        }
        (self.drain.poll(cx) && !self.down.writing && self.session.is_idle())
            .then_some(End::Drained)
    }

    /// Client → server: one step (a write finished, or a chunk read and fed); `Pending` when
    /// neither can move now.
    fn poll_up(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), End>> {
        let leg = &mut self.up;
        if leg.writing {
            let written = ready!(leg.poll_finish(&mut self.server, to_server, self.pump, cx));
            return Poll::Ready(if written {
                Ok(())
            } else {
                Err(End::ServerClosed)
            });
        }
        let counter = &self.pump.stats.bytes_client_to_server;
        let Some(chunk) = ready!(leg.poll_chunk(&mut self.client, counter, cx)) else {
            return Poll::Ready(Err(End::ClientClosed));
        };
        self.session
            .on_client_data(chunk, Instant::now(), &mut leg.out);
        if leg.out.action == Some(Action::Close) {
            return Poll::Ready(Err(End::ClientRefused(Box::new(std::mem::take(
                &mut leg.out,
            )))));
        }
        leg.writing = true;
        leg.at = (0, 0);
        Poll::Ready(Ok(()))
    }

    /// Server → client: one step, as [`Relay::poll_up`].
    fn poll_down(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), End>> {
        let leg = &mut self.down;
        if leg.writing {
            let written = ready!(leg.poll_finish(&mut self.client, to_client, self.pump, cx));
            return Poll::Ready(if written {
                Ok(())
            } else {
                Err(End::ClientClosed)
            });
        }
        let counter = &self.pump.stats.bytes_server_to_client;
        let Some(chunk) = ready!(leg.poll_chunk(&mut self.server, counter, cx)) else {
            return Poll::Ready(Err(End::ServerClosed));
        };
        let now = Instant::now();
        self.session.on_server_data(chunk, now, &mut leg.out);
        // The first ReadyForQuery ends the startup: its place goes to others, and the capture
        // (if one runs) decides whether this session is in it.
        if self.startup.is_some() && self.session.is_ready() {
            if let Some(startup) = self.startup.take() {
                drop(startup.ticket);
                let id = self.pump.config.capture.admit(self.session.connection());
                self.session
                    .on_ready_for_capture(id, startup.connected, now, &mut leg.out);
                // The session's start reaches the capture before anything the client sends once
                // it sees ReadyForQuery: otherwise its first messages could arrive as orphans. A
                // capture's observe never waits, so the byte is not delayed.
                if let Some(started @ Event::SessionCaptured(_)) = leg.out.events.last() {
                    self.pump.observer.observe(started);
                    leg.out.events.pop();
                }
            }
        }
        leg.writing = true;
        leg.at = (0, 0);
        Poll::Ready(Ok(()))
    }
}

/// Reads into `buf` once `reader` is readable (its allocation reused when the last chunk taken
/// from it is gone): the number of bytes read, `None` at end of stream or on error. While the
/// reader has nothing, an empty `buf` gives its allocation back (see [`ReadReady`]).
fn read<R: AsyncRead + ReadReady + Unpin>(
    reader: &mut R,
    buf: &mut BytesMut,
    cx: &mut Context<'_>,
) -> Poll<Option<usize>> {
    match reader.poll_read_ready(cx) {
        Poll::Ready(Ok(())) => {}
        Poll::Ready(Err(_)) => return Poll::Ready(None),
        Poll::Pending => {
            if buf.is_empty() && buf.capacity() > 0 {
                *buf = BytesMut::new();
            }
            return Poll::Pending;
        }
    }
    buf.reserve(READ_SIZE);
    match ready!(tokio_util::io::poll_read_buf(Pin::new(reader), cx, buf)) {
        Ok(0) | Err(_) => Poll::Ready(None),
        Ok(n) => Poll::Ready(Some(n)),
    }
}

/// Writes `chunks` from `at` (chunk index, bytes of it written) on, then flushes.
fn poll_write_out<W: AsyncWrite + Unpin>(
    writer: &mut W,
    chunks: &[Bytes],
    at: &mut (usize, usize),
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    while let Some(chunk) = chunks.get(at.0) {
        let rest = &chunk[at.1..];
        if rest.is_empty() {
            *at = (at.0 + 1, 0);
            continue;
        }
        match ready!(Pin::new(&mut *writer).poll_write(cx, rest)) {
            Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
            Ok(n) => at.1 += n,
            Err(error) => return Poll::Ready(Err(error)),
        }
    }
    Pin::new(writer).poll_flush(cx)
}
