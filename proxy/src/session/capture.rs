//! The session's part in a traffic capture: at the first `ReadyForQuery` the capture decides
//! whether this connection is in it; from then on the client decoder keeps every body (the
//! capture records each message whole) and the session says when it ends.

use std::sync::Arc;
use std::time::Instant;

use pgscope_protocol::frame::HEADER_LEN;
use pgscope_protocol::Decoded;

use super::{Output, Session};
use crate::observer::{ClientMessage, Event};

/// A captured connection's decoder keeps every body.
fn every_body(_tag: u8) -> bool {
    true
}

impl Session {
    /// Called once, at the server's first `ReadyForQuery`: with `Some(id)` the connection is
    /// captured from now on under session id `id` ([`Event::SessionCaptured`] is emitted; the
    /// client's messages follow as [`Event::ClientMessage`]s); with `None` what was kept for a
    /// capture is released.
    pub fn on_ready_for_capture(
        &mut self,
        id: Option<u64>,
        connected: Instant,
        now: Instant,
        out: &mut Output,
    ) {
        let server_parameters = std::mem::take(&mut self.server_parameters);
        let startup = std::mem::take(&mut self.startup_packet);
        let Some(id) = id.filter(|_| !self.replication) else {
            return;
        };
        self.capture = Some(id);
        self.client.set_wants_body(every_body);
        let mut info = (*self.connection).clone();
        info.capture = Some(id);
        self.connection = Arc::new(info);
        out.events
            .push(Event::SessionCaptured(crate::observer::SessionCaptured {
                connection: Arc::clone(&self.connection),
                startup,
                server_parameters,
                backend_key: self.backend_key.clone(),
                connected,
                at: now,
            }));
    }

    /// A captured client message, whole ([`Event::ClientMessage`]).
    pub(super) fn capture_message(
        &self,
        session: u64,
        decoded: &Decoded,
        now: Instant,
        out: &mut Output,
    ) {
        let (tag, body) = match decoded {
            Decoded::Frame(frame) => (frame.tag, Some(frame.bytes.slice(HEADER_LEN..))),
            Decoded::Skipped { tag, .. } => (*tag, None),
        };
        out.events.push(Event::ClientMessage(ClientMessage {
            session,
            tag,
            body,
            at: now,
            strings: self.tracker.strings_now(),
        }));
    }

    /// The connection is over: a captured one says so ([`Event::SessionEnded`]).
    pub fn end_capture(&mut self, now: Instant, out: &mut Output) {
        if let Some(session) = self.capture.take() {
            out.events.push(Event::SessionEnded { session, at: now });
        }
    }
}
