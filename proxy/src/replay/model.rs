//! What a replay reads: a capture reduced to what is needed to send it again and to compare.
//!
//! A [`Capture`] is a list of [`CapturedSession`]s — who connected (database, user,
//! application_name), when, and every frontend message sent after authentication with the
//! time it was sent — plus the [`Baseline`]: what the server answered each statement during the
//! capture (latency, rows, SQLSTATE), under the statement's fingerprint. The capture file's
//! reader maps its records onto these types (`replay::load`); the engine knows nothing of the
//! file format.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use pgscope_exporters::{QueryInfo, Sample};
use pgscope_fingerprint::ConformingStrings;

use crate::shape::Shape;

/// A whole capture, ready to replay.
#[derive(Debug, Clone, Default)]
pub struct Capture {
    /// The client sessions, in order of connection.
    pub sessions: Vec<CapturedSession>,
    /// What the server answered during the capture, one entry per statement.
    pub baseline: Vec<Baseline>,
    /// How long the capture lasted (its first to its last record).
    pub duration: Duration,
    /// The shapes of the baseline's fingerprints, each analysed once from a text the capture
    /// holds: what replayed statements are recorded under when the capture says which
    /// fingerprint they had ([`CapturedSession::answered`]).
    pub known: HashMap<u64, Arc<Shape>>,
}

/// One client session of a capture.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapturedSession {
    /// The session's number in the capture.
    pub id: u64,
    /// When it connected, from the start of the capture.
    pub connected_at: Duration,
    /// The `database` startup parameter.
    pub database: String,
    /// The `user` startup parameter.
    pub user: String,
    /// The `application_name` startup parameter (empty when none).
    pub application: String,
    /// Every message it sent after authentication, in order.
    pub messages: Vec<Message>,
    /// The server's `standard_conforming_strings` when the session started: how its statements'
    /// literals are read when one has to be analysed again.
    pub strings: ConformingStrings,
    /// The fingerprint of every statement the server answered during the capture, in the order
    /// of the answers (the session's part of the [`Baseline`]), with how it was sent: the plan
    /// gives each replayed statement its captured fingerprint from these instead of analysing
    /// its text again (`replay::script`). Empty when unknown: then texts are analysed.
    pub answered: Vec<Answered>,
}

/// How a captured statement was sent, as far as matching it with its message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// One statement of a simple `Query`.
    Simple,
    /// An `Execute`.
    Extended,
    /// A `Parse`, `Bind` or `Describe` that failed before anything ran.
    Prepare,
}

/// One statement the server answered during the capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answered {
    /// How it was sent.
    pub sent: Sent,
    /// Its fingerprint.
    pub fingerprint: u64,
}

/// What a session sent, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// A protocol message: its type byte and its body (without the length field).
    Frontend {
        /// The type byte (`Q`, `P`, `B`, …).
        tag: u8,
        /// The body.
        body: Bytes,
    },
    /// A `CancelRequest` for this session's running query (sent on its own connection with
    /// the session's key).
    Cancel,
}

/// One message of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// When it was sent, from the start of the capture.
    pub at: Duration,
    /// What was sent.
    pub payload: Payload,
}

impl Message {
    /// A protocol message sent at `at`.
    pub fn frontend(at: Duration, tag: u8, body: impl Into<Bytes>) -> Message {
        Message {
            at,
            payload: Payload::Frontend {
                tag,
                body: body.into(),
            },
        }
    }

    /// A protocol message given whole (type byte, length, body) — what
    /// `pgscope_protocol::encode::frontend` builds. `None` if `wire` is not one message.
    pub fn from_wire(at: Duration, wire: &[u8]) -> Option<Message> {
        let (&tag, rest) = wire.split_first()?;
        let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        (len == rest.len()).then(|| Message::frontend(at, tag, Bytes::copy_from_slice(&rest[4..])))
    }

    /// The type byte of a protocol message (`None` for a cancel request).
    pub fn tag(&self) -> Option<u8> {
        match &self.payload {
            Payload::Frontend { tag, .. } => Some(*tag),
            Payload::Cancel => None,
        }
    }

    /// Appends the message as sent on the wire (type byte, length, body); nothing for a
    /// cancel request.
    pub fn put_wire(&self, out: &mut BytesMut) {
        if let Payload::Frontend { tag, body } = &self.payload {
            out.reserve(5 + body.len());
            out.put_u8(*tag);
            out.put_u32(u32::try_from(body.len() + 4).unwrap_or(u32::MAX));
            out.put_slice(body);
        }
    }
}

/// What the server answered one statement during the capture.
#[derive(Debug, Clone, PartialEq)]
pub struct Baseline {
    /// The statement's fingerprint.
    pub fingerprint: u64,
    /// Its normalized text and analysis.
    pub info: QueryInfo,
    /// The session's database (shared by its statements).
    pub database: Arc<str>,
    /// The session's user.
    pub user: Arc<str>,
    /// The session's application_name when the statement ran.
    pub application: Arc<str>,
    /// Latency, rows, outcome.
    pub sample: Sample,
}
