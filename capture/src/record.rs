//! The records of a capture, as typed values.
//!
//! Times are microseconds since the capture started ([`crate::FileHeader::started_at_micros`]),
//! so they are small, monotonic per writer, and independent of the wall clock's steps. Session
//! ids are assigned by the writer's producer (pgscope numbers client connections) and are unique
//! within one capture, rotated parts included.

use bytes::Bytes;

/// Microseconds since the capture started.
pub type Offset = u64;

/// One element of the record stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A client session finished authentication (or, with `continued`, is still open when a
    /// new rotated part began).
    SessionStart(SessionStart),
    /// A message the client sent after authentication, exactly as sent.
    Frontend(FrontendMessage),
    /// A `CancelRequest` arrived (on a connection of its own, as the protocol wants).
    Cancel(Cancel),
    /// What the server answered to one statement: the baseline a replay is compared with.
    Outcome(StatementOutcome),
    /// A client session ended.
    SessionEnd(SessionEnd),
    /// Records were dropped because the writer fell behind (the capture is incomplete).
    Dropped(Dropped),
    /// The last record of a cleanly closed file (or part).
    Trailer(Trailer),
}

/// A client session's identity, written when its authentication succeeded. Never holds a
/// password or any authentication message: those are not captured.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionStart {
    /// The session's id within the capture.
    pub session: u64,
    /// When the client connected (may be before the capture started: then 0).
    pub at: Offset,
    /// The startup packet's protocol version (`0x0003_0000` for 3.0, `0x0003_0002` for 3.2).
    pub protocol: u32,
    /// The `database` startup parameter (as the server resolved it: defaults to the user).
    pub database: String,
    /// The `user` startup parameter.
    pub user: String,
    /// The `application_name` startup parameter (empty if none).
    pub application_name: String,
    /// Every other startup parameter, in the order the client sent them (`options`,
    /// `client_encoding`, `DateStyle`, …).
    pub parameters: Vec<(String, String)>,
    /// The server's `ParameterStatus` values when authentication finished (`server_version`,
    /// `standard_conforming_strings`, `TimeZone`, …).
    pub server_parameters: Vec<(String, String)>,
    /// The session started before this file (part) did: this record repeats it so that each
    /// rotated part names every session it contains.
    pub continued: bool,
}

/// One frontend message: its type byte and its body (without the type byte and length).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontendMessage {
    /// The session that sent it.
    pub session: u64,
    /// When pgscope read it from the client.
    pub at: Offset,
    /// The message type byte: `Q` Query, `P` Parse, `B` Bind, `D` Describe, `E` Execute, `C`
    /// Close, `S` Sync, `H` Flush, `d` CopyData, `c` CopyDone, `f` CopyFail, `F` FunctionCall,
    /// `X` Terminate.
    pub tag: u8,
    /// The body, exactly as sent (after redaction, if the capture is redacted).
    pub body: Bytes,
}

/// A `CancelRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancel {
    /// When it arrived.
    pub at: Offset,
    /// The captured session whose query it cancels, when pgscope could tell (its keys matched a
    /// session's `BackendKeyData`); the keys themselves are not captured.
    pub session: Option<u64>,
}

/// How a statement ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `CommandComplete`, `EmptyQueryResponse` or `PortalSuspended`.
    Ok,
    /// `ErrorResponse` with this SQLSTATE.
    Error([u8; 5]),
    /// Never ran: skipped after an earlier error until `Sync`, or the connection closed first.
    Skipped,
}

/// How a statement was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// One statement of a simple `Query`.
    Simple,
    /// An `Execute` of a bound portal.
    Extended,
    /// A `Parse` or `Bind` that failed before anything ran.
    Prepare,
}

/// The baseline of one statement: what the server answered when it was captured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementOutcome {
    /// The session that ran it.
    pub session: u64,
    /// When its completion arrived.
    pub at: Offset,
    /// Its fingerprint (`pgscope_fingerprint::Fingerprint`'s value).
    pub fingerprint: u64,
    /// Its latency in microseconds, as pgscope measures it.
    pub latency_micros: u64,
    /// Rows from the command tag, when it has a count.
    pub rows: Option<u64>,
    /// How it ended.
    pub status: Status,
    /// How it was sent.
    pub protocol: Protocol,
    /// One of several statements of one simple `Query`: its latency was not observed apart.
    pub batched: bool,
}

/// A client session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEnd {
    /// The session.
    pub session: u64,
    /// When its connection closed.
    pub at: Offset,
}

/// Records lost since the previous `Dropped` record because the writer fell behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// When the loss was noticed.
    pub at: Offset,
    /// How many records were lost.
    pub records: u64,
}

/// Why a capture (or one part of it) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// Stopped on request (API, CLI, or pgscope shutting down).
    Stopped,
    /// Its `duration` elapsed.
    Duration,
    /// Its `max_bytes` would have been exceeded by the next block.
    MaxBytes,
    /// This part reached the rotation size; the capture continues in the next part.
    Rotated,
    /// Writing failed (disk full, …): see pgscope's log.
    Failed,
}

/// Counts written as the last record of a cleanly closed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trailer {
    /// When the file was closed.
    pub at: Offset,
    /// Why.
    pub reason: EndReason,
    /// Records written to this file, the trailer excluded.
    pub records: u64,
    /// Records dropped over the whole capture so far because the writer fell behind.
    pub dropped: u64,
    /// Records not written because `max_bytes` was reached.
    pub over_limit: u64,
    /// Whether records were lost (`dropped > 0`): a replay of this capture is not the whole
    /// traffic.
    pub incomplete: bool,
}

impl Record {
    /// The record's time.
    pub fn at(&self) -> Offset {
        match self {
            Record::SessionStart(r) => r.at,
            Record::Frontend(r) => r.at,
            Record::Cancel(r) => r.at,
            Record::Outcome(r) => r.at,
            Record::SessionEnd(r) => r.at,
            Record::Dropped(r) => r.at,
            Record::Trailer(r) => r.at,
        }
    }

    /// The session the record belongs to, if any.
    pub fn session(&self) -> Option<u64> {
        match self {
            Record::SessionStart(r) => Some(r.session),
            Record::Frontend(r) => Some(r.session),
            Record::Cancel(r) => r.session,
            Record::Outcome(r) => Some(r.session),
            Record::SessionEnd(r) => Some(r.session),
            Record::Dropped(_) | Record::Trailer(_) => None,
        }
    }
}
