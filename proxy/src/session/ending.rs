//! How a session ends: the client or the server closing, the upstream unreachable, shutdown,
//! or a startup that took too long. Each prepares what the client is told (always at a message
//! boundary) and what the driver does next.

use std::time::Instant;

use pgscope_protocol::encode;

use super::{Action, Output, Phase, Session};

impl Session {
    /// The connection was still authenticating when a newer one took its place among those in
    /// startup (`max_startup_connections`): FATAL 53300, and a `Terminate` for the server.
    pub fn on_startup_evicted(&mut self, out: &mut Output) {
        if self.client_stream_at_boundary() {
            out.to_client.push(encode::backend::error_response(
                "FATAL",
                "53300",
                "pgscope: too many connections still starting up; this was the oldest",
            ));
        }
        out.to_server.push(encode::frontend::terminate());
        out.action = Some(Action::Close);
        self.phase = Phase::Closed;
    }

    /// The client closed its connection (or its socket failed). Requests in flight are resolved
    /// as skipped. If any were in flight, the returned action cancels them upstream so the
    /// backend does not keep running a query nobody will read.
    pub fn on_client_closed(&mut self, now: Instant, out: &mut Output) {
        let had_in_flight = self.tracker.in_flight() > 0;
        self.tracker.abandon(&self.connection, now, &mut out.events);
        if self.phase == Phase::Running && had_in_flight && !self.terminating {
            if let Some((pid, key)) = &self.backend_key {
                out.action = Some(Action::Cancel(encode::frontend::cancel_request(*pid, key)));
            }
        }
        self.phase = Phase::Closed;
    }

    /// The server closed its connection (or its socket failed). Unless the client asked for it
    /// (`Terminate`) or the server announced it with a FATAL error of its own (a failed
    /// password, an administrator's `pg_terminate_backend`), the client is told with a FATAL `ErrorResponse` (SQLSTATE 08006) — but
    /// only at a message boundary, where it cannot corrupt a message already half forwarded.
    pub fn on_server_closed(&mut self, upstream: &str, now: Instant, out: &mut Output) {
        self.tracker.abandon(&self.connection, now, &mut out.events);
        if self.phase == Phase::Running
            && !self.terminating
            && !self.server_said_fatal
            && self.client_stream_at_boundary()
        {
            out.to_client.push(encode::backend::error_response(
                "FATAL",
                "08006",
                &format!(
                    "pgscope: the upstream server {upstream} closed the connection unexpectedly"
                ),
            ));
        }
        out.action = Some(Action::Close);
        self.phase = Phase::Closed;
    }

    /// The upstream connection could not be opened: the client gets a FATAL `ErrorResponse`
    /// (SQLSTATE 08006) naming the upstream and the reason.
    pub fn on_connect_failed(&mut self, upstream: &str, reason: &str, out: &mut Output) {
        out.to_client.push(encode::backend::error_response(
            "FATAL",
            "08006",
            &format!("pgscope: could not connect to upstream server {upstream}: {reason}"),
        ));
        out.action = Some(Action::Close);
        self.phase = Phase::Closed;
    }

    /// Whether the connection is idle: past authentication, no request in flight and no
    /// transaction open. Shutdown closes idle connections only.
    pub fn is_idle(&self) -> bool {
        self.phase == Phase::Running
            && self.tracker.in_flight() == 0
            && self.tracker.transaction_status() == Some(b'I')
    }

    /// pgscope is shutting down and the connection is idle: the client is told why (FATAL
    /// 57P01, as PostgreSQL's own shutdown does) and the server gets a `Terminate`.
    pub fn on_shutdown(&mut self, out: &mut Output) {
        if self.client_stream_at_boundary() {
            out.to_client.push(encode::backend::error_response(
                "FATAL",
                "57P01",
                "pgscope: terminating connection because the proxy is shutting down",
            ));
        }
        out.to_server.push(encode::frontend::terminate());
        out.action = Some(Action::Close);
        self.phase = Phase::Closed;
    }

    /// The client's startup (authentication included) took longer than allowed: the client is
    /// told as PostgreSQL tells it (FATAL 57014, "canceling authentication due to timeout").
    pub fn on_startup_timeout(&mut self, out: &mut Output) {
        if self.client_stream_at_boundary() {
            out.to_client.push(encode::backend::error_response(
                "FATAL",
                "57014",
                "pgscope: canceling authentication due to timeout",
            ));
        }
        out.to_server.push(encode::frontend::terminate());
        out.action = Some(Action::Close);
        self.phase = Phase::Closed;
    }
}
