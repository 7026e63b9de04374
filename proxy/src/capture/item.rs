//! What the observer hands the writer thread, and its conversion to capture records (done on
//! the writer thread, off the forwarding path).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use pgscope_capture as cap;
use pgscope_fingerprint::ConformingStrings;
use pgscope_protocol::startup::{parse_startup, StartupPacket};
use pgscope_protocol::Limits;

use crate::observer::{ConnectionInfo, Outcome, Protocol, QueryFinished, Statement};

/// One unit of work for the writer thread.
#[derive(Debug)]
pub(super) enum Item {
    /// A session joined the capture.
    Start {
        session: u64,
        connection: Arc<ConnectionInfo>,
        startup: Bytes,
        server_parameters: Vec<Bytes>,
        connected: Instant,
    },
    /// A client message (its body copied out of the read buffer; `None`: went by unread).
    Message {
        session: u64,
        tag: u8,
        body: Option<Bytes>,
        at: Instant,
        /// The session's `standard_conforming_strings` when it was sent.
        strings: ConformingStrings,
    },
    /// A statement's outcome.
    Outcome {
        session: u64,
        statement: Arc<Statement>,
        finished: Instant,
        latency_micros: u64,
        rows: Option<u64>,
        outcome: Outcome,
        protocol: Protocol,
        batched: bool,
    },
    /// A `CancelRequest`.
    Cancel { session: Option<u64>, at: Instant },
    /// A session ended.
    End { session: u64, at: Instant },
}

impl Item {
    /// The outcome of `query` from captured session `session`.
    pub(super) fn outcome(session: u64, query: &QueryFinished) -> Item {
        Item::Outcome {
            session,
            statement: Arc::clone(&query.statement),
            finished: query.finished,
            latency_micros: u64::try_from(query.latency().as_micros()).unwrap_or(u64::MAX),
            rows: query.rows,
            outcome: query.outcome,
            protocol: query.protocol,
            batched: query.batched,
        }
    }

    /// The weight of a message item whose body is `body_len` bytes long.
    pub(super) fn message_weight(body_len: usize) -> usize {
        64 + body_len
    }

    /// Bytes this item holds (for the queue's byte bound).
    pub(super) fn weight(&self) -> usize {
        match self {
            Item::Message { body, .. } => Self::message_weight(body.as_ref().map_or(0, Bytes::len)),
            Item::Start { startup, .. } => 256 + startup.len(),
            _ => 64,
        }
    }
}

/// Microseconds from the capture's start to `at` (0 if before).
fn offset(start: Instant, at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(start).as_micros()).unwrap_or(u64::MAX)
}

/// The startup packet's protocol version and parameters other than user and database.
fn startup_parameters(startup: &Bytes) -> (u32, Vec<(String, String)>) {
    let mut buf = BytesMut::from(&startup[..]);
    let limits = Limits {
        max_startup_len: u32::MAX,
        ..Limits::default()
    };
    match parse_startup(&mut buf, &limits) {
        Ok(Some((StartupPacket::Startup(message), _))) => {
            let (major, minor) = message.version();
            let params = message
                .params()
                .filter(|(n, _)| !matches!(*n, b"user" | b"database" | b"application_name"))
                .map(|(n, v)| (lossy(n), lossy(v)))
                .collect();
            ((u32::from(major) << 16) | u32::from(minor), params)
        }
        _ => (0x0003_0000, Vec::new()),
    }
}

fn lossy(b: &[u8]) -> String {
    pgscope_protocol::text::lossy(b).into_owned()
}

/// `name\0value\0` bodies as pairs.
fn server_parameters(bodies: &[Bytes]) -> Vec<(String, String)> {
    bodies
        .iter()
        .filter_map(|b| {
            let mut parts = b.split(|&c| c == 0);
            Some((lossy(parts.next()?), lossy(parts.next()?)))
        })
        .collect()
}

/// The conversion's per-capture state: the start instant, the redactor, and per session the
/// prepared statements whose text mentions a password.
#[derive(Debug)]
pub(super) struct Converter {
    pub(super) start: Instant,
    redactor: cap::redact::Redactor,
    /// `redact = true`: every message is redacted. Otherwise only those that may carry a
    /// password (see [`mentions_password`]).
    redact_all: bool,
    secret_statements: HashMap<u64, HashSet<Bytes>>,
}

/// Whether a message may carry a password: its body mentions `password` in any case
/// (`CREATE ROLE … PASSWORD '…'`, `ALTER USER … PASSWORD` as psql's `\password` sends it, a
/// connection string's `password=` in `CREATE SUBSCRIPTION`, a user mapping or `dblink`).
/// Such a message is redacted even in an unredacted capture.
pub(super) fn mentions_password(body: &[u8]) -> bool {
    body.windows(8).any(|w| w.eq_ignore_ascii_case(b"password"))
}

/// The statement name a `Parse` body defines or a `Bind` body binds (its second string).
fn statement_name(tag: u8, body: &[u8]) -> Option<&[u8]> {
    let name = |b: &[u8]| b.iter().position(|&c| c == 0);
    match tag {
        b'P' => name(body).map(|end| &body[..end]),
        b'B' => {
            let portal_end = name(body)?;
            let rest = &body[portal_end + 1..];
            name(rest).map(|end| &rest[..end])
        }
        _ => None,
    }
}

impl Converter {
    pub(super) fn new(start: Instant, redactor: cap::redact::Redactor, redact_all: bool) -> Self {
        Converter {
            start,
            redactor,
            redact_all,
            secret_statements: HashMap::new(),
        }
    }

    /// `body` as it is written: redacted if the capture is, or if it may carry a password
    /// (the message mentions one, or binds a statement whose text did).
    fn body(&mut self, session: u64, tag: u8, body: Bytes, strings: ConformingStrings) -> Bytes {
        if self.redact_all {
            return self.redactor.message(tag, &body, strings);
        }
        let mut secret = mentions_password(&body);
        if let Some(name) = statement_name(tag, &body) {
            let secrets = self.secret_statements.entry(session).or_default();
            if tag == b'P' {
                // A Parse replaces the unnamed statement, and a named one after its Close.
                if secret {
                    secrets.insert(Bytes::copy_from_slice(name));
                } else if !secrets.is_empty() {
                    secrets.remove(name);
                }
            } else {
                secret |= secrets.contains(name);
            }
        }
        if secret {
            self.redactor.message(tag, &body, strings)
        } else {
            body
        }
    }

    /// The record for `item`; `None` for a message that went by unread (counted as dropped by
    /// the caller).
    pub(super) fn record(&mut self, item: Item) -> Option<cap::Record> {
        Some(match item {
            Item::Start {
                session,
                connection,
                startup,
                server_parameters: bodies,
                connected,
            } => {
                let (protocol, parameters) = startup_parameters(&startup);
                let server_parameters = server_parameters(&bodies);
                cap::Record::SessionStart(cap::SessionStart {
                    session,
                    at: offset(self.start, connected),
                    protocol,
                    database: connection.database.to_string(),
                    user: connection.user.to_string(),
                    application_name: connection.application_name.to_string(),
                    parameters,
                    server_parameters,
                    continued: false,
                })
            }
            Item::Message {
                session,
                tag,
                body,
                at,
                strings,
            } => {
                let body = self.body(session, tag, body?, strings);
                cap::Record::Frontend(cap::FrontendMessage {
                    session,
                    at: offset(self.start, at),
                    tag,
                    body,
                })
            }
            Item::Outcome {
                session,
                statement,
                finished,
                latency_micros,
                rows,
                outcome,
                protocol,
                batched,
            } => {
                let fingerprint = match statement.shape.get() {
                    Some(shape) => shape.fingerprint.0,
                    None => {
                        pgscope_fingerprint::fingerprint_with(&statement.text, statement.strings)
                            .0
                             .0
                    }
                };
                cap::Record::Outcome(cap::StatementOutcome {
                    session,
                    at: offset(self.start, finished),
                    fingerprint,
                    latency_micros,
                    rows,
                    status: match outcome {
                        Outcome::Ok => cap::Status::Ok,
                        Outcome::Error { sqlstate } => cap::Status::Error(sqlstate),
                        Outcome::Skipped => cap::Status::Skipped,
                    },
                    protocol: match protocol {
                        Protocol::Simple => cap::Protocol::Simple,
                        Protocol::Extended => cap::Protocol::Extended,
                        Protocol::Prepare => cap::Protocol::Prepare,
                    },
                    batched,
                })
            }
            Item::Cancel { session, at } => cap::Record::Cancel(cap::Cancel {
                at: offset(self.start, at),
                session,
            }),
            Item::End { session, at } => {
                self.secret_statements.remove(&session);
                cap::Record::SessionEnd(cap::SessionEnd {
                    session,
                    at: offset(self.start, at),
                })
            }
        })
    }
}
