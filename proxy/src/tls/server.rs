//! pgscope as a TLS server for its clients: the `[tls]` files as a rustls configuration that a
//! reload can replace without touching open connections.

use std::sync::{Arc, PoisonError, RwLock};

use pgscope_config::{TlsConfig, TlsMode};
use rustls::server::WebPkiClientVerifier;
use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use super::files::{certificates, private_key, root_store};
use super::{provider, TlsError, ALPN_POSTGRESQL};

/// The client-side TLS settings in force. Cheap to share; [`ServerTls::reload`] swaps the rustls
/// configuration for new handshakes, while connections already encrypted keep the one they
/// were accepted with.
#[derive(Debug)]
pub struct ServerTls {
    mode: TlsMode,
    settings: RwLock<TlsConfig>,
    current: RwLock<Arc<ServerConfig>>,
}

impl ServerTls {
    /// Reads the certificate, key and client CA named by `config`; `None` when TLS is disabled.
    pub fn load(config: &TlsConfig) -> Result<Option<ServerTls>, TlsError> {
        if !config.enabled() {
            return Ok(None);
        }
        Ok(Some(ServerTls {
            mode: config.mode,
            settings: RwLock::new(config.clone()),
            current: RwLock::new(Arc::new(build(config)?)),
        }))
    }

    /// `allow` or `require`.
    pub fn mode(&self) -> TlsMode {
        self.mode
    }

    /// An acceptor for one handshake, with the configuration in force now.
    pub fn acceptor(&self) -> TlsAcceptor {
        let config = self
            .current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        TlsAcceptor::from(config)
    }

    /// Re-reads the files named by `config` (the files of the running configuration when the
    /// reloaded one names the same paths, since their contents may have changed) and, if they
    /// make a valid configuration, uses it for every new handshake. On error nothing changes.
    pub fn reload(&self, config: &TlsConfig) -> Result<(), TlsError> {
        let fresh = build(config)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(fresh);
        *self
            .settings
            .write()
            .unwrap_or_else(PoisonError::into_inner) = config.clone();
        Ok(())
    }

    /// The `[tls]` settings of the configuration in force.
    pub fn settings(&self) -> TlsConfig {
        self.settings
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn build(config: &TlsConfig) -> Result<ServerConfig, TlsError> {
    let (Some(cert), Some(key)) = (&config.cert, &config.key) else {
        return Err(TlsError::Verifier {
            context: "[tls]",
            reason: "tls.cert and tls.key are required".to_owned(),
        });
    };
    let chain = certificates("tls.cert", cert)?;
    let key = private_key("tls.key", key)?;
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|source| TlsError::Rustls {
            context: "[tls]",
            source,
        })?;
    let builder = match &config.client_ca {
        Some(ca) => {
            let roots = Arc::new(root_store("tls.client_ca", ca)?);
            let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| TlsError::Verifier {
                    context: "tls.client_ca",
                    reason: e.to_string(),
                })?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut server = builder
        .with_single_cert(chain, key)
        .map_err(|source| TlsError::Rustls {
            context: "tls.cert and tls.key",
            source,
        })?;
    server.alpn_protocols = vec![ALPN_POSTGRESQL.to_vec()];
    Ok(server)
}
