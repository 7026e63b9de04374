//! Opening a replay connection: TLS as the target URL says (the proxy's own
//! [`UpstreamConnector`], so `sslmode` and the certificate checks behave as they do upstream),
//! the startup packet, and authentication with the `postgres-protocol` crate's SCRAM-SHA-256
//! and md5 — pgscope writes no cryptography of its own.

use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use pgscope_protocol::backend::{Authentication, BackendMessage, ErrorFields};
use pgscope_protocol::encode::frontend as enc;
use pgscope_protocol::frame::HEADER_LEN;
use pgscope_protocol::Frame;
use postgres_protocol::authentication::md5_hash;
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256, SCRAM_SHA_256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::ReplayError;
use crate::tls::{ServerStream, UpstreamConnector};

/// Longest the server may take over authentication.
pub(crate) const AUTH_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest a side query (the stall check's look at `pg_stat_activity`) may take.
pub(crate) const QUERY_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest authentication message accepted.
const MAX_AUTH_MESSAGE: usize = 1 << 20;

/// Who a replayed session connects as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Login {
    /// The `user` startup parameter.
    pub(crate) user: String,
    /// The `database` startup parameter.
    pub(crate) database: String,
    /// The `application_name` startup parameter (not sent when empty).
    pub(crate) application: String,
    /// The password, when one is known.
    pub(crate) password: Option<String>,
    /// `--read-only`: the session starts with `default_transaction_read_only = on`, so the
    /// server itself refuses a write the statement filter could not see.
    pub(crate) read_only: bool,
}

impl Login {
    /// The startup packet.
    pub(crate) fn startup(&self) -> Bytes {
        let mut params = vec![
            ("user", self.user.as_str()),
            ("database", self.database.as_str()),
        ];
        if !self.application.is_empty() {
            params.push(("application_name", self.application.as_str()));
        }
        if self.read_only {
            params.push(("options", "-c default_transaction_read_only=on"));
        }
        enc::startup((3, 0), &params)
    }
}

/// An authenticated connection and what the server sent after `AuthenticationOk`
/// (`ParameterStatus`, `BackendKeyData`, `ReadyForQuery`, …), not yet looked at.
pub(crate) struct Opened {
    /// The connection.
    pub(crate) stream: ServerStream,
    /// Bytes read after `AuthenticationOk`.
    pub(crate) rest: Bytes,
}

/// Connects and authenticates as `login`.
pub(crate) async fn open(
    connector: &UpstreamConnector,
    login: &Login,
) -> Result<Opened, ReplayError> {
    let mut stream = connector
        .connect()
        .await
        .map_err(|e| ReplayError::Connect(format!("{}: {}", connector.label(), e.reason)))?;
    let opened = tokio::time::timeout(AUTH_TIMEOUT, async {
        stream.write_all(&login.startup()).await?;
        let rest = authenticate(&mut stream, login).await?;
        Ok::<_, ReplayError>(rest)
    })
    .await
    .map_err(|_| ReplayError::Connect(format!("authentication took over {AUTH_TIMEOUT:?}")))??;
    Ok(Opened {
        stream,
        rest: opened,
    })
}

/// Why the server closed a session after authenticating it, from what it sent before closing:
/// its ErrorResponse (FATAL 3D000 for a missing database, 53300 for too many clients), or a
/// plain close.
pub(crate) fn refusal(early: &[u8]) -> ReplayError {
    let mut buf = BytesMut::from(early);
    while let Ok(Some(frame)) = take_message(&mut buf) {
        if let Ok(BackendMessage::ErrorResponse(fields)) = BackendMessage::parse(&frame) {
            return refused(&fields);
        }
    }
    ReplayError::Connect("the server closed the connection before it was ready".into())
}

/// The session refused by the server's ErrorResponse.
fn refused(fields: &ErrorFields<'_>) -> ReplayError {
    ReplayError::Refused {
        sqlstate: fields
            .sqlstate()
            .map(|code| String::from_utf8_lossy(&code).into_owned())
            .unwrap_or_default(),
        message: fields
            .message()
            .map(|m| String::from_utf8_lossy(m).into_owned())
            .unwrap_or_default(),
    }
}

/// Splits the first whole message off `buf`.
fn take_message(buf: &mut BytesMut) -> Result<Option<Frame>, ReplayError> {
    let Some(header) = buf.get(..HEADER_LEN) else {
        return Ok(None);
    };
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if !(4..=MAX_AUTH_MESSAGE).contains(&len) {
        return Err(ReplayError::Connect(format!(
            "the server sent a message of invalid length {len} during authentication"
        )));
    }
    if buf.len() < len + 1 {
        return Ok(None);
    }
    let bytes = buf.split_to(len + 1).freeze();
    Ok(Some(Frame {
        tag: bytes[0],
        bytes,
    }))
}

/// Answers the server's authentication requests until `AuthenticationOk`; returns what was
/// read after it.
async fn authenticate(stream: &mut ServerStream, login: &Login) -> Result<Bytes, ReplayError> {
    let mut buf = BytesMut::with_capacity(4096);
    let mut scram: Option<ScramSha256> = None;
    let password = || {
        login.password.as_deref().ok_or_else(|| {
            ReplayError::Connect(format!(
                "the server asks a password for user {:?} and none was given (in the target \
                 URL, PGPASSWORD or the password file)",
                login.user
            ))
        })
    };
    loop {
        let Some(frame) = take_message(&mut buf)? else {
            if stream.read_buf(&mut buf).await? == 0 {
                return Err(ReplayError::Connect(
                    "the server closed the connection during authentication".into(),
                ));
            }
            continue;
        };
        let message = BackendMessage::parse(&frame)
            .map_err(|e| ReplayError::Connect(format!("during authentication: {e}")))?;
        let reply = match message {
            BackendMessage::ErrorResponse(fields) => return Err(refused(&fields)),
            BackendMessage::Authentication(Authentication::Ok) => {
                let rest = buf.split().freeze();
                return Ok(rest);
            }
            BackendMessage::Authentication(Authentication::CleartextPassword) => {
                enc::password(password()?)
            }
            BackendMessage::Authentication(Authentication::Md5Password { salt }) => {
                let hash = md5_hash(login.user.as_bytes(), password()?.as_bytes(), salt);
                enc::password(&hash)
            }
            BackendMessage::Authentication(auth @ Authentication::Sasl { .. }) => {
                if !auth.mechanisms().any(|m| m == SCRAM_SHA_256.as_bytes()) {
                    return Err(ReplayError::Connect(
                        "the server offers no SASL mechanism pgscope supports (SCRAM-SHA-256)"
                            .into(),
                    ));
                }
                let client =
                    ScramSha256::new(password()?.as_bytes(), ChannelBinding::unsupported());
                let message = enc::sasl_initial_response(SCRAM_SHA_256, Some(client.message()));
                scram = Some(client);
                message
            }
            BackendMessage::Authentication(Authentication::SaslContinue { data }) => {
                let client = scram.as_mut().ok_or_else(|| {
                    ReplayError::Connect("SASL continuation before SASL start".into())
                })?;
                client
                    .update(data)
                    .map_err(|e| ReplayError::Connect(format!("SCRAM: {e}")))?;
                enc::sasl_response(client.message())
            }
            BackendMessage::Authentication(Authentication::SaslFinal { data }) => {
                scram
                    .as_mut()
                    .ok_or_else(|| ReplayError::Connect("SASL final before SASL start".into()))?
                    .finish(data)
                    .map_err(|e| ReplayError::Connect(format!("SCRAM: {e}")))?;
                continue;
            }
            BackendMessage::Authentication(other) => {
                return Err(ReplayError::Connect(format!(
                    "the server asks for an authentication method pgscope does not support \
                     ({other:?})"
                )))
            }
            // NegotiateProtocolVersion and notices may come before the outcome.
            _ => continue,
        };
        stream.write_all(&reply).await?;
        stream.flush().await?;
    }
}

/// Sends a `CancelRequest` for the backend `pid` with `key` on a fresh connection.
pub(crate) async fn cancel(
    connector: &UpstreamConnector,
    pid: u32,
    key: &[u8],
) -> Result<(), ReplayError> {
    let mut stream = connector
        .connect()
        .await
        .map_err(|e| ReplayError::Connect(e.reason))?;
    stream.write_all(&enc::cancel_request(pid, key)).await?;
    stream.flush().await?;
    // The server closes the connection once it has read the request.
    let mut sink = [0u8; 64];
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut sink)).await;
    Ok(())
}

/// Runs a simple query on a fresh connection as `login` and returns the first column of the
/// first row (`None` for no row or NULL). A server that has not answered within `timeout`
/// (connection and authentication included) is an error, never a hang.
pub(crate) async fn query_one(
    connector: &UpstreamConnector,
    login: &Login,
    sql: &str,
    timeout: Duration,
) -> Result<Option<String>, ReplayError> {
    tokio::time::timeout(timeout, query_one_unbounded(connector, login, sql))
        .await
        .unwrap_or_else(|_| {
            Err(ReplayError::Connect(format!(
                "{}: no answer to {sql:?} within {timeout:?}",
                connector.label()
            )))
        })
}

async fn query_one_unbounded(
    connector: &UpstreamConnector,
    login: &Login,
    sql: &str,
) -> Result<Option<String>, ReplayError> {
    let Opened { mut stream, rest } = open(connector, login).await?;
    stream.write_all(&enc::query(sql)).await?;
    stream.write_all(&enc::terminate()).await?;
    stream.flush().await?;
    let mut buf = BytesMut::from(&rest[..]);
    let mut value = None;
    let mut seen_row = false;
    // The first ReadyForQuery ends the startup; the second answers the query.
    let mut ready = 0;
    loop {
        let Some(frame) = take_message(&mut buf)? else {
            if stream.read_buf(&mut buf).await? == 0 {
                return Ok(value);
            }
            continue;
        };
        match frame.tag {
            b'D' if !seen_row => {
                seen_row = true;
                value = first_column(frame.body());
            }
            b'E' => {
                let message = BackendMessage::parse(&frame)
                    .ok()
                    .and_then(|m| match m {
                        BackendMessage::ErrorResponse(fields) => fields
                            .message()
                            .map(|m| String::from_utf8_lossy(m).into_owned()),
                        _ => None,
                    })
                    .unwrap_or_default();
                return Err(ReplayError::Connect(message));
            }
            b'Z' => {
                ready += 1;
                if ready == 2 {
                    return Ok(value);
                }
            }
            _ => {}
        }
    }
}

/// The first value of a `DataRow` body, as text.
fn first_column(mut body: &[u8]) -> Option<String> {
    if body.remaining() < 6 || body.get_i16() < 1 {
        return None;
    }
    let len = body.get_i32();
    let len = usize::try_from(len).ok()?;
    body.get(..len)
        .map(|value| String::from_utf8_lossy(value).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_column_of_a_data_row_is_read_and_null_is_none() {
        let row = pgscope_protocol::encode::backend::data_row(&[Some(b"Lock"), Some(b"x")]);
        assert_eq!(first_column(&row[HEADER_LEN..]).as_deref(), Some("Lock"));
        let null = pgscope_protocol::encode::backend::data_row(&[None]);
        assert_eq!(first_column(&null[HEADER_LEN..]), None);
    }

    /// A server that authenticates the session, then reads the query and never answers.
    #[tokio::test]
    async fn a_side_query_the_server_never_answers_fails_after_its_timeout() {
        use pgscope_protocol::encode::backend as be;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut sink = vec![0u8; 4096];
            let _ = socket.read(&mut sink).await;
            socket.write_all(&be::auth_ok()).await.unwrap();
            socket.write_all(&be::ready_for_query(b'I')).await.unwrap();
            // Hold the connection open without a word until the client goes away.
            while socket.read(&mut sink).await.is_ok_and(|n| n > 0) {}
        });
        let target = pgscope_config::Target::parse(&format!(
            "postgres://u@127.0.0.1:{port}/db?sslmode=disable"
        ))
        .unwrap();
        let connector = UpstreamConnector::new(&target.upstream, Duration::from_secs(5)).unwrap();
        let login = Login {
            user: "u".into(),
            database: "db".into(),
            application: String::new(),
            password: None,
            read_only: false,
        };
        let started = std::time::Instant::now();
        let error = query_one(&connector, &login, "SELECT 1", Duration::from_millis(300))
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(
            error
                .to_string()
                .contains("no answer to \"SELECT 1\" within 300ms"),
            "{error}"
        );
        server.abort();
    }

    #[test]
    fn the_startup_packet_carries_the_captured_labels() {
        let login = Login {
            user: "alice".into(),
            database: "shop".into(),
            application: "billing".into(),
            password: None,
            read_only: false,
        };
        let packet = login.startup();
        let text = String::from_utf8_lossy(&packet);
        for part in ["user\0alice", "database\0shop", "application_name\0billing"] {
            assert!(text.contains(part), "{text:?}");
        }
    }
}
