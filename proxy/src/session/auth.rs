//! SCRAM over two TLS connections: the one message pgscope rewrites, and the one combination it
//! must refuse.
//!
//! Channel binding (`SCRAM-SHA-256-PLUS`) binds the SCRAM proof to the server's TLS certificate.
//! Through a proxy the client's TLS ends at pgscope, so it binds to pgscope's certificate and
//! the server, which sees its own, rejects the proof: binding cannot span a proxy. And libpq
//! refuses a plaintext connection on which the server offers PLUS ("server offered
//! SCRAM-SHA-256-PLUS authentication over a non-SSL connection"). So while the upstream
//! connection is TLS, this filter:
//!
//! 1. removes `SCRAM-SHA-256-PLUS` from the server's `AuthenticationSASL` list before it reaches
//!    the client (the length field is rewritten with it): plaintext clients and
//!    `channel_binding=disable` clients then use plain SCRAM-SHA-256, which passes through;
//! 2. reads the client's `SASLInitialResponse`: a TLS client with `channel_binding=prefer` sends
//!    the gs2 flag `y` ("I could bind, but you offered no binding"), which a TLS server rejects
//!    as a downgrade attack with a cryptic error, and which the client's proof covers, so it
//!    cannot be rewritten. The filter answers it at once with FATAL 28000 and a hint to add
//!    `channel_binding=disable` to the connection URL.
//!
//! The filter holds back only whole messages of the authentication exchange (at most a few
//! hundred bytes) and steps aside at `AuthenticationOk` or an `ErrorResponse`, after which
//! chunks flow through the session untouched again.

use bytes::{Bytes, BytesMut};
use pgscope_protocol::backend::{Authentication, BackendMessage};
use pgscope_protocol::frame::{Frame, HEADER_LEN};
use pgscope_protocol::frontend::parse_sasl_initial_response;
use pgscope_protocol::{encode, tag};

/// The mechanism removed from the server's list.
const PLUS: &[u8] = b"SCRAM-SHA-256-PLUS";
/// Longest authentication message the filter holds back; a longer one ends filtering (no
/// real server or client sends one).
const MAX_HELD: usize = 64 * 1024;

/// What the filter made of the bytes it was given.
#[derive(Debug, Default)]
pub(super) struct Filtered {
    /// Whole messages (or, once the filter is done, raw bytes) to pass on, in order.
    pub(super) pass: Vec<Bytes>,
    /// The filter is finished: later chunks need not go through it.
    pub(super) done: bool,
    /// The client must be refused with this message (the filter is then done too).
    pub(super) refuse: Option<Bytes>,
}

/// The authentication filter of one connection whose upstream is TLS. See the module docs.
#[derive(Debug, Default)]
pub(super) struct AuthFilter {
    server: BytesMut,
    client: BytesMut,
    /// The server offered SASL: the client's next message is its SASLInitialResponse.
    expect_initial: bool,
}

impl AuthFilter {
    /// Takes a chunk from the server.
    pub(super) fn on_server(&mut self, chunk: &[u8]) -> Filtered {
        self.server.extend_from_slice(chunk);
        let mut out = Filtered::default();
        while let Some(message) = take_message(&mut self.server) {
            let Ok(message) = message else {
                out.done = true;
                break;
            };
            let mut forward = message.clone();
            if message.first() == Some(&tag::backend::AUTHENTICATION) {
                let frame = Frame {
                    tag: tag::backend::AUTHENTICATION,
                    bytes: message,
                };
                match BackendMessage::parse(&frame) {
                    Ok(BackendMessage::Authentication(auth @ Authentication::Sasl { .. })) => {
                        let kept: Vec<&str> = auth
                            .mechanisms()
                            .filter(|name| *name != PLUS)
                            .filter_map(|name| std::str::from_utf8(name).ok())
                            .collect();
                        forward = encode::backend::auth_sasl(&kept);
                        self.expect_initial = true;
                    }
                    Ok(BackendMessage::Authentication(Authentication::Ok)) => out.done = true,
                    _ => {}
                }
            } else if message.first() == Some(&tag::backend::ERROR_RESPONSE) {
                out.done = true;
            }
            out.pass.push(forward);
            if out.done {
                break;
            }
        }
        if out.done && !self.server.is_empty() {
            out.pass.push(self.server.split().freeze());
        }
        out
    }

    /// Takes a chunk from the client.
    pub(super) fn on_client(&mut self, chunk: Bytes) -> Filtered {
        let mut out = Filtered::default();
        if !self.expect_initial {
            out.pass.push(chunk);
            return out;
        }
        self.client.extend_from_slice(&chunk);
        let Some(message) = take_message(&mut self.client) else {
            return out;
        };
        self.expect_initial = false;
        match message {
            Ok(message) if message.first() == Some(&tag::frontend::AUTH_RESPONSE) => {
                let body = message.get(HEADER_LEN..).unwrap_or_default();
                let binds = parse_sasl_initial_response(body)
                    .ok()
                    .and_then(|initial| initial.data)
                    .is_some_and(|data| data.starts_with(b"y,"));
                if binds {
                    out.refuse = Some(channel_binding_refusal());
                    out.done = true;
                    return out;
                }
                out.pass.push(message);
            }
            Ok(message) => out.pass.push(message),
            Err(()) => {}
        }
        if !self.client.is_empty() {
            out.pass.push(self.client.split().freeze());
        }
        out
    }
}

/// Splits the first whole message off `buf`: `None` if incomplete, `Err` if its length is
/// invalid or too long to hold (then `buf` is left for the caller to pass on as it is).
fn take_message(buf: &mut BytesMut) -> Option<Result<Bytes, ()>> {
    let header = buf.get(..HEADER_LEN)?;
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if !(4..=MAX_HELD).contains(&len) {
        return Some(Err(()));
    }
    if buf.len() < len + 1 {
        return None;
    }
    let message = buf.split_to(len + 1).freeze();
    Some(Ok(message))
}

/// FATAL 28000 for a TLS client whose libpq would bind the channel (`channel_binding=prefer`).
fn channel_binding_refusal() -> Bytes {
    encode::backend::error_response_fields(&[
        (b'S', "FATAL"),
        (b'V', "FATAL"),
        (b'C', "28000"),
        (
            b'M',
            "pgscope: SCRAM channel binding cannot pass through a proxy, and this client \
             announced it would use it (channel_binding=prefer over TLS to pgscope, TLS to \
             the server)",
        ),
        (
            b'H',
            "Add channel_binding=disable to the connection URL (or connect to pgscope without \
             TLS).",
        ),
    ])
}
