//! One replayed session on its own connection: the steps of its [`Plan`] written at their
//! (scaled) times, every server byte read into its [`Answers`] — which matches the responses to
//! the plan's statements as the proxy's session tracker does and records each finished
//! statement in the replay's recorder — and a stalled wait reported and cancelled.
//!
//! **Time.** A step due at capture offset `at` is written at `start + (at - zero) / speed +
//! lag`, where `lag` grows by however late a wait for the server made a step: when the
//! target answers more slowly than the captured server, the session's later think times are
//! kept rather than squeezed. `--speed max` writes each step as soon as the previous answers
//! allow.
//!
//! **Stalls.** While the session waits for answers and the server has sent nothing for
//! `--stall-timeout`, the backend's `pg_stat_activity.wait_event_type` is read on a separate
//! connection; if it is waiting on a `Lock`, the stall is reported and the statement cancelled
//! with the session's `BackendKeyData` (the server then answers it with SQLSTATE 57014, which
//! the report counts as a replay-only error). A statement that is merely slow is left running.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWrite};

use super::answers::{Answers, Sink};
use super::connect::{self, Login};
use super::plan::{Plan, Step};
use super::script::Expect;
use super::{Context, ReplayError, Stall};
use crate::observer::ConnectionInfo;
use crate::tls::ServerStream;

/// Bytes read from the server at a time.
const READ_SIZE: usize = 64 * 1024;

/// One session of the replay: a captured session (or one of its `--multiply` copies).
pub(crate) struct Job {
    /// The captured session's id.
    pub(crate) id: u64,
    /// Which copy (0-based).
    pub(crate) copy: u32,
    /// The labels statements are recorded under (the captured ones, so the comparison
    /// matches them with the capture's even when the target URL overrides a login setting).
    pub(crate) labels: Login,
    /// Who to connect as.
    pub(crate) login: Login,
    /// When the session connected in the capture.
    pub(crate) connected_at: Duration,
    /// What to send (shared by the `--multiply` copies).
    pub(crate) plan: Arc<Plan>,
}

/// A session's connection and what it has read of the server's answers.
struct Live<'a> {
    ctx: &'a Context,
    job: &'a Job,
    stream: ServerStream,
    answers: Answers<'a, 'a>,
    buf: BytesMut,
    /// When the server last sent something (or the wait began).
    progress: Instant,
    closed: bool,
}

/// Replays `job`; an error ends the session (it is reported, the replay goes on).
pub(crate) async fn run(ctx: Arc<Context>, job: Job) -> Result<(), ReplayError> {
    let start = ctx.due(job.connected_at, Duration::ZERO);
    tokio::time::sleep_until(start.into()).await;
    let opened = connect::open(&ctx.connector, &job.login).await?;
    let sink = Sink {
        recorder: &ctx.recorder,
        shapes: &ctx.shapes,
        connection: Arc::new(ConnectionInfo {
            database: job.labels.database.as_str().into(),
            user: job.labels.user.as_str().into(),
            application_name: job.labels.application.as_str().into(),
            capture: None,
        }),
    };
    let mut live = Live {
        ctx: &ctx,
        job: &job,
        stream: opened.stream,
        answers: Answers::new(sink),
        buf: BytesMut::with_capacity(READ_SIZE),
        progress: Instant::now(),
        closed: false,
    };
    // PostgreSQL refuses some sessions only after AuthenticationOk (a missing database, too
    // many clients): keep what arrives before ReadyForQuery to report the server's FATAL.
    let mut early = BytesMut::from(&opened.rest[..]);
    live.on_server(opened.rest);
    let ready_by = tokio::time::Instant::now() + connect::AUTH_TIMEOUT;
    while !live.answers.is_ready() {
        if live.closed {
            return Err(connect::refusal(&early));
        }
        match tokio::time::timeout_at(ready_by, live.read()).await {
            Ok(chunk) => early.extend_from_slice(&chunk?),
            Err(_) => {
                return Err(ReplayError::Connect(format!(
                    "the server was not ready within {:?} of authentication",
                    connect::AUTH_TIMEOUT
                )))
            }
        }
    }
    ctx.counters.connected.fetch_add(1, Ordering::Relaxed);
    let result = live.steps().await;
    ctx.counters.connected.fetch_sub(1, Ordering::Relaxed);
    result
}

impl<'a> Live<'a> {
    async fn steps(&mut self) -> Result<(), ReplayError> {
        let mut lag = Duration::ZERO;
        let mut terminated = false;
        for step in &self.job.plan.steps {
            match step {
                Step::Send {
                    at,
                    wait,
                    bytes,
                    terminates,
                    expects,
                } => {
                    if *wait {
                        self.settle().await?;
                        let due = self.ctx.due(*at, lag);
                        lag += Instant::now().saturating_duration_since(due);
                    }
                    self.until(self.ctx.due(*at, lag)).await?;
                    let plan: &'a Plan = &self.job.plan;
                    self.write(bytes, &plan.expects[expects.clone()]).await?;
                    self.ctx.counters.steps.fetch_add(1, Ordering::Relaxed);
                    if *terminates {
                        terminated = true;
                    }
                }
                Step::Cancel { at } => {
                    self.until(self.ctx.due(*at, lag)).await?;
                    self.cancel().await;
                    self.ctx.counters.steps.fetch_add(1, Ordering::Relaxed);
                }
            }
            if self.closed {
                break;
            }
        }
        if !terminated && !self.closed {
            self.settle().await?;
            self.write(&pgscope_protocol::encode::frontend::terminate(), &[])
                .await?;
        }
        // Read what is left until the server closes (after Terminate, at once).
        while !self.closed {
            if tokio::time::timeout(Duration::from_secs(5), self.read())
                .await
                .is_err()
            {
                break;
            }
        }
        self.finish();
        Ok(())
    }

    /// Feeds server bytes to the answers.
    fn on_server(&mut self, chunk: Bytes) {
        if chunk.is_empty() {
            return;
        }
        self.answers.on_read(chunk, Instant::now());
    }

    /// Reads one chunk from the server and returns it (empty once the server has closed).
    async fn read(&mut self) -> Result<Bytes, ReplayError> {
        std::future::poll_fn(|cx| self.poll_read(cx)).await
    }

    /// Polls for one chunk from the server; a chunk read is fed to the session at once.
    fn poll_read(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<Bytes, ReplayError>> {
        self.buf.reserve(READ_SIZE);
        let read = std::pin::pin!(self.stream.read_buf(&mut self.buf)).poll(cx);
        let n = match read {
            Poll::Ready(Ok(n)) => n,
            Poll::Ready(Err(error)) => return Poll::Ready(Err(error.into())),
            Poll::Pending => return Poll::Pending,
        };
        if n == 0 {
            self.closed = true;
            return Poll::Ready(Ok(Bytes::new()));
        }
        self.progress = Instant::now();
        let chunk = self.buf.split().freeze();
        self.on_server(chunk.clone());
        Poll::Ready(Ok(chunk))
    }

    /// Reads what the server sends until `due`.
    async fn until(&mut self, due: Instant) -> Result<(), ReplayError> {
        while !self.closed && Instant::now() < due {
            tokio::select! {
                read = self.read() => {
                    read?;
                }
                () = tokio::time::sleep_until(due.into()) => break,
            }
        }
        Ok(())
    }

    /// Writes `bytes` (one or more whole messages, answered as `expects` says), reading what
    /// the server sends meanwhile: a step whose answers outgrow the socket buffers before it is
    /// written whole (a long pipeline of large results) cannot deadlock the two sides, each
    /// blocked writing to the other.
    async fn write(&mut self, bytes: &[u8], expects: &'a [Expect]) -> Result<(), ReplayError> {
        if self.closed {
            return Ok(());
        }
        self.answers.on_written(expects, Instant::now());
        self.send(bytes).await
    }

    /// Writes `data` and flushes it; whenever the socket takes no more, reads from the server.
    async fn send(&mut self, mut data: &[u8]) -> Result<(), ReplayError> {
        std::future::poll_fn(|cx| loop {
            let written = if data.is_empty() {
                Pin::new(&mut self.stream).poll_flush(cx).map_ok(|()| 0)
            } else {
                Pin::new(&mut self.stream).poll_write(cx, data)
            };
            match written {
                Poll::Ready(Ok(0)) if data.is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(0)) => {
                    return Poll::Ready(Err(
                        std::io::Error::from(std::io::ErrorKind::WriteZero).into()
                    ))
                }
                Poll::Ready(Ok(n)) => {
                    data = &data[n..];
                    continue;
                }
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error.into())),
                Poll::Pending => {}
            }
            // The socket is full: take in what the server sent meanwhile, then try again.
            match self.poll_read(cx) {
                Poll::Ready(Ok(_)) if self.closed => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => return Poll::Pending,
            }
        })
        .await
    }

    /// Waits until the server has answered everything in flight, or waits for COPY data.
    async fn settle(&mut self) -> Result<(), ReplayError> {
        self.progress = Instant::now();
        let mut checked = self.progress;
        while !self.closed && self.answers.in_flight() > 0 && !self.answers.copy_in() {
            let Some(timeout) = self.ctx.stall_timeout else {
                self.read().await?;
                continue;
            };
            let check_at = self.progress.max(checked) + timeout;
            tokio::select! {
                read = self.read() => {
                    read?;
                }
                () = tokio::time::sleep_until(check_at.into()) => {
                    checked = Instant::now();
                    self.check_stall().await;
                }
            }
        }
        Ok(())
    }

    /// The session has waited `--stall-timeout` without a byte: if its backend waits on a
    /// lock, report the stall and cancel the statement.
    async fn check_stall(&mut self) {
        let Some((pid, _)) = self.answers.backend_key() else {
            return;
        };
        let sql = format!("SELECT wait_event_type FROM pg_stat_activity WHERE pid = {pid}");
        let waiting = match connect::query_one(
            &self.ctx.connector,
            &self.job.login,
            &sql,
            connect::QUERY_TIMEOUT,
        )
        .await
        {
            Ok(wait) => wait,
            Err(error) => {
                log::warn!(
                    "session {}: cannot check for a lock wait: {error}",
                    self.job.id
                );
                return;
            }
        };
        if waiting.as_deref() != Some("Lock") {
            return;
        }
        let waited = self.progress.elapsed();
        log::warn!(
            "session {} (copy {}) waited {waited:.1?} on a lock; cancelling its statement",
            self.job.id,
            self.job.copy
        );
        self.ctx.record_stall(Stall {
            session: self.job.id,
            copy: self.job.copy,
            waited_ms: u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
        });
        self.cancel().await;
    }

    /// Sends a `CancelRequest` for the session's running statement.
    async fn cancel(&mut self) {
        let Some((pid, key)) = self.answers.backend_key() else {
            return;
        };
        let key = key.clone();
        if let Err(error) = connect::cancel(&self.ctx.connector, pid, &key).await {
            log::warn!("session {}: cancel request failed: {error}", self.job.id);
        }
    }

    /// The connection is done: requests still in flight are resolved as skipped.
    fn finish(&mut self) {
        self.answers.abandon(Instant::now());
    }
}
