//! The server's answers to a replayed session, read with the protocol crate's [`Decoder`] and
//! matched to the statements the plan expects them for ([`Expect`]); each finished statement is
//! recorded in the replay's [`Recorder`] under its shape.
//!
//! The matching is the proxy's session tracker's (`session::tracker`), on the plan's
//! statements instead of texts: PostgreSQL answers in order, so the requests written wait in a
//! FIFO and each response is matched to its front —
//!
//! - `CommandComplete`, `EmptyQueryResponse` and `PortalSuspended` finish the current statement
//!   of a simple `Query` or an `Execute`; `ParseComplete`, `BindComplete`, `CloseComplete`,
//!   `NoData` and a `Describe`'s `RowDescription` retire their request;
//! - `ErrorResponse` fails the current statement: the rest of a simple `Query` is skipped, and
//!   in the extended protocol everything up to the next `Sync` (also what is written before
//!   that `Sync`) is resolved as skipped;
//! - `ReadyForQuery` retires the request it ends and anything still ahead of it.
//!
//! Timing is the tracker's: a statement's interval starts when its request was written, or
//! when its predecessor completed if that was later, and ends with its completion; one whose
//! predecessor completed in the same read is `batched`, and the statements of a
//! multi-statement `Query` are held until its `ReadyForQuery` and share its time.
//!
//! What the proxy's session does besides — the connection's labels, TLS, capture, forwarding —
//! the replay does not need: statements are recorded under the captured session's labels, so
//! that the comparison matches them with the capture's baseline.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pgscope_exporters::{Sample, SampleOutcome};
use pgscope_protocol::backend::{command_tag, BackendMessage};
use pgscope_protocol::tag::backend as bt;
use pgscope_protocol::{Decoder, Limits, Message};

use super::script::{Expect, Stmt};
use crate::observer::ConnectionInfo;
use crate::recorder::Recorder;
use crate::shape::Shapes;

/// Server messages whose bodies are read; the others go by uncopied.
fn wants_body(tag: u8) -> bool {
    matches!(
        tag,
        bt::COMMAND_COMPLETE
            | bt::ERROR_RESPONSE
            | bt::READY_FOR_QUERY
            | bt::BACKEND_KEY_DATA
            | bt::COPY_IN_RESPONSE
    )
}

/// A request written and not yet fully answered.
#[derive(Debug)]
struct Pending<'a> {
    expect: &'a Expect,
    sent: Instant,
    /// A simple query's next statement.
    next: usize,
    /// A multi-statement query's finished statements, until its `ReadyForQuery`.
    held: Vec<(&'a Stmt, Sample)>,
}

impl<'a> Pending<'a> {
    /// A simple query's statements, if it is one, and whether it holds several.
    fn simple(&self) -> Option<(&'a [Arc<Stmt>], bool)> {
        match self.expect {
            Expect::Simple(statements) => Some((statements, statements.len() > 1)),
            _ => None,
        }
    }
}

/// Where a finished statement goes.
pub(crate) struct Sink<'r> {
    /// The replay's recorder.
    pub(crate) recorder: &'r Recorder,
    /// Shapes for statements the capture gave none.
    pub(crate) shapes: &'r Shapes,
    /// The captured session's labels.
    pub(crate) connection: Arc<ConnectionInfo>,
}

impl Sink<'_> {
    fn record(&self, stmt: &Stmt, sample: &Sample) {
        self.recorder
            .record_sample(&self.connection, stmt.shape(self.shapes), sample);
    }
}

/// One replayed session's reading of the server's answers. See the module documentation.
pub(crate) struct Answers<'a, 'r> {
    sink: Sink<'r>,
    decoder: Decoder,
    pending: VecDeque<Pending<'a>>,
    /// The server skips to the next `Sync` and it has not been written yet.
    discarding: bool,
    last_done: Option<Instant>,
    /// `DataRow`s since the last completion, for `PortalSuspended`.
    rows_seen: u64,
    /// A `ReadyForQuery` has come (startup is over).
    ready: bool,
    /// The server waits for COPY data.
    copy_in: bool,
    backend_key: Option<(u32, Bytes)>,
    /// The server's stream could not be framed: nothing more is matched.
    lost: bool,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Start of a request's interval: when it was written, or when its predecessor completed if
/// that was later.
fn later(sent: Instant, last_done: Option<Instant>) -> Instant {
    match last_done {
        Some(done) if done > sent => done,
        _ => sent,
    }
}

impl<'a, 'r> Answers<'a, 'r> {
    /// Nothing written, nothing read yet.
    pub(crate) fn new(sink: Sink<'r>) -> Self {
        Answers {
            sink,
            decoder: Decoder::new(
                Limits {
                    max_message_len: u32::MAX,
                    ..Limits::default()
                },
                wants_body,
            ),
            pending: VecDeque::new(),
            discarding: false,
            last_done: None,
            rows_seen: 0,
            ready: false,
            copy_in: false,
            backend_key: None,
            lost: false,
        }
    }

    /// Whether the server has said `ReadyForQuery` (startup is over).
    pub(crate) fn is_ready(&self) -> bool {
        self.ready
    }

    /// Requests written whose answers have not all arrived.
    pub(crate) fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Whether the server waits for COPY data.
    pub(crate) fn copy_in(&self) -> bool {
        self.copy_in
    }

    /// The server's cancel key.
    pub(crate) fn backend_key(&self) -> Option<(u32, &Bytes)> {
        self.backend_key.as_ref().map(|(pid, key)| (*pid, key))
    }

    /// Requests were written at `now`.
    pub(crate) fn on_written(&mut self, expects: &'a [Expect], now: Instant) {
        if self.lost {
            return;
        }
        for expect in expects {
            let pending = Pending {
                expect,
                sent: now,
                next: 0,
                held: Vec::new(),
            };
            if self.discarding {
                if matches!(expect, Expect::Sync) {
                    self.discarding = false;
                } else {
                    // The server skips it: it will never be answered.
                    self.resolve_skipped(pending, now);
                    continue;
                }
            }
            self.pending.push_back(pending);
        }
    }

    /// Bytes read from the server at `now`.
    pub(crate) fn on_read(&mut self, chunk: Bytes, now: Instant) {
        if self.lost {
            return;
        }
        self.decoder.push(chunk);
        loop {
            let decoded = match self.decoder.next() {
                Ok(Some(decoded)) => decoded,
                Ok(None) => return,
                Err(error) => return self.lose(&error),
            };
            match BackendMessage::decode(&decoded) {
                Ok(message) => self.on_message(message, now),
                Err(error) => return self.lose(&error),
            }
        }
    }

    /// The server's stream cannot be followed: stop matching (the replay goes on).
    fn lose(&mut self, error: &dyn std::fmt::Display) {
        log::warn!("no longer reading this replayed session's answers: {error}");
        self.lost = true;
        self.pending.clear();
        self.copy_in = false;
    }

    fn on_message(&mut self, message: BackendMessage<'_>, now: Instant) {
        match message {
            BackendMessage::DataRow => self.rows_seen += 1,
            BackendMessage::CommandComplete { tag } => {
                self.copy_in = false;
                self.complete(command_tag(tag).rows, now);
            }
            BackendMessage::ReadyForQuery { .. } => {
                self.copy_in = false;
                self.ready = true;
                self.on_ready(now);
            }
            BackendMessage::ErrorResponse(fields) => {
                self.copy_in = false;
                self.fail(fields.sqlstate().unwrap_or(*b"XX000"), now);
            }
            BackendMessage::ParseComplete => self.retire(|e| matches!(e, Expect::Parse(_)), now),
            BackendMessage::BindComplete => self.retire(|e| matches!(e, Expect::Bind(_)), now),
            BackendMessage::CloseComplete => self.retire(|e| matches!(e, Expect::Close), now),
            BackendMessage::NoData => self.retire(|e| matches!(e, Expect::Describe(_)), now),
            BackendMessage::RowDescription => {
                // Part of a query's results, or the answer to a Describe.
                if matches!(
                    self.pending.front().map(|p| p.expect),
                    Some(Expect::Describe(_))
                ) {
                    self.pending.pop_front();
                }
            }
            BackendMessage::EmptyQueryResponse => self.complete(None, now),
            BackendMessage::PortalSuspended => self.complete(Some(self.rows_seen), now),
            BackendMessage::CopyInResponse { .. } => self.copy_in = true,
            BackendMessage::BackendKeyData { pid, key } => {
                self.backend_key = Some((pid, Bytes::copy_from_slice(key)));
            }
            _ => {}
        }
    }

    /// Pops requests up to the first one `is_target` accepts; any before it missed their
    /// answer and are resolved as skipped.
    fn retire(&mut self, is_target: impl Fn(&Expect) -> bool, now: Instant) {
        if !self.pending.iter().any(|p| is_target(p.expect)) {
            return;
        }
        while let Some(pending) = self.pending.pop_front() {
            if is_target(pending.expect) {
                return;
            }
            self.resolve_skipped(pending, now);
        }
    }

    /// Before a statement's completion, requests that complete silently ahead of it (none
    /// should be left) are retired.
    fn retire_until_statement(&mut self, now: Instant) {
        let runs = |e: &Expect| matches!(e, Expect::Simple(_) | Expect::Execute(_));
        while let Some(front) = self.pending.front() {
            if runs(front.expect) || !self.pending.iter().any(|p| runs(p.expect)) {
                return;
            }
            if let Some(pending) = self.pending.pop_front() {
                self.resolve_skipped(pending, now);
            }
        }
    }

    /// A sample of a statement answered at `now`.
    fn sample(
        &self,
        started: Instant,
        now: Instant,
        rows: Option<u64>,
        outcome: SampleOutcome,
    ) -> Sample {
        Sample {
            at_ms: self.sink.recorder.clock().unix_ms(now),
            latency_us: micros(now.saturating_duration_since(started)),
            rows,
            outcome,
            batched: false,
            batch_us: None,
        }
    }

    /// `CommandComplete`, `EmptyQueryResponse` or `PortalSuspended`.
    fn complete(&mut self, rows: Option<u64>, now: Instant) {
        self.retire_until_statement(now);
        let last_done = self.last_done.replace(now);
        let Some(front) = self.pending.front() else {
            return;
        };
        let started = later(front.sent, last_done);
        let coalesced = last_done == Some(now) && front.sent < now;
        let mut sample = self.sample(started, now, rows, SampleOutcome::Ok);
        self.rows_seen = 0;
        let Some(front) = self.pending.front_mut() else {
            return;
        };
        if let Some((statements, batched)) = front.simple() {
            let Some(stmt) = statements.get(front.next) else {
                return;
            };
            front.next += 1;
            sample.batched = batched || coalesced;
            if batched {
                front.held.push((stmt, sample));
            } else {
                self.sink.record(stmt, &sample);
            }
        } else if let Expect::Execute(stmt) = front.expect {
            self.pending.pop_front();
            if let Some(stmt) = stmt {
                sample.batched = coalesced;
                self.sink.record(stmt, &sample);
            }
        }
    }

    /// `ErrorResponse`.
    fn fail(&mut self, sqlstate: [u8; 5], now: Instant) {
        let last_done = self.last_done;
        self.last_done = Some(now);
        self.rows_seen = 0;
        let Some(front) = self.pending.front() else {
            // An error outside any request: a FATAL on an idle connection.
            return;
        };
        let started = later(front.sent, last_done);
        let coalesced = last_done == Some(now) && front.sent < now;
        let mut sample = self.sample(started, now, None, SampleOutcome::Error(sqlstate));
        let Some(front) = self.pending.front_mut() else {
            return;
        };
        if let Some((statements, batched)) = front.simple() {
            // The server abandons the rest of the query string; ReadyForQuery ends it.
            let mut finished = Vec::new();
            if let Some(stmt) = statements.get(front.next) {
                sample.batched = batched || coalesced;
                finished.push((&**stmt, sample));
            }
            for stmt in statements.iter().skip(front.next + 1) {
                finished.push((&**stmt, self_skipped(&self.sink, now)));
            }
            front.next = statements.len();
            if batched {
                front.held.extend(finished);
            } else {
                for (stmt, sample) in &finished {
                    self.sink.record(stmt, sample);
                }
            }
            return;
        }
        if matches!(front.expect, Expect::Sync | Expect::FunctionCall) {
            // The error ends the call; ReadyForQuery retires it.
            return;
        }
        if let Some(pending) = self.pending.pop_front() {
            let failed = match pending.expect {
                Expect::Parse(stmt) => Some(stmt),
                Expect::Bind(stmt) | Expect::Describe(stmt) | Expect::Execute(stmt) => {
                    stmt.as_ref()
                }
                _ => None,
            };
            if let Some(stmt) = failed {
                sample.batched = coalesced;
                self.sink.record(stmt, &sample);
            }
        }
        // After an extended-protocol error the server ignores messages until Sync.
        while let Some(front) = self.pending.front() {
            if matches!(front.expect, Expect::Sync) {
                return;
            }
            if let Some(pending) = self.pending.pop_front() {
                self.resolve_skipped(pending, now);
            }
        }
        self.discarding = true;
    }

    /// `ReadyForQuery`: retires the request it ends and anything still ahead of it.
    fn on_ready(&mut self, now: Instant) {
        if self.pending.iter().any(|p| p.expect.ends_with_ready()) {
            while let Some(mut pending) = self.pending.pop_front() {
                let last = pending.expect.ends_with_ready();
                if last {
                    // A multi-statement query's statements share its time.
                    let batch = micros(now.saturating_duration_since(pending.sent));
                    for (_, sample) in pending.held.iter_mut().filter(|(_, s)| s.batched) {
                        sample.batch_us = Some(batch);
                    }
                }
                self.resolve_skipped(pending, now);
                if last {
                    break;
                }
            }
        }
        self.discarding = false;
        self.last_done = Some(now);
        self.rows_seen = 0;
    }

    /// Records what a request held, and every statement it still had as skipped.
    fn resolve_skipped(&mut self, pending: Pending<'a>, now: Instant) {
        for (stmt, sample) in &pending.held {
            self.sink.record(stmt, sample);
        }
        match pending.expect {
            Expect::Simple(statements) => {
                for stmt in statements.iter().skip(pending.next) {
                    self.sink.record(stmt, &self_skipped(&self.sink, now));
                }
            }
            Expect::Execute(Some(stmt)) => self.sink.record(stmt, &self_skipped(&self.sink, now)),
            _ => {}
        }
    }

    /// The connection is gone: every request in flight is resolved as skipped.
    pub(crate) fn abandon(&mut self, now: Instant) {
        while let Some(pending) = self.pending.pop_front() {
            self.resolve_skipped(pending, now);
        }
    }
}

/// A statement that never ran.
fn self_skipped(sink: &Sink<'_>, now: Instant) -> Sample {
    Sample {
        at_ms: sink.recorder.clock().unix_ms(now),
        latency_us: 0,
        rows: None,
        outcome: SampleOutcome::Skipped,
        batched: false,
        batch_us: None,
    }
}

#[cfg(test)]
mod tests;
