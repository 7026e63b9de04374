//! [`ServerTls`]: what a [`Receiver`](super::Receiver) needs to serve `https://` — a
//! certificate and key (PEM) and, for mutual TLS, the CA whose client certificates it requires.
//! rustls with the ring provider, as pgscope uses.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pgscope_tests::{crypto_provider, pem_certificates, root_store, Issued, TestCa};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivateKeyDer;
use rustls::server::WebPkiClientVerifier;
use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

/// The receiver's TLS settings.
#[derive(Debug, Clone)]
pub struct ServerTls {
    /// Its certificate and key.
    pub identity: Issued,
    /// When set, a client certificate issued by this CA (PEM) is required.
    pub client_ca: Option<PathBuf>,
}

impl ServerTls {
    /// Serves `identity`, asking no client certificate.
    pub fn new(identity: Issued) -> ServerTls {
        ServerTls {
            identity,
            client_ca: None,
        }
    }

    /// Also requires a client certificate issued by the CA `ca` (a PEM file).
    pub fn requiring_clients_of(mut self, ca: &Path) -> ServerTls {
        self.client_ca = Some(ca.to_owned());
        self
    }

    /// The acceptor, offering `alpn` (`h2` for gRPC, `http/1.1` for OTLP/HTTP).
    pub fn acceptor(&self, alpn: &[u8]) -> TlsAcceptor {
        let provider = crypto_provider();
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .expect("TLS versions");
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(root_store(ca)), provider)
                        .build()
                        .expect("a client verifier");
                builder.with_client_cert_verifier(verifier)
            }
        };
        let key = PrivateKeyDer::from_pem_file(&self.identity.key)
            .unwrap_or_else(|err| panic!("{}: {err}", self.identity.key.display()));
        let mut config = builder
            .with_single_cert(pem_certificates(&self.identity.cert), key)
            .expect("the receiver's certificate and key");
        config.alpn_protocols = vec![alpn.to_vec()];
        TlsAcceptor::from(Arc::new(config))
    }
}

/// A CA with a receiver certificate for 127.0.0.1 and a client certificate.
pub fn https_ca() -> (TestCa, ServerTls, Issued) {
    let ca = TestCa::new("pgscope otlp test CA");
    let server = ca.server("collector", &["localhost", "127.0.0.1"]);
    let client = ca.client("pgscope", "pgscope");
    let tls = ServerTls::new(server).requiring_clients_of(&ca.cert());
    (ca, tls, client)
}

/// `path` as a `&str`, for an environment variable.
pub fn text(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}
