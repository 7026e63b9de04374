//! What feeding the session produces: bytes for each side, events, and at most one action for
//! the driver (the pump, or the replay) to take.

use bytes::Bytes;

use crate::event::Event;

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

/// The result of feeding the session: bytes to write, events, and at most one action.
#[derive(Debug, Default)]
pub struct Output {
    /// Bytes for the client, in order.
    pub to_client: Vec<Bytes>,
    /// Bytes for the upstream server, in order.
    pub to_server: Vec<Bytes>,
    /// Events, in the order they happened.
    pub events: Vec<Event>,
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
