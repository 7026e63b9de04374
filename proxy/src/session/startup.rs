//! The startup phase: untagged packets before the upstream connection exists.
//!
//! PostgreSQL clients open with one of four packets. pgscope answers `SSLRequest` itself, as
//! PostgreSQL would: `S` and a TLS handshake when `[tls]` is configured (the pump runs the
//! handshake; bytes sent in the clear after the request are refused, as PostgreSQL 14+ refuses
//! them), `N` otherwise, which makes `sslmode=prefer` clients carry on in the clear exactly as
//! against a server without TLS. `GSSENCRequest` always gets `N`. With `tls.mode = require` a
//! plaintext `StartupMessage` is refused with FATAL 28000, as a `hostssl`-only `pg_hba.conf`
//! would refuse it. A `CancelRequest` is forwarded byte for byte on a fresh upstream
//! connection: its key was issued by the server in `BackendKeyData`, which pgscope passed through
//! unchanged, so the server recognises it (keys are variable-length since protocol 3.2). A
//! `StartupMessage` is forwarded unchanged and its parameters label the connection's queries.

use std::sync::Arc;

use bytes::BytesMut;
use pgscope_protocol::encode;
use pgscope_protocol::startup::{parse_startup, StartupPacket};

use super::{Action, Output, Phase, Session};
use crate::observer::ConnectionInfo;
use pgscope_config::TlsMode;

/// The answer to `SSLRequest` and `GSSENCRequest`: encryption not supported.
const REFUSE_ENCRYPTION: &[u8] = b"N";
/// The answer to `SSLRequest` when TLS is configured: go ahead with the handshake.
const ACCEPT_TLS: &[u8] = b"S";

/// Ends the startup with a FATAL error.
fn refuse(session: &mut Session, out: &mut Output, sqlstate: &str, message: &str) {
    out.to_client
        .push(encode::backend::error_response("FATAL", sqlstate, message));
    out.action = Some(Action::Close);
    session.phase = Phase::Closed;
}

pub(super) fn on_client_startup(session: &mut Session, buf: &mut BytesMut, out: &mut Output) {
    while session.phase == Phase::Startup {
        let (packet, raw) = match parse_startup(buf, &session.config.limits) {
            Ok(Some(parsed)) => parsed,
            Ok(None) => return,
            Err(error) => {
                log::warn!("refusing client: bad startup packet: {error}");
                out.to_client.push(encode::backend::error_response(
                    "FATAL",
                    "08P01",
                    &format!("pgscope: invalid startup packet: {error}"),
                ));
                out.action = Some(Action::Close);
                session.phase = Phase::Closed;
                return;
            }
        };
        match packet {
            StartupPacket::SslRequest if session.client_tls => {
                // PostgreSQL treats a second request as an unknown protocol version.
                refuse(
                    session,
                    out,
                    "0A000",
                    "unsupported frontend protocol 1234.5679: server supports 3.0 to 3.0",
                );
                return;
            }
            StartupPacket::SslRequest if session.config.client_tls != TlsMode::Disable => {
                out.to_client.push(bytes::Bytes::from_static(ACCEPT_TLS));
                if !buf.is_empty() {
                    // Sent before the handshake, so unencrypted: maybe injected on the way.
                    refuse(
                        session,
                        out,
                        "08P01",
                        "received unencrypted data after SSL request",
                    );
                    return;
                }
                out.action = Some(Action::StartTls);
                return;
            }
            StartupPacket::SslRequest | StartupPacket::GssEncRequest => {
                out.to_client
                    .push(bytes::Bytes::from_static(REFUSE_ENCRYPTION));
            }
            StartupPacket::Startup(_)
                if session.config.client_tls == TlsMode::Require && !session.client_tls =>
            {
                log::info!("refusing a plaintext client: tls.mode = require");
                refuse(
                    session,
                    out,
                    "28000",
                    "pgscope requires TLS: connect with sslmode=require (or verify-ca, \
                     verify-full)",
                );
                return;
            }
            StartupPacket::Cancel(_) => {
                out.action = Some(Action::Cancel(raw));
                session.phase = Phase::Closed;
            }
            StartupPacket::Startup(message) => {
                let text = |name: &str| {
                    message
                        .param(name)
                        .map(|v| Arc::<str>::from(&*pgscope_protocol::text::lossy(v)))
                };
                let user = text("user").unwrap_or_default();
                // PostgreSQL's default database is the user name.
                let database = text("database")
                    .filter(|d| !d.is_empty())
                    .unwrap_or_else(|| user.clone());
                let application_name = text("application_name").unwrap_or_default();
                session.replication = text("replication").is_some_and(|r| {
                    !matches!(
                        r.to_ascii_lowercase().as_str(),
                        "false" | "off" | "no" | "0"
                    )
                });
                session.connection = Arc::new(ConnectionInfo {
                    database,
                    user,
                    application_name,
                    capture: None,
                });
                session.startup_packet = raw.clone();
                out.to_server.push(raw);
                out.action = Some(Action::Connect);
                session.phase = Phase::Running;
            }
        }
    }
}
