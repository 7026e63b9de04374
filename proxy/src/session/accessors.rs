//! What the driver learns from the session and tells it besides bytes: TLS on either side,
//! readiness, the connection's labels, the cancel key, COPY-in and requests in flight.

use std::sync::Arc;

use bytes::Bytes;

use super::{Phase, Session};
use crate::observer::ConnectionInfo;

impl Session {
    /// The TLS handshake with the client succeeded: what follows is encrypted.
    pub fn on_client_tls(&mut self) {
        self.client_tls = true;
    }

    /// Whether the client connection is TLS.
    pub fn client_tls(&self) -> bool {
        self.client_tls
    }

    /// The upstream connection is open; `tls` says whether it is encrypted, in which case the
    /// SCRAM filter ([`auth`](super::auth)) watches authentication.
    pub fn on_upstream_connected(&mut self, tls: bool) {
        self.auth = (tls && !self.replication).then(Box::default);
    }

    /// Whether the server has said `ReadyForQuery` at least once (startup is over). Replication
    /// connections are not followed, so they count as ready once forwarded.
    pub fn is_ready(&self) -> bool {
        self.replication || self.tracker.transaction_status().is_some()
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The connection's labels (database, user, application name).
    pub fn connection(&self) -> &Arc<ConnectionInfo> {
        &self.connection
    }

    /// Whether this is a replication connection (forwarded, never recorded).
    pub fn is_replication(&self) -> bool {
        self.replication
    }

    /// The server's cancel key (process id and secret), once its `BackendKeyData` arrived.
    pub fn backend_key(&self) -> Option<(u32, &Bytes)> {
        self.backend_key.as_ref().map(|(pid, key)| (*pid, key))
    }

    /// Whether the server is in COPY FROM STDIN, waiting for the client's data: it sent
    /// `CopyInResponse` and no `CommandComplete`, `ErrorResponse` or `ReadyForQuery` since.
    pub fn copy_in(&self) -> bool {
        self.copy_in
    }

    /// Number of requests sent upstream whose responses have not all arrived.
    pub fn in_flight(&self) -> usize {
        self.tracker.in_flight()
    }
}
