//! The client's startup phase: reading startup packets, TLS handshakes (after `SSLRequest`, or
//! PostgreSQL 17's direct TLS) and cancel requests, until the session asks to connect upstream.
//!
//! The whole phase runs under one deadline set by the caller (`startup_timeout`), so a client
//! that trickles a startup packet byte by byte, or stalls in the handshake, cannot hold a
//! connection slot for longer than that.

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{write_all, Pump};
use crate::session::{Action, Output, Session};
use crate::stats::ProxyStats;
use crate::tls::{ClientStream, Replay, UpstreamConnector, ALPN_POSTGRESQL};

/// The first byte of a TLS handshake record: a direct-TLS client's first byte.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// How the startup phase ended.
pub(super) enum Startup<C> {
    /// The startup packet is in the session's output: connect upstream.
    Connect(ClientStream<C>),
    /// Nothing more to do with this client (cancel forwarded, refused, gone).
    Done,
}

impl Pump {
    /// Runs the startup phase on `client`; `buf` keeps bytes read past the startup packet.
    pub(super) async fn startup<C>(
        &self,
        connector: &UpstreamConnector,
        client: C,
        session: &mut Session,
        buf: &mut BytesMut,
        out: &mut Output,
    ) -> Startup<C>
    where
        C: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let mut client = ClientStream::Plain(client);
        let mut first = true;
        loop {
            match client.read_buf(buf).await {
                Ok(0) | Err(_) => return Startup::Done,
                Ok(_) => {}
            }
            if std::mem::take(&mut first) && buf.first() == Some(&TLS_HANDSHAKE_RECORD) {
                if let Some(tls) = self.direct_tls(client, buf, session).await {
                    client = tls;
                    continue;
                }
                return Startup::Done;
            }
            out.clear();
            session.on_client_startup(buf, out);
            if write_all(&mut client, &out.to_client).await.is_err() {
                return Startup::Done;
            }
            match out.action.take() {
                None => continue,
                Some(Action::StartTls) => match self.handshake(client, session).await {
                    Some(tls) => client = tls,
                    None => return Startup::Done,
                },
                Some(Action::Connect) => return Startup::Connect(client),
                Some(Action::Cancel(packet)) => {
                    self.config.capture.on_cancel(&packet);
                    self.forward_cancel(connector, packet).await;
                    let _ = client.shutdown().await;
                    return Startup::Done;
                }
                Some(Action::Close) => {
                    ProxyStats::add(&self.stats.protocol_errors, 1);
                    let _ = client.shutdown().await;
                    return Startup::Done;
                }
            }
        }
    }

    /// TLS after the client's `SSLRequest` and pgscope's `S`.
    async fn handshake<C>(
        &self,
        client: ClientStream<C>,
        session: &mut Session,
    ) -> Option<ClientStream<C>>
    where
        C: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let (ClientStream::Plain(plain), Some(tls)) = (client, &self.config.tls) else {
            return None;
        };
        match tls.acceptor().accept(plain).await {
            Ok(stream) => {
                ProxyStats::add(&self.stats.client_tls_handshakes, 1);
                session.on_client_tls();
                Some(ClientStream::Tls(Box::new(stream)))
            }
            Err(error) => {
                ProxyStats::add(&self.stats.client_tls_failures, 1);
                log::debug!("client TLS handshake failed: {error}");
                None
            }
        }
    }

    /// PostgreSQL 17's direct TLS: the client's first byte opens a handshake. As PostgreSQL
    /// does, it is accepted only when TLS is configured and the client negotiates ALPN
    /// `postgresql`; bytes read with the ClientHello are replayed into the handshake.
    async fn direct_tls<C>(
        &self,
        client: ClientStream<C>,
        buf: &mut BytesMut,
        session: &mut Session,
    ) -> Option<ClientStream<C>>
    where
        C: AsyncRead + AsyncWrite + Unpin + Send,
    {
        let (ClientStream::Plain(plain), Some(tls)) = (client, &self.config.tls) else {
            // No TLS: as PostgreSQL, the bytes are an invalid startup packet; close silently.
            ProxyStats::add(&self.stats.protocol_errors, 1);
            return None;
        };
        let replay = Replay::new(buf.split().freeze(), plain);
        let accepted = tls.acceptor().accept(replay).await;
        let mut stream = match accepted {
            Ok(stream) => stream,
            Err(error) => {
                ProxyStats::add(&self.stats.client_tls_failures, 1);
                log::debug!("client direct TLS handshake failed: {error}");
                return None;
            }
        };
        if stream.get_ref().1.alpn_protocol() != Some(ALPN_POSTGRESQL) {
            ProxyStats::add(&self.stats.client_tls_failures, 1);
            let error = pgscope_protocol::encode::backend::error_response(
                "FATAL",
                "08P01",
                "received direct SSL connection request without ALPN protocol negotiation \
                 extension",
            );
            let _ = stream.write_all(&error).await;
            let _ = stream.shutdown().await;
            return None;
        }
        ProxyStats::add(&self.stats.client_tls_handshakes, 1);
        session.on_client_tls();
        Some(ClientStream::DirectTls(Box::new(stream)))
    }
}
