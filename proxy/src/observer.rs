//! Observers: what consumes the session's events, and the flat list the pumps report to.
//!
//! An [`Observer`] runs on the connection's task right after the bytes that caused an event
//! were forwarded, so it must be cheap and never block: it records, enqueues, or drops and
//! counts. The process has exactly one list of them, [`Observers`], built in one place — the
//! composition root, [`crate::wiring`] — from the validated configuration: the recorder, the
//! debug log, span export and whatever comes next each take one line there. The list is flat:
//! no observer wraps another, so the order in which they see an event is the order they were
//! pushed, and the recorder (first) has usually memoised the statement's shape by the time
//! the others look at it.
//!
//! [`LogObserver`] logs each finished query at `debug` level as its fingerprint and normalized
//! text — never the raw text, which carries literals. The shape is memoised in the statement,
//! so a prepared statement is looked up once however often it runs, from the process's one
//! cache of shapes ([`crate::shape`]).
//!
//! # Events
//!
//! The [`Event`]s — what the session state machine emits about the queries it sees — are
//! defined here beside the trait that consumes them, so one file says what an observer gets.
//! The session ([`crate::session`]) is the only producer; observers receive events after the
//! bytes that caused them have been forwarded, so nothing here is on the forwarding path's
//! critical section.
//!
//! Statement text travels as an `Arc<Statement>`: a prepared statement is allocated once at
//! `Parse` and shared by every `Execute` of it, and its shape (the one analysis per query
//! shape, [`crate::shape`]) is memoised in the statement itself ([`Statement::shape`]) so that
//! it is looked up once per prepared statement, not once per execution.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use pgscope_fingerprint::ConformingStrings;

use crate::shape::{Shape, Shapes};

/// A consumer of session events. Implementations must be cheap and must never block: they run on
/// the connection's task right after its bytes were forwarded.
pub trait Observer: Send + Sync {
    /// Called with each event, in order, for one connection at a time.
    fn observe(&self, event: &Event);

    /// Called with a chunk's events, in order (what the pump and the replay hand over).
    fn observe_each(&self, events: &[Event]) {
        for event in events {
            self.observe(event);
        }
    }
}

/// The process's observers, in the order they see each event.
#[derive(Clone, Default)]
pub struct Observers {
    list: Vec<Arc<dyn Observer>>,
}

impl Observers {
    /// Appends `observer`: it sees each event after those pushed before it.
    pub fn push(&mut self, observer: Arc<dyn Observer>) {
        self.list.push(observer);
    }

    /// How many observers the list holds.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

impl std::fmt::Debug for Observers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observers")
            .field("observers", &self.list.len())
            .finish()
    }
}

impl Observer for Observers {
    fn observe(&self, event: &Event) {
        for observer in &self.list {
            observer.observe(event);
        }
    }
}

/// Logs finished queries at `debug` level.
#[derive(Debug)]
pub struct LogObserver {
    shapes: Arc<Shapes>,
}

impl LogObserver {
    /// A logger taking each statement's shape from the process's `shapes`.
    pub fn new(shapes: Arc<Shapes>) -> Self {
        LogObserver { shapes }
    }
}

impl Observer for LogObserver {
    fn observe(&self, event: &Event) {
        if !log::log_enabled!(log::Level::Debug) {
            return;
        }
        if let Event::QueryFinished(query) = event {
            let analysis = self.shapes.of(&query.statement);
            log::debug!(
                "query {} {:?} db={} user={} app={} {:?} rows={:?} in {:?}: {}",
                analysis.fingerprint,
                query.outcome,
                query.connection.database,
                query.connection.user,
                query.connection.application_name,
                query.protocol,
                query.rows,
                query.latency(),
                analysis.normalized
            );
        }
    }
}

/// Who is connected: the startup parameters that label every query of a connection.
///
/// `application_name` can change during a session (`SET application_name`); the session then
/// replaces its `Arc<ConnectionInfo>`, so events already emitted keep the old label.
///
/// The texts are `Arc<str>` so that every span of the connection shares them: a span's
/// attribute then costs a reference count, not an allocation and a copy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectionInfo {
    /// The `database` startup parameter (PostgreSQL defaults it to the user name).
    pub database: Arc<str>,
    /// The `user` startup parameter.
    pub user: Arc<str>,
    /// The `application_name` startup parameter or its latest `ParameterStatus`.
    pub application_name: Arc<str>,
    /// The connection's session id in the running capture, when it is being captured
    /// ([`crate::capture`]).
    pub capture: Option<u64>,
}

/// The text of one SQL statement as the client sent it, with literals.
///
/// The raw text stays in memory; what is stored and exported is the normalized text of its
/// [`Shape`], read under the connection's `standard_conforming_strings` of when the server
/// parsed it ([`Statement::strings`]).
#[derive(Debug)]
pub struct Statement {
    /// The SQL text (one statement of a simple query, or the text of a `Parse`).
    pub text: Box<str>,
    /// How the server reads backslashes in its string literals: the connection's
    /// `standard_conforming_strings` when the statement was sent (`Unknown` while a change may
    /// have been in flight).
    pub strings: ConformingStrings,
    /// Running it may change `standard_conforming_strings` (see [`may_change_strings`]).
    pub(crate) changes_strings: bool,
    /// The statement's shape, looked up at most once by whichever observer needs it first.
    pub shape: OnceLock<Arc<Shape>>,
}

impl Statement {
    /// A statement with no shape yet, from a connection with `standard_conforming_strings`
    /// on (PostgreSQL's default).
    pub fn new(text: impl Into<Box<str>>) -> Arc<Self> {
        Self::with_strings(text, ConformingStrings::On)
    }

    /// A statement with no shape yet, whose literals the server reads under `strings`.
    pub fn with_strings(text: impl Into<Box<str>>, strings: ConformingStrings) -> Arc<Self> {
        let text = text.into();
        Arc::new(Statement {
            changes_strings: may_change_strings(&text),
            text,
            strings,
            shape: OnceLock::new(),
        })
    }
}

/// Whether running `sql` may change `standard_conforming_strings`: it names the setting (`SET`,
/// `RESET`, `set_config`, a `DO` body), or it starts with a word that can undo a change
/// (`RESET ALL`, `DISCARD`, `COMMIT`/`ROLLBACK`/`ABORT`/`END` after a `SET LOCAL` or inside a
/// transaction, `PREPARE TRANSACTION`). Conservative: a false positive only makes the statements
/// pipelined behind it be read fail-safe ([`ConformingStrings::Unknown`]).
pub(crate) fn may_change_strings(sql: &str) -> bool {
    const NAME: &[u8] = b"conforming_strings";
    const UNDOING: [&str; 7] = [
        "reset", "discard", "commit", "rollback", "abort", "end", "prepare",
    ];
    let bytes = sql.as_bytes();
    // The `_` of the name is its 11th byte: look only around underscores.
    let names_it = bytes.iter().enumerate().any(|(i, &b)| {
        b == b'_'
            && i >= 10
            && bytes
                .get(i - 10..i - 10 + NAME.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(NAME))
    });
    let first = sql
        .trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '(')
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or("");
    names_it || UNDOING.iter().any(|w| first.eq_ignore_ascii_case(w))
}

/// How a query was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// One statement of a simple `Query` message.
    Simple,
    /// An `Execute` of a portal bound from a prepared (possibly unnamed) statement.
    Extended,
    /// A `Parse` or `Bind` that failed before anything was executed.
    Prepare,
}

/// How a query ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `CommandComplete`, `EmptyQueryResponse` or `PortalSuspended`.
    Ok,
    /// `ErrorResponse` with this SQLSTATE (five ASCII characters).
    Error {
        /// The SQLSTATE code, e.g. `*b"42P01"`.
        sqlstate: [u8; 5],
    },
    /// Never ran: an earlier error in the same pipeline made the server skip it until `Sync`,
    /// or the connection closed before it completed.
    Skipped,
}

/// A query completed (or was resolved as skipped).
#[derive(Debug, Clone)]
pub struct QueryFinished {
    /// The connection's labels.
    pub connection: Arc<ConnectionInfo>,
    /// The statement that ran.
    pub statement: Arc<Statement>,
    /// How it was sent.
    pub protocol: Protocol,
    /// Start of the measured interval: when the request was written upstream, or when the
    /// previous request on the connection completed if that was later (see the README's
    /// "What latency means").
    pub started: Instant,
    /// When its completion message arrived from upstream.
    pub finished: Instant,
    /// Rows from the `CommandComplete` tag (`SELECT 5`, `INSERT 0 5`, `COPY 5` …), when it has
    /// a count.
    pub rows: Option<u64>,
    /// The command tag's verb, e.g. `SELECT`, `INSERT`, `CREATE TABLE` (empty when none).
    pub command: std::borrow::Cow<'static, str>,
    /// How it ended.
    pub outcome: Outcome,
    /// One of several statements of a single simple `Query`: the server sends their results
    /// in one burst when the last has finished, so this statement's own latency was not
    /// observed (`finished - started` is an arrival gap, not its time in the server). Rows and
    /// errors are exact.
    pub batched: bool,
    /// For a `batched` statement: the whole `Query`'s time, from when it was written upstream
    /// to the server's `ReadyForQuery` — the batch's latency, which its statements share
    /// (`None` when not batched, or when the connection ended before `ReadyForQuery`).
    pub batch: Option<Batch>,
}

/// The multi-statement `Query` a batched statement ran in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batch {
    /// From when the `Query` was written upstream to the server's `ReadyForQuery`.
    pub duration: Duration,
    /// Statements in it.
    pub statements: u32,
}

impl QueryFinished {
    /// The measured latency, `finished - started`.
    pub fn latency(&self) -> Duration {
        self.finished.saturating_duration_since(self.started)
    }
}

/// A connection finished authentication and is being captured from now on.
#[derive(Debug, Clone)]
pub struct SessionCaptured {
    /// The connection's labels (`capture` holds its session id).
    pub connection: Arc<ConnectionInfo>,
    /// The client's startup packet as sent (its parameters; it never holds a password).
    pub startup: bytes::Bytes,
    /// Bodies of the server's `ParameterStatus` messages before its first `ReadyForQuery`.
    pub server_parameters: Vec<bytes::Bytes>,
    /// The server's cancel key (`BackendKeyData`): matched against later `CancelRequest`s,
    /// never written to a capture.
    pub backend_key: Option<(u32, bytes::Bytes)>,
    /// When the client connected.
    pub connected: Instant,
    /// When authentication finished.
    pub at: Instant,
}

/// A message a captured client sent, after authentication.
#[derive(Debug, Clone)]
pub struct ClientMessage {
    /// The capture session id.
    pub session: u64,
    /// The message type byte.
    pub tag: u8,
    /// The body (without type byte and length); `None` when it went by unread (a message that
    /// was already being skipped when the capture began).
    pub body: Option<bytes::Bytes>,
    /// When pgscope read it.
    pub at: Instant,
    /// How the server will read its literals: the session's `standard_conforming_strings`
    /// (from its `ParameterStatus`) when the message was sent, `Unknown` while a statement that
    /// may change it is in flight. Redaction lexes the message's SQL under it.
    pub strings: ConformingStrings,
}

/// Everything the session tells its observers.
#[derive(Debug, Clone)]
pub enum Event {
    /// See [`QueryFinished`].
    QueryFinished(QueryFinished),
    /// See [`SessionCaptured`].
    SessionCaptured(SessionCaptured),
    /// See [`ClientMessage`]; only for captured connections.
    ClientMessage(ClientMessage),
    /// A captured connection ended.
    SessionEnded {
        /// The capture session id.
        session: u64,
        /// When.
        at: Instant,
    },
}
