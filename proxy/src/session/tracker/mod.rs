//! Requests in flight and the statements and portals they name.
//!
//! The tracker takes each message as the session decoded it — a `FrontendMessage` in
//! [`Tracker::on_client`], a `BackendMessage` in [`Tracker::on_server`] — whether its body was
//! read or went by unread, and matches on its variant; it never sees a type byte.
//!
//! PostgreSQL answers requests strictly in order, so the tracker keeps a FIFO of what the client
//! sent that will get a response (`Query`, `Parse`, `Bind`, `Describe`, `Execute`, `Close`,
//! `Sync`, `FunctionCall`) and matches each response from the server to the front of it:
//!
//! - a simple `Query` holds several statements; each `CommandComplete`, `EmptyQueryResponse` or
//!   `ErrorResponse` finishes the current one (an error skips the rest) and `ReadyForQuery`
//!   retires the whole query;
//! - in the extended protocol, `ParseComplete`, `BindComplete`, `CloseComplete`, `NoData` /
//!   `RowDescription` retire their request, `CommandComplete`, `EmptyQueryResponse` and
//!   `PortalSuspended` finish an `Execute`, and `ReadyForQuery` retires a `Sync`;
//! - after an `ErrorResponse` in the extended protocol the server ignores everything up to the
//!   next `Sync`: every request before that `Sync` is resolved as skipped at once, and if the
//!   client has not sent the `Sync` yet, what it sends until then is resolved as skipped as it
//!   goes by. `ReadyForQuery` also retires anything still ahead of it, so no request is ever
//!   left dangling, even if a response was missed.
//!
//! Timing: a query's interval starts when its request was written upstream, or when the
//! previous query on the connection completed if that was later (a statement of a multi-statement
//! query, or an `Execute` queued in a pipeline, cannot start before its predecessor finished),
//! and ends when its completion message arrives. A request whose start is its predecessor's
//! completion read in the same chunk as its own completion or error was not observed on its
//! own: it is reported `batched`, not timed at 0 µs.
//!
//! Each statement carries the `standard_conforming_strings` the server will parse it under: the
//! value of the server's latest `ParameterStatus`, or `Unknown` (read fail-safe) while a request
//! that may change it is still in flight — a statement pipelined behind `SET
//! standard_conforming_strings = off`, `RESET`, `DISCARD` or a `COMMIT`/`ROLLBACK` that ends a
//! `SET LOCAL` is parsed after that change, whose `ParameterStatus` has not arrived yet. The
//! statements of one simple `Query` all take the value from before it: the server parses the
//! whole string before running any of it.

use std::borrow::Cow;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use pgscope_fingerprint::ConformingStrings;
use pgscope_protocol::backend::{command_tag, BackendMessage};
use pgscope_protocol::frontend::FrontendMessage;
use pgscope_protocol::tag::{backend as bt, frontend as ft};

mod responses;

use crate::observer::{ConnectionInfo, Event, Statement};
use crate::session::Events;

/// Client message types whose bodies the tracker reads; the others' bodies go by unread and
/// they reach the tracker as their fieldless view or `Unread`
/// ([`Message::decode`](pgscope_protocol::Message::decode)).
pub(super) fn client_wants_body(tag: u8) -> bool {
    matches!(
        tag,
        ft::QUERY
            | ft::PARSE
            | ft::BIND
            | ft::DESCRIBE
            | ft::EXECUTE
            | ft::CLOSE
            | ft::FUNCTION_CALL
    )
}

/// Server message types whose bodies the session reads; all others (rows, copy data,
/// descriptions, notices) are skipped without copying and reach the session as their fieldless
/// view or `Unread` ([`Message::decode`](pgscope_protocol::Message::decode)).
pub(super) fn server_wants_body(tag: u8) -> bool {
    matches!(
        tag,
        bt::COMMAND_COMPLETE
            | bt::ERROR_RESPONSE
            | bt::READY_FOR_QUERY
            | bt::BACKEND_KEY_DATA
            | bt::PARAMETER_STATUS
            | bt::COPY_IN_RESPONSE
    )
}

/// One request awaiting its response.
#[derive(Debug)]
struct Pending {
    kind: Kind,
    sent: Instant,
}

#[derive(Debug)]
enum Kind {
    /// A simple query: the statement running now and those after it. `batched` when it held
    /// more than one statement: the server sends their results in one burst at the end, so
    /// their latencies cannot be told apart; their events are `held` until `ReadyForQuery`,
    /// which gives them the whole query's time ([`crate::observer::Batch`]).
    Simple {
        current: Option<Arc<Statement>>,
        rest: VecDeque<Arc<Statement>>,
        batched: bool,
        held: Vec<Event>,
    },
    /// A `Parse`; on error the name's previous statement is restored.
    Parse {
        statement: Arc<Statement>,
        name: Box<[u8]>,
        previous: Option<Arc<Statement>>,
    },
    Bind(Option<Arc<Statement>>),
    Describe(Option<Arc<Statement>>),
    Execute(Option<Arc<Statement>>),
    Close,
    Sync,
    FunctionCall,
}

impl Kind {
    /// Whether `ReadyForQuery` is this request's last response.
    fn ends_with_ready(&self) -> bool {
        matches!(self, Kind::Simple { .. } | Kind::Sync | Kind::FunctionCall)
    }
}

/// Statements or portals by name. foldhash, randomly seeded per map: a `Bind` + `Execute`
/// looks names up three or four times per query, and SipHash made that 6% of pgscope's
/// instructions per query (`benches/README.md`); the seed keeps a client from choosing names
/// that collide.
type ByName<V> = HashMap<Box<[u8]>, V, foldhash::fast::RandomState>;

/// See the module documentation.
#[derive(Debug)]
pub(super) struct Tracker {
    statements: ByName<Arc<Statement>>,
    portals: ByName<Option<Arc<Statement>>>,
    pending: VecDeque<Pending>,
    /// The server is skipping to the next `Sync` and the client has not sent it yet.
    discarding: bool,
    /// When the last query (or `ReadyForQuery`) completed.
    last_done: Option<Instant>,
    /// `DataRow`s since the last completion, for `PortalSuspended`.
    rows_seen: u64,
    max_in_flight: usize,
    max_statements: usize,
    /// Tracking gave up (too many requests in flight); nothing more is recorded.
    overflowed: bool,
    /// The status byte of the last `ReadyForQuery` (`I`, `T` or `E`).
    transaction_status: Option<u8>,
    /// `standard_conforming_strings` as the server last reported it.
    strings: ConformingStrings,
    /// A request that may change `strings` was sent and its `ReadyForQuery` has not come yet.
    strings_unsettled: bool,
}

impl Tracker {
    pub(super) fn new(max_in_flight: usize, max_statements: usize) -> Self {
        Tracker {
            statements: ByName::default(),
            portals: ByName::default(),
            pending: VecDeque::new(),
            discarding: false,
            last_done: None,
            rows_seen: 0,
            max_in_flight,
            max_statements,
            overflowed: false,
            transaction_status: None,
            strings: ConformingStrings::On,
            strings_unsettled: false,
        }
    }

    /// The server reported `standard_conforming_strings` (at startup or after a change).
    pub(super) fn set_conforming_strings(&mut self, strings: ConformingStrings) {
        self.strings = strings;
    }

    /// How the server will read the literals of a statement sent now.
    pub(super) fn strings_now(&self) -> ConformingStrings {
        if self.strings_unsettled {
            ConformingStrings::Unknown
        } else {
            self.strings
        }
    }

    pub(super) fn in_flight(&self) -> usize {
        self.pending.len()
    }

    pub(super) fn transaction_status(&self) -> Option<u8> {
        self.transaction_status
    }

    /// Forgets everything, emitting nothing (tracking is being abandoned).
    pub(super) fn clear(&mut self) {
        self.statements.clear();
        self.portals.clear();
        self.pending.clear();
        self.discarding = false;
    }

    /// The connection is gone: every request in flight is resolved as skipped.
    pub(super) fn abandon(
        &mut self,
        conn: &Arc<ConnectionInfo>,
        now: Instant,
        events: &mut Events,
    ) {
        while let Some(pending) = self.pending.pop_front() {
            self.resolve_skipped(pending, conn, now, events);
        }
    }

    /// A message from the client, decoded once by the session: requests that get a response
    /// join the FIFO; the others (`Flush`, COPY data, ...) change nothing here.
    pub(super) fn on_client(
        &mut self,
        message: &FrontendMessage<'_>,
        conn: &Arc<ConnectionInfo>,
        now: Instant,
        events: &mut Events,
    ) {
        if self.overflowed {
            return;
        }
        let kind = match *message {
            FrontendMessage::Query { sql } => {
                let text = pgscope_protocol::text::lossy(sql);
                let strings = self.strings_now();
                let mut statements = pgscope_fingerprint::split_statements_with(&text, strings)
                    .into_iter()
                    .map(|s| Statement::with_strings(s.trim(), strings));
                let current = statements.next();
                let rest: VecDeque<_> = statements.collect();
                let batched = !rest.is_empty();
                Kind::Simple {
                    current,
                    rest,
                    batched,
                    held: Vec::new(),
                }
            }
            FrontendMessage::Parse { name, sql, .. } => {
                let statement =
                    Statement::with_strings(pgscope_protocol::text::lossy(sql), self.strings_now());
                let previous = self.define_statement(name, &statement);
                Kind::Parse {
                    statement,
                    name: name.into(),
                    previous,
                }
            }
            FrontendMessage::Bind { portal, statement } => {
                let statement = self.statements.get(statement).cloned();
                self.portals.insert(portal.into(), statement.clone());
                Kind::Bind(statement)
            }
            FrontendMessage::Describe { kind, name } => Kind::Describe(if kind == b'S' {
                self.statements.get(name).cloned()
            } else {
                self.portals.get(name).cloned().flatten()
            }),
            FrontendMessage::Execute { portal, .. } => {
                Kind::Execute(self.portals.get(portal).cloned().flatten())
            }
            FrontendMessage::Close { kind, name } => {
                if kind == b'S' {
                    self.statements.remove(name);
                } else {
                    self.portals.remove(name);
                }
                Kind::Close
            }
            FrontendMessage::Sync => Kind::Sync,
            FrontendMessage::FunctionCall { .. } => Kind::FunctionCall,
            _ => return,
        };
        self.push(kind, conn, now, events);
    }

    /// A message from the server, decoded once by the session: responses are matched to the
    /// requests in flight (see the module documentation); the others change nothing here.
    pub(super) fn on_server(
        &mut self,
        message: &BackendMessage<'_>,
        conn: &Arc<ConnectionInfo>,
        now: Instant,
        events: &mut Events,
    ) {
        match *message {
            BackendMessage::DataRow => self.rows_seen += 1,
            BackendMessage::CommandComplete { tag } => {
                let tag = command_tag(tag);
                self.complete(tag.rows, verb_text(tag.verb), conn, now, events);
            }
            BackendMessage::ReadyForQuery { status } => {
                self.ready(status, conn, now, events);
                if self.pending.is_empty() {
                    // Any change is reported (`ParameterStatus`) before this.
                    self.strings_unsettled = false;
                }
            }
            BackendMessage::ErrorResponse(ref fields) => {
                let sqlstate = fields.sqlstate().unwrap_or(*b"XX000");
                self.fail(sqlstate, conn, now, events);
            }
            BackendMessage::ParseComplete => {
                self.retire(|k| matches!(k, Kind::Parse { .. }), conn, now, events)
            }
            BackendMessage::BindComplete => {
                self.retire(|k| matches!(k, Kind::Bind(_)), conn, now, events)
            }
            BackendMessage::CloseComplete => {
                self.retire(|k| matches!(k, Kind::Close), conn, now, events)
            }
            BackendMessage::NoData => {
                self.retire(|k| matches!(k, Kind::Describe(_)), conn, now, events)
            }
            BackendMessage::RowDescription => {
                // Part of a simple query's results, or the answer to a Describe.
                if matches!(self.front(), Some(Kind::Describe(_))) {
                    self.pending.pop_front();
                }
            }
            BackendMessage::EmptyQueryResponse => {
                self.complete(None, Cow::Borrowed(""), conn, now, events)
            }
            BackendMessage::PortalSuspended => {
                let rows = self.rows_seen;
                self.complete(Some(rows), Cow::Borrowed(""), conn, now, events);
            }
            _ => {}
        }
    }

    fn front(&self) -> Option<&Kind> {
        self.pending.front().map(|p| &p.kind)
    }

    fn define_statement(
        &mut self,
        name: &[u8],
        statement: &Arc<Statement>,
    ) -> Option<Arc<Statement>> {
        if self.statements.len() >= self.max_statements && !self.statements.contains_key(name) {
            return None;
        }
        self.statements.insert(name.into(), Arc::clone(statement))
    }

    fn push(&mut self, kind: Kind, conn: &Arc<ConnectionInfo>, now: Instant, events: &mut Events) {
        let pending = Pending { kind, sent: now };
        if self.discarding {
            if matches!(pending.kind, Kind::Sync) {
                self.discarding = false;
            } else {
                // The server skips it: it will never be answered.
                self.resolve_skipped(pending, conn, now, events);
                return;
            }
        }
        if self.pending.len() >= self.max_in_flight {
            log::warn!(
                "more than {} requests in flight on one connection: no longer recording it",
                self.max_in_flight
            );
            self.overflowed = true;
            self.clear();
            return;
        }
        let changes_strings = match &pending.kind {
            Kind::Simple { current, rest, .. } => {
                current.iter().chain(rest.iter()).any(|s| s.changes_strings)
            }
            Kind::Execute(Some(s)) => s.changes_strings,
            _ => false,
        };
        self.strings_unsettled |= changes_strings;
        self.pending.push_back(pending);
    }
}

/// The verb of a command tag as text: the common verbs without an allocation (one per query
/// otherwise), any other as a copy.
fn verb_text(verb: &[u8]) -> Cow<'static, str> {
    Cow::Borrowed(match verb {
        b"SELECT" => "SELECT",
        b"INSERT" => "INSERT",
        b"UPDATE" => "UPDATE",
        b"DELETE" => "DELETE",
        b"MERGE" => "MERGE",
        b"FETCH" => "FETCH",
        b"MOVE" => "MOVE",
        b"COPY" => "COPY",
        b"BEGIN" => "BEGIN",
        b"COMMIT" => "COMMIT",
        b"ROLLBACK" => "ROLLBACK",
        b"SET" => "SET",
        b"SHOW" => "SHOW",
        b"DISCARD ALL" => "DISCARD ALL",
        other => return Cow::Owned(pgscope_protocol::text::lossy(other).into_owned()),
    })
}
