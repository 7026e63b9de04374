//! Matching server responses to the requests in flight: completions, errors (and the
//! skip-to-`Sync` they cause), `ReadyForQuery`, and the events each produces.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use super::{Kind, Pending, Tracker};
use crate::observer::{Batch, ConnectionInfo, Event, Outcome, Protocol, QueryFinished, Statement};
use crate::session::Events;

impl Tracker {
    /// Pops requests up to the first one `is_target` accepts; any before it missed their
    /// response and are resolved as skipped.
    pub(super) fn retire(
        &mut self,
        is_target: impl Fn(&Kind) -> bool,
        conn: &Arc<ConnectionInfo>,
        now: Instant,
        events: &mut Events,
    ) {
        if !self.pending.iter().any(|p| is_target(&p.kind)) {
            return;
        }
        while let Some(pending) = self.pending.pop_front() {
            if is_target(&pending.kind) {
                return;
            }
            self.resolve_skipped(pending, conn, now, events);
        }
    }

    /// `CommandComplete`, `EmptyQueryResponse` or `PortalSuspended`.
    pub(super) fn complete(
        &mut self,
        rows: Option<u64>,
        command: Cow<'static, str>,
        conn: &Arc<ConnectionInfo>,
        now: Instant,
        events: &mut Events,
    ) {
        self.finish_front(Outcome::Ok, rows, command, conn, now, events);
    }

    /// Finishes the query at the front: the current statement of a simple query, or an
    /// `Execute` (popped).
    pub(super) fn finish_front(
        &mut self,
        outcome: Outcome,
        rows: Option<u64>,
        command: Cow<'static, str>,
        conn: &Arc<ConnectionInfo>,
        now: Instant,
        events: &mut Events,
    ) {
        self.retire_until_query(conn, now, events);
        let last_done = self.last_done;
        self.last_done = Some(now);
        let Some(front) = self.pending.front_mut() else {
            return;
        };
        let started = later(front.sent, last_done);
        let coalesced = coalesced(front.sent, last_done, now);
        let (statement, protocol, batched) = match &mut front.kind {
            Kind::Simple {
                current,
                rest,
                batched,
                ..
            } => {
                let Some(statement) = current.take() else {
                    return;
                };
                *current = rest.pop_front();
                (Some(statement), Protocol::Simple, *batched)
            }
            Kind::Execute(statement) => {
                let statement = statement.take();
                self.pending.pop_front();
                (statement, Protocol::Extended, false)
            }
            _ => return,
        };
        self.rows_seen = 0;
        if let Some(statement) = statement {
            let mut event = finished(
                conn, statement, protocol, started, now, rows, command, outcome,
            );
            if let Event::QueryFinished(query) = &mut event {
                query.batched = batched || coalesced;
            }
            match self.pending.front_mut() {
                Some(Pending {
                    kind: Kind::Simple { held, .. },
                    ..
                }) if batched => held.push(event),
                _ => events.push(event),
            }
        }
    }

    /// Before a query completion, requests that complete silently ahead of it (none should be
    /// left) are retired.
    pub(super) fn retire_until_query(
        &mut self,
        conn: &Arc<ConnectionInfo>,
        now: Instant,
        events: &mut Events,
    ) {
        while let Some(front) = self.pending.front() {
            match front.kind {
                Kind::Simple { .. } | Kind::Execute(_) => return,
                _ if self
                    .pending
                    .iter()
                    .any(|p| matches!(p.kind, Kind::Simple { .. } | Kind::Execute(_))) =>
                {
                    if let Some(pending) = self.pending.pop_front() {
                        self.resolve_skipped(pending, conn, now, events);
                    }
                }
                _ => return,
            }
        }
    }

    /// `ErrorResponse`.
    pub(super) fn fail(
        &mut self,
        sqlstate: [u8; 5],
        conn: &Arc<ConnectionInfo>,
        now: Instant,
        events: &mut Events,
    ) {
        let last_done = self.last_done;
        let Some(front) = self.pending.front_mut() else {
            // An error outside any request: a FATAL on an idle connection, or authentication.
            return;
        };
        let outcome = Outcome::Error { sqlstate };
        let started = later(front.sent, last_done);
        let coalesced = coalesced(front.sent, last_done, now);
        match &mut front.kind {
            Kind::Simple {
                current,
                rest,
                batched,
                held,
            } => {
                // The server abandons the rest of the query string; ReadyForQuery ends it.
                let batched = *batched;
                let mut push = |event| {
                    if batched {
                        held.push(event)
                    } else {
                        events.push(event)
                    }
                };
                if let Some(statement) = current.take() {
                    let mut event = finished(
                        conn,
                        statement,
                        Protocol::Simple,
                        started,
                        now,
                        None,
                        Cow::Borrowed(""),
                        outcome,
                    );
                    if let Event::QueryFinished(query) = &mut event {
                        query.batched = batched || coalesced;
                    }
                    push(event);
                }
                for statement in rest.drain(..) {
                    push(skipped(conn, statement, Protocol::Simple, now));
                }
            }
            // The error ends the call; ReadyForQuery retires it.
            Kind::FunctionCall | Kind::Sync => {}
            _ => {
                if let Some(pending) = self.pending.pop_front() {
                    let failed = match pending.kind {
                        Kind::Parse {
                            statement,
                            name,
                            previous,
                        } => {
                            self.undefine_statement(name, &statement, previous);
                            Some((statement, Protocol::Prepare))
                        }
                        Kind::Bind(s) | Kind::Describe(s) => s.map(|s| (s, Protocol::Prepare)),
                        Kind::Execute(s) => s.map(|s| (s, Protocol::Extended)),
                        _ => None,
                    };
                    if let Some((statement, protocol)) = failed {
                        let mut event = finished(
                            conn,
                            statement,
                            protocol,
                            started,
                            now,
                            None,
                            Cow::Borrowed(""),
                            outcome,
                        );
                        if let Event::QueryFinished(query) = &mut event {
                            query.batched = coalesced;
                        }
                        events.push(event);
                    }
                }
                self.skip_to_sync(conn, now, events);
            }
        }
        self.last_done = Some(now);
        self.rows_seen = 0;
    }

    /// After an extended-protocol error the server ignores messages until `Sync`.
    pub(super) fn skip_to_sync(
        &mut self,
        conn: &Arc<ConnectionInfo>,
        now: Instant,
        events: &mut Events,
    ) {
        while let Some(front) = self.pending.front() {
            if matches!(front.kind, Kind::Sync) {
                return;
            }
            if let Some(pending) = self.pending.pop_front() {
                self.resolve_skipped(pending, conn, now, events);
            }
        }
        self.discarding = true;
    }

    /// A failed `Parse` did not define its name: put back what it replaced.
    pub(super) fn undefine_statement(
        &mut self,
        name: Box<[u8]>,
        statement: &Arc<Statement>,
        previous: Option<Arc<Statement>>,
    ) {
        let ours = self
            .statements
            .get(&name)
            .is_some_and(|s| Arc::ptr_eq(s, statement));
        if ours {
            match previous {
                Some(previous) if !name.is_empty() => {
                    self.statements.insert(name, previous);
                }
                _ => {
                    self.statements.remove(&name);
                }
            }
        }
    }

    /// `ReadyForQuery`: retires the request it ends and anything still ahead of it.
    pub(super) fn ready(
        &mut self,
        status: u8,
        conn: &Arc<ConnectionInfo>,
        now: Instant,
        events: &mut Events,
    ) {
        if self.pending.iter().any(|p| p.kind.ends_with_ready()) {
            while let Some(mut pending) = self.pending.pop_front() {
                let last = pending.kind.ends_with_ready();
                if last {
                    time_batch(&mut pending, now);
                }
                self.resolve_skipped(pending, conn, now, events);
                if last {
                    break;
                }
            }
        }
        self.transaction_status = Some(status);
        if status == b'I' {
            // Portals never outlive their transaction.
            self.portals.clear();
        }
        self.discarding = false;
        self.last_done = Some(now);
        self.rows_seen = 0;
    }

    /// Emits `Skipped` for every query a request still held.
    pub(super) fn resolve_skipped(
        &mut self,
        pending: Pending,
        conn: &Arc<ConnectionInfo>,
        now: Instant,
        events: &mut Events,
    ) {
        match pending.kind {
            Kind::Simple {
                current,
                rest,
                held,
                ..
            } => {
                events.extend(held);
                for statement in current.into_iter().chain(rest) {
                    events.push(skipped(conn, statement, Protocol::Simple, now));
                }
            }
            Kind::Execute(Some(statement)) => {
                events.push(skipped(conn, statement, Protocol::Extended, now));
            }
            _ => {}
        }
    }
}

/// A multi-statement `Query` answered by `ReadyForQuery` at `now`: its held statements get the
/// whole query's time.
fn time_batch(pending: &mut Pending, now: Instant) {
    if let Kind::Simple {
        batched: true,
        held,
        ..
    } = &mut pending.kind
    {
        let statements = u32::try_from(held.len()).unwrap_or(u32::MAX);
        let batch = Batch {
            duration: now.saturating_duration_since(pending.sent),
            statements,
        };
        for event in held.iter_mut() {
            if let Event::QueryFinished(query) = event {
                if query.batched {
                    query.batch = Some(batch);
                }
            }
        }
    }
}

/// Start of a request's measured interval: when it was sent, or when the previous request
/// completed if that was later.
pub(super) fn later(sent: Instant, last_done: Option<Instant>) -> Instant {
    match last_done {
        Some(done) if done > sent => done,
        _ => sent,
    }
}

/// Whether a request sent at `sent` and answered (completed or failed) at `now` was coalesced
/// with its predecessor: the predecessor's completion came in the same read from the server, so
/// the request's start ([`later`]: that completion) and its end are one instant and its own
/// latency was not observed (the proxy read late). It is counted as batched, not as 0 µs.
pub(super) fn coalesced(sent: Instant, last_done: Option<Instant>, now: Instant) -> bool {
    last_done == Some(now) && sent < now
}

#[allow(clippy::too_many_arguments)]
pub(super) fn finished(
    conn: &Arc<ConnectionInfo>,
    statement: Arc<Statement>,
    protocol: Protocol,
    started: Instant,
    finished: Instant,
    rows: Option<u64>,
    command: Cow<'static, str>,
    outcome: Outcome,
) -> Event {
    Event::QueryFinished(QueryFinished {
        connection: Arc::clone(conn),
        statement,
        protocol,
        started,
        finished,
        rows,
        command,
        outcome,
        batched: false,
        batch: None,
    })
}

pub(super) fn skipped(
    conn: &Arc<ConnectionInfo>,
    statement: Arc<Statement>,
    protocol: Protocol,
    now: Instant,
) -> Event {
    finished(
        conn,
        statement,
        protocol,
        now,
        now,
        None,
        Cow::Borrowed(""),
        Outcome::Skipped,
    )
}
