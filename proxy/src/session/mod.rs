//! The per-connection protocol state machine: bytes in, the same bytes out, plus events.
//!
//! A [`Session`] sits between one client and its upstream connection. It is sans-IO in the
//! quinn-proto sense: the driver ([`crate::pump`]) hands it every chunk read from either socket
//! together with the current time, and the session answers with an [`Output`] saying what to
//! write where, which [`Event`](crate::observer::Event)s happened, and whether the driver must
//! connect, cancel or close.
//! Tests drive it with hand-built messages and synthetic instants; no socket is involved.
//!
//! The session changes no byte but one. Client chunks are returned unchanged in
//! [`Output::to_server`] and server chunks in [`Output::to_client`]; the bytes pgscope writes
//! itself are the answers PostgreSQL's startup protocol requires of a proxy (`S` or `N` to
//! `SSLRequest`, `N` to `GSSENCRequest`) and `ErrorResponse`s when something fails (bad client
//! message, unreachable upstream, upstream gone mid-session), always at a message boundary. The
//! one rewrite: while the upstream connection is TLS, `SCRAM-SHA-256-PLUS` is removed from the
//! server's SASL mechanisms, since channel binding cannot span a proxy ([`auth`]).
//!
//! Inside, the work is split by phase:
//! - [`startup`]: the untagged startup packets and the choice between TLS, connect, cancel and
//!   refuse;
//! - [`auth`]: the SCRAM filter of TLS upstream connections, until authentication ends;
//! - [`tracker`]: after startup, the prepared statements, portals and the FIFO of requests in
//!   flight, matched to their responses to produce `QueryFinished` events.
//!
//! After startup each direction has one [`Decoder`], and each message is decoded once: the
//! decoder frames it (keeping the bodies of the types listed by `client_wants_body` /
//! `server_wants_body`, letting every other body go by uncopied), `Message::decode` turns it
//! into its typed view (`FrontendMessage`, `BackendMessage`), borrowed from the frame, and the
//! session matches on that view once — for what concerns the connection (`Terminate`, the
//! cancel key, parameters, COPY-in, a FATAL error) — then hands the same view to the tracker.
//! Nothing dispatches on a type byte after the protocol crate.

mod accessors;
mod auth;
mod capture;
mod ending;
mod startup;
mod tracker;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_batch;
#[cfg(test)]
mod tests_capture;
#[cfg(test)]
mod tests_extended;
#[cfg(test)]
mod tests_pipeline;
#[cfg(test)]
mod tests_strings;
#[cfg(test)]
mod tests_tls;

use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use pgscope_config::TlsMode;
use pgscope_fingerprint::ConformingStrings;
use pgscope_protocol::backend::BackendMessage;
use pgscope_protocol::encode;
use pgscope_protocol::frontend::FrontendMessage;
use pgscope_protocol::{Decoded, Decoder, Limits, Message, ProtocolError};
use smallvec::SmallVec;

use crate::observer::{ConnectionInfo, Event};
use auth::AuthFilter;
use tracker::Tracker;

/// Settings of one session.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Protocol limits: a client message longer than `max_message_len` closes the connection.
    pub limits: Limits,
    /// Most requests tracked in flight at once; past it the session stops observing (it keeps
    /// forwarding) so that a client pipelining without reading cannot grow memory unboundedly.
    pub max_in_flight: usize,
    /// Most prepared statement names remembered per connection.
    pub max_statements: usize,
    /// Whether clients may (`Allow`) or must (`Require`) use TLS; `Disable`: `SSLRequest` is
    /// answered `N`.
    pub client_tls: TlsMode,
    /// `pipeline_timing = "exact"`: a `Flush` goes upstream after every `Execute` the client did
    /// not follow with `Sync` or `Flush`, so the server sends each result as it completes
    /// (PostgreSQL buffers extended-protocol output until one of them) and each statement is
    /// timed on its own. `false` (`"batch"`): the client's bytes only.
    pub flush_pipelines: bool,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            limits: Limits::default(),
            max_in_flight: 65_536,
            max_statements: 10_000,
            client_tls: TlsMode::Disable,
            flush_pipelines: true,
        }
    }
}

/// What the driver must do besides writing bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write [`Output::to_client`] (the `S`), then run the TLS handshake on the client
    /// connection, call [`Session::on_client_tls`] and go on reading startup packets over TLS.
    StartTls,
    /// Open the upstream connection, then write [`Output::to_server`] to it.
    Connect,
    /// Open a new upstream connection, write this `CancelRequest` packet (unchanged), close it,
    /// and close the client connection.
    Cancel(Bytes),
    /// Write [`Output::to_client`], then close both connections.
    Close,
}

/// A chunk's events: the first is kept inline (see [`Output`]).
pub type Events = SmallVec<[Event; 1]>;

/// The result of feeding the session: bytes to write, events, and at most one action.
///
/// A chunk read from one side is usually one chunk for the other side and at most one event,
/// so each list keeps its first item inline: a leg's output is reused for every chunk, and an
/// idle connection holds no allocation for it.
#[derive(Debug, Default)]
pub struct Output {
    /// Bytes for the client, in order.
    pub to_client: SmallVec<[Bytes; 1]>,
    /// Bytes for the upstream server, in order.
    pub to_server: SmallVec<[Bytes; 1]>,
    /// Events, in the order they happened.
    pub events: Events,
    /// What else to do, if anything.
    pub action: Option<Action>,
}

impl Output {
    /// Empties the output for reuse, keeping its allocations.
    pub fn clear(&mut self) {
        self.to_client.clear();
        self.to_server.clear();
        self.events.clear();
        self.action = None;
    }
}

/// A `Flush` message: its tag and a length that counts only itself.
const FLUSH_MESSAGE: &[u8] = &[pgscope_protocol::tag::frontend::FLUSH, 0, 0, 0, 4];

/// Which phase the connection is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the client's startup packet (possibly after refusing TLS/GSS encryption).
    Startup,
    /// Startup forwarded; authentication and then queries flow.
    Running,
    /// Closed or closing; nothing more is accepted.
    Closed,
}

/// The state machine of one client connection. See the module documentation.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    phase: Phase,
    connection: Arc<ConnectionInfo>,
    /// Replication connections are forwarded but not decoded or recorded.
    replication: bool,
    client: Decoder,
    server: Decoder,
    tracker: Tracker,
    /// Set once the client sent `Terminate`: the server's close is then expected.
    terminating: bool,
    /// The server's cancel key, as its `BackendKeyData` sent it.
    backend_key: Option<(u32, Bytes)>,
    /// Cleared when tracking had to stop (the server's stream could not be decoded, or too
    /// many requests in flight): bytes still flow, events stop.
    observing: bool,
    /// Cleared when the server's stream could not be framed: message boundaries are unknown.
    server_framed: bool,
    /// The server sent a FATAL or PANIC error: its close is announced already.
    server_said_fatal: bool,
    /// The client connection is TLS (terminated by pgscope).
    client_tls: bool,
    /// The server sent `CopyInResponse` and has not yet ended the COPY: it waits for data.
    copy_in: bool,
    /// While the upstream is TLS and authentication is going on: the SCRAM filter.
    auth: Option<Box<AuthFilter>>,
    /// The client's startup packet (kept for a capture's session record; no secret in it).
    startup_packet: Bytes,
    /// Copies of the server's `ParameterStatus` bodies until the first `ReadyForQuery`.
    server_parameters: Vec<Bytes>,
    /// The capture session id while this connection is being captured: then every client
    /// message is also an [`Event::ClientMessage`](crate::observer::Event::ClientMessage).
    capture: Option<u64>,
}

/// Most `ParameterStatus` messages kept from a server's startup (PostgreSQL sends about 15).
const MAX_SERVER_PARAMETERS: usize = 64;

impl Session {
    /// A new session waiting for its startup packet.
    pub fn new(config: SessionConfig) -> Self {
        let limits = config.limits;
        let tracker = Tracker::new(config.max_in_flight, config.max_statements);
        Session {
            config,
            phase: Phase::Startup,
            connection: Arc::new(ConnectionInfo::default()),
            replication: false,
            client: Decoder::new(limits, tracker::client_wants_body),
            // A server is trusted to respect PostgreSQL's own 1 GiB message limit; ours only
            // bounds what a client may send.
            server: Decoder::new(
                Limits {
                    max_message_len: u32::MAX,
                    ..limits
                },
                tracker::server_wants_body,
            ),
            tracker,
            terminating: false,
            backend_key: None,
            observing: true,
            server_framed: true,
            server_said_fatal: false,
            client_tls: false,
            copy_in: false,
            auth: None,
            startup_packet: Bytes::new(),
            server_parameters: Vec::new(),
            capture: None,
        }
    }

    /// Feeds bytes read from the client during the startup phase. `buf` holds everything read
    /// and not yet consumed; complete packets are taken from its front. After an
    /// [`Action::Connect`], bytes left in `buf` belong to the running phase: pass them to
    /// [`Session::on_client_data`] once connected.
    pub fn on_client_startup(&mut self, buf: &mut BytesMut, out: &mut Output) {
        startup::on_client_startup(self, buf, out);
    }

    /// Feeds a chunk read from the client after startup.
    pub fn on_client_data(&mut self, chunk: Bytes, now: Instant, out: &mut Output) {
        if self.phase != Phase::Running {
            return;
        }
        let Some(filter) = self.auth.as_mut() else {
            return self.client_chunk(chunk, now, out);
        };
        let filtered = filter.on_client(chunk);
        if let Some(refusal) = filtered.refuse {
            log::warn!(
                "refusing client (user {:?}, database {:?}): it asked for SCRAM channel binding, \
                 which cannot pass through a proxy (hint: channel_binding=disable)",
                self.connection.user,
                self.connection.database
            );
            out.to_client.push(refusal);
            out.action = Some(Action::Close);
            self.phase = Phase::Closed;
            return;
        }
        for piece in filtered.pass {
            self.client_chunk(piece, now, out);
            if self.phase != Phase::Running {
                return;
            }
        }
    }

    fn client_chunk(&mut self, chunk: Bytes, now: Instant, out: &mut Output) {
        if self.replication {
            out.to_server.push(chunk);
            return;
        }
        self.client.push(chunk.clone());
        // Bytes of `chunk` before `cut` are in `out.to_server` already.
        let mut cut = 0;
        loop {
            match self.client.next() {
                Ok(Some(decoded)) => match self.on_client_message(&decoded, now, out) {
                    Ok(execute) => {
                        if execute && self.config.flush_pipelines {
                            cut = self.flush_after_execute(&chunk, cut, out);
                        }
                    }
                    Err(error) => {
                        self.refuse_client(&error, out);
                        return;
                    }
                },
                Ok(None) => break,
                Err(error) => {
                    self.refuse_client(&error, out);
                    return;
                }
            }
        }
        if cut == 0 {
            out.to_server.push(chunk);
        } else if cut < chunk.len() {
            out.to_server.push(chunk.slice(cut..));
        }
    }

    /// After an `Execute` just decoded from `chunk`: unless the client's next message is `Sync`
    /// or `Flush`, forwards `chunk` up to the end of the `Execute` and a `Flush`, and returns the
    /// new cut. The client's own bytes are unchanged and in order; the server answers `Flush`
    /// with nothing.
    fn flush_after_execute(&mut self, chunk: &Bytes, cut: usize, out: &mut Output) -> usize {
        use pgscope_protocol::tag::frontend::{FLUSH, SYNC};
        let Some(end) = chunk.len().checked_sub(self.client.buffered()) else {
            return cut;
        };
        if end < cut || matches!(chunk.get(end), Some(&(SYNC | FLUSH))) {
            return cut;
        }
        out.to_server.push(chunk.slice(cut..end));
        out.to_server.push(Bytes::from_static(FLUSH_MESSAGE));
        end
    }

    /// Feeds a chunk read from the server.
    pub fn on_server_data(&mut self, chunk: Bytes, now: Instant, out: &mut Output) {
        if self.phase == Phase::Closed {
            return;
        }
        let Some(filter) = self.auth.as_mut() else {
            return self.server_chunk(chunk, now, out);
        };
        let filtered = filter.on_server(&chunk);
        if filtered.done {
            self.auth = None;
        }
        for piece in filtered.pass {
            self.server_chunk(piece, now, out);
        }
    }

    fn server_chunk(&mut self, chunk: Bytes, now: Instant, out: &mut Output) {
        if self.server_framed && !self.replication {
            self.server.push(chunk.clone());
            loop {
                match self.server.next() {
                    Ok(Some(decoded)) => {
                        if !self.observing {
                            continue;
                        }
                        if let Err(error) = self.on_server_message(&decoded, now, out) {
                            self.stop_observing(&error);
                        }
                    }
                    Ok(None) => break,
                    Err(error) => {
                        self.server_framed = false;
                        self.stop_observing(&error);
                        break;
                    }
                }
            }
        }
        out.to_client.push(chunk);
    }

    /// Whether an `ErrorResponse` written to the client now would land at a message boundary.
    pub fn client_stream_at_boundary(&self) -> bool {
        self.server_framed && self.server.at_boundary()
    }

    /// One client message, decoded once: the session reads what concerns it (`Terminate`) and
    /// hands the same view to the tracker. Returns whether it was an `Execute`.
    fn on_client_message(
        &mut self,
        decoded: &Decoded,
        now: Instant,
        out: &mut Output,
    ) -> Result<bool, ProtocolError> {
        if let Some(session) = self.capture {
            self.capture_message(session, decoded, now, out);
        }
        let message = match decoded {
            // A captured connection's decoder keeps every body: the bodies the tracker does not
            // read stay unread, exactly as on a connection that is not captured.
            Decoded::Frame(frame)
                if self.capture.is_some() && !tracker::client_wants_body(frame.tag) =>
            {
                FrontendMessage::unread(frame.tag, frame.len_field())
            }
            _ => FrontendMessage::decode(decoded)?,
        };
        if matches!(message, FrontendMessage::Terminate) {
            self.terminating = true;
        }
        if self.observing {
            self.tracker
                .on_client(&message, &self.connection, now, &mut out.events);
        }
        Ok(matches!(message, FrontendMessage::Execute { .. }))
    }

    /// One server message, decoded once: the session reads what concerns it (cancel key,
    /// parameters, COPY-in, a FATAL error) and hands the same view to the tracker.
    fn on_server_message(
        &mut self,
        decoded: &Decoded,
        now: Instant,
        out: &mut Output,
    ) -> Result<(), ProtocolError> {
        let message = BackendMessage::decode(decoded)?;
        match &message {
            BackendMessage::CommandComplete { .. } | BackendMessage::ReadyForQuery { .. } => {
                self.copy_in = false;
            }
            BackendMessage::ErrorResponse(fields) => {
                self.copy_in = false;
                if matches!(fields.severity(), Some(b"FATAL" | b"PANIC")) {
                    self.server_said_fatal = true;
                }
            }
            BackendMessage::CopyInResponse { .. } => self.copy_in = true,
            BackendMessage::BackendKeyData { pid, key } => {
                self.backend_key = Some((*pid, Bytes::copy_from_slice(key)));
            }
            BackendMessage::ParameterStatus { name, value } => {
                self.on_parameter_status(decoded, name, value);
            }
            _ => {}
        }
        self.tracker
            .on_server(&message, &self.connection, now, &mut out.events);
        Ok(())
    }

    /// `ParameterStatus`: kept for a capture until the first `ReadyForQuery`; the settings that
    /// change how statements are read or labelled are followed.
    fn on_parameter_status(&mut self, decoded: &Decoded, name: &[u8], value: &[u8]) {
        if let Decoded::Frame(frame) = decoded {
            if self.tracker.transaction_status().is_none()
                && self.server_parameters.len() < MAX_SERVER_PARAMETERS
            {
                self.server_parameters
                    .push(Bytes::copy_from_slice(frame.body()));
            }
        }
        match name {
            b"standard_conforming_strings" => self
                .tracker
                .set_conforming_strings(ConformingStrings::from_parameter(value)),
            b"application_name" => {
                let app = pgscope_protocol::text::lossy(value);
                if *app != *self.connection.application_name {
                    let mut info = (*self.connection).clone();
                    info.application_name = Arc::from(app.as_ref());
                    self.connection = Arc::new(info);
                }
            }
            _ => {}
        }
    }

    /// A client message broke the protocol: FATAL 08P01 to the client, close everything.
    fn refuse_client(&mut self, error: &ProtocolError, out: &mut Output) {
        log::warn!(
            "closing client connection (user {:?}, database {:?}): {error}",
            self.connection.user,
            self.connection.database
        );
        if self.client_stream_at_boundary() {
            out.to_client.push(encode::backend::error_response(
                "FATAL",
                "08P01",
                &format!("pgscope: invalid message from client: {error}"),
            ));
        }
        out.action = Some(Action::Close);
        self.phase = Phase::Closed;
    }

    /// The server's stream could not be followed: keep forwarding, stop tracking.
    fn stop_observing(&mut self, error: &dyn std::fmt::Display) {
        log::warn!("no longer observing this connection's queries: {error}");
        self.observing = false;
        self.tracker.clear();
    }
}
