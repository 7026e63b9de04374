//! pgscope as a TLS client of the upstream server, following libpq's `sslmode` semantics.
//!
//! | sslmode | TLS | certificate check |
//! |---|---|---|
//! | `disable` | never | — |
//! | `allow` | only if the server refuses the plaintext startup (the pump retries) | none |
//! | `prefer` (default) | if the server answers `S`; plaintext after `N` or a failed handshake | none |
//! | `require` | always | none, or `verify-ca` when a root certificate is given or `~/.postgresql/root.crt` exists |
//! | `verify-ca` | always | chain to a trusted root |
//! | `verify-full` | always | chain, and the certificate names the host |
//!
//! Negotiation is `SSLRequest` then the handshake after the server's `S`, or with
//! `sslnegotiation=direct` the handshake at once with ALPN `postgresql` (PostgreSQL 17+). Unix
//! sockets are never encrypted, as in libpq.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use pgscope_config::{RootCert, SslMode, SslNegotiation, Upstream};
use pgscope_protocol::encode;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::TlsConnector;

use super::files::{certificates, private_key, root_store, system_roots};
use super::stream::ServerStream;
use super::verify::{ChainOnly, Unverified};
use super::{provider, TlsError, ALPN_POSTGRESQL};

/// Why the upstream connection could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectError {
    /// What went wrong, for the client's FATAL message and the log.
    pub reason: String,
    /// Whether it went wrong in TLS (negotiation, handshake, verification), not in reaching
    /// the server.
    pub tls: bool,
}

impl ConnectError {
    fn io(reason: impl ToString) -> Self {
        ConnectError {
            reason: reason.to_string(),
            tls: false,
        }
    }

    /// The connection broke while the startup packet was being written.
    pub fn lost() -> Self {
        ConnectError::io("connection lost")
    }

    fn tls(reason: impl ToString) -> Self {
        ConnectError {
            reason: reason.to_string(),
            tls: true,
        }
    }
}

/// TLS settings resolved into a connector.
#[derive(Debug)]
struct Tls {
    mode: SslMode,
    negotiation: SslNegotiation,
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
}

/// Opens upstream connections the way the upstream URL says. Shared by every connection task.
#[derive(Debug)]
pub struct UpstreamConnector {
    upstream: Upstream,
    label: String,
    connect_timeout: Duration,
    /// `None` when TLS never applies (`sslmode=disable`, Unix sockets).
    tls: Option<Tls>,
}

impl UpstreamConnector {
    /// Reads the files the TLS settings name and prepares the connector.
    pub fn new(upstream: &Upstream, connect_timeout: Duration) -> Result<Self, TlsError> {
        let settings = &upstream.tls;
        let tls = if settings.mode == SslMode::Disable || upstream.socket_path().is_some() {
            None
        } else {
            Some(Tls {
                mode: settings.mode,
                negotiation: settings.negotiation,
                config: Arc::new(client_config(upstream)?),
                server_name: server_name(&upstream.host)?,
            })
        };
        Ok(UpstreamConnector {
            upstream: upstream.clone(),
            label: upstream.to_string(),
            connect_timeout,
            tls,
        })
    }

    /// The upstream as users name it (`host:port` or a socket path), for messages.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The upstream settings.
    pub fn upstream(&self) -> &Upstream {
        &self.upstream
    }

    /// The rustls client configuration, when TLS can apply: what other clients of the same
    /// server (the growth monitor) use to verify it the same way.
    pub fn client_config(&self) -> Option<Arc<ClientConfig>> {
        self.tls.as_ref().map(|tls| Arc::clone(&tls.config))
    }

    /// Whether `sslmode=allow`: plaintext first, TLS when the server refuses it.
    pub fn retries_with_tls(&self) -> bool {
        self.tls
            .as_ref()
            .is_some_and(|tls| tls.mode == SslMode::Allow)
    }

    /// Opens a connection under the configured policy, within `connect_timeout`.
    pub async fn connect(&self) -> Result<ServerStream, ConnectError> {
        self.within_timeout(self.open(false)).await
    }

    /// Opens a TLS connection whatever the mode (`allow`'s second attempt).
    pub async fn connect_tls(&self) -> Result<ServerStream, ConnectError> {
        self.within_timeout(self.open(true)).await
    }

    async fn within_timeout(
        &self,
        open: impl std::future::Future<Output = Result<ServerStream, ConnectError>>,
    ) -> Result<ServerStream, ConnectError> {
        match tokio::time::timeout(self.connect_timeout, open).await {
            Ok(result) => result,
            Err(_) => Err(ConnectError::io(format!(
                "timed out after {:?}",
                self.connect_timeout
            ))),
        }
    }

    async fn open(&self, force_tls: bool) -> Result<ServerStream, ConnectError> {
        if let Some(path) = self.upstream.socket_path() {
            return UnixStream::connect(&path)
                .await
                .map(ServerStream::Unix)
                .map_err(ConnectError::io);
        }
        let tcp = self.tcp().await?;
        let Some(tls) = &self.tls else {
            return Ok(ServerStream::Tcp(tcp));
        };
        let required = force_tls || tls.mode >= SslMode::Require;
        if tls.mode == SslMode::Allow && !force_tls {
            return Ok(ServerStream::Tcp(tcp));
        }
        match self.negotiate(tcp, tls, required).await {
            Err(error) if error.tls && tls.mode == SslMode::Prefer && !force_tls => {
                // libpq's `prefer`: a failed handshake is retried without TLS.
                log::debug!(
                    "TLS to {} failed ({}); retrying in plaintext",
                    self.label,
                    error.reason
                );
                Ok(ServerStream::Tcp(self.tcp().await?))
            }
            other => other,
        }
    }

    async fn tcp(&self) -> Result<TcpStream, ConnectError> {
        let addr = (self.upstream.host.as_str(), self.upstream.port);
        let stream = TcpStream::connect(addr).await.map_err(ConnectError::io)?;
        // Small messages must not wait for Nagle's algorithm.
        stream.set_nodelay(true).map_err(ConnectError::io)?;
        Ok(stream)
    }

    async fn negotiate(
        &self,
        mut tcp: TcpStream,
        tls: &Tls,
        required: bool,
    ) -> Result<ServerStream, ConnectError> {
        if tls.negotiation == SslNegotiation::Postgres {
            tcp.write_all(&encode::frontend::ssl_request())
                .await
                .map_err(ConnectError::io)?;
            let mut answer = [0u8; 1];
            if let Err(e) = tcp.read_exact(&mut answer).await {
                return Err(ConnectError::tls(format!(
                    "the server closed the connection during SSL negotiation ({e})"
                )));
            }
            match answer[0] {
                b'S' => {}
                b'N' if !required => return Ok(ServerStream::Tcp(tcp)),
                b'N' => {
                    return Err(ConnectError::tls(
                        "server does not support SSL, but SSL was required",
                    ))
                }
                b'E' => {
                    return Err(ConnectError::tls(
                        "the server answered the SSL request with an error (is it PostgreSQL?)",
                    ))
                }
                other => {
                    return Err(ConnectError::tls(format!(
                        "received invalid response to SSL negotiation: {:?}",
                        char::from(other)
                    )))
                }
            }
        }
        TlsConnector::from(Arc::clone(&tls.config))
            .connect(tls.server_name.clone(), tcp)
            .await
            .map(|stream| ServerStream::Tls(Box::new(stream)))
            .map_err(|e| ConnectError::tls(format!("SSL handshake failed: {e}")))
    }
}

/// The name the certificate is checked against (and sent as SNI): a DNS name or an IP address.
fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(host.to_owned()).map_err(|e| TlsError::Verifier {
        context: "upstream",
        reason: format!("{host:?} cannot be used as a TLS server name: {e}"),
    })
}

/// The provider with P-256 offered first: PostgreSQL's `ssl_ecdh_curve` defaults to
/// `prime256v1`, so a key share for X25519 (rustls's first choice) is refused with a
/// HelloRetryRequest, a wasted round trip and key generation on every upstream connection
/// (`benches/README.md`, "TLS on both sides"). Servers configured otherwise still get their
/// group after a retry.
fn postgres_provider() -> Arc<rustls::crypto::CryptoProvider> {
    let mut provider = (*provider()).clone();
    provider
        .kx_groups
        .sort_by_key(|group| group.name() != rustls::NamedGroup::secp256r1);
    Arc::new(provider)
}

/// libpq's files under `~/.postgresql`, used when the URL names none and they exist.
fn default_file(name: &str) -> Option<PathBuf> {
    let path = PathBuf::from(std::env::var_os("HOME")?)
        .join(".postgresql")
        .join(name);
    path.is_file().then_some(path)
}

fn client_config(upstream: &Upstream) -> Result<ClientConfig, TlsError> {
    let settings = &upstream.tls;
    let provider = postgres_provider();
    let root = match &settings.root_cert {
        Some(RootCert::System) => Some(Arc::new(system_roots()?)),
        Some(RootCert::File(path)) => Some(Arc::new(root_store("sslrootcert", path)?)),
        None => default_file("root.crt")
            .map(|path| root_store("sslrootcert", &path).map(Arc::new))
            .transpose()?,
    };
    let verify_name = settings.mode == SslMode::VerifyFull;
    let verifier: Arc<dyn rustls::client::danger::ServerCertVerifier> = match root {
        Some(roots) if settings.mode >= SslMode::Require => {
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(&provider))
                .build()
                .map_err(|e| TlsError::Verifier {
                    context: "sslrootcert",
                    reason: e.to_string(),
                })?;
            if verify_name {
                webpki
            } else {
                Arc::new(ChainOnly::new(webpki))
            }
        }
        None if settings.mode >= SslMode::VerifyCa => {
            let home = std::env::var("HOME").unwrap_or_default();
            return Err(TlsError::Verifier {
                context: "sslrootcert",
                reason: format!(
                    "root certificate file \"{home}/.postgresql/root.crt\" does not exist; \
                     either provide the file (sslrootcert=FILE), use the system's trusted roots \
                     with sslrootcert=system, or change sslmode to disable server certificate \
                     verification"
                ),
            });
        }
        _ => Arc::new(Unverified::new(Arc::clone(&provider))),
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|source| TlsError::Rustls {
            context: "upstream TLS",
            source,
        })?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let identity = match (&settings.cert, &settings.key) {
        (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
        _ => default_file("postgresql.crt").zip(default_file("postgresql.key")),
    };
    let mut config = match identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                certificates("sslcert", &cert)?,
                private_key("sslkey", &key)?,
            )
            .map_err(|source| TlsError::Rustls {
                context: "sslcert and sslkey",
                source,
            })?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![ALPN_POSTGRESQL.to_vec()];
    config.enable_sni = settings.sni;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p256_is_offered_first_as_postgresql_defaults_to_it_and_the_others_remain() {
        let provider = postgres_provider();
        let names: Vec<_> = provider.kx_groups.iter().map(|g| g.name()).collect();
        assert_eq!(names.first(), Some(&rustls::NamedGroup::secp256r1));
        assert!(names.contains(&rustls::NamedGroup::X25519), "{names:?}");
        assert_eq!(names.len(), super::provider().kx_groups.len());
    }
}
