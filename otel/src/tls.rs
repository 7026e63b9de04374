//! TLS towards an `https://` collector: which PEM files the standard variables name
//! ([`TlsFiles`], resolved with the other settings), and what they hold once read and checked
//! ([`TlsMaterial`]), turned into the configuration of either transport: a rustls client
//! configuration for OTLP/HTTP and tonic's [`ClientTlsConfig`] for gRPC. Both use rustls with
//! the ring provider and trust the same roots: the CA bundle of
//! `OTEL_EXPORTER_OTLP_CERTIFICATE` if it is set, else the system trust store.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

use super::settings::OtelEnv;
use super::OtelError;

/// The variables naming the CA bundle, the signal-specific one first (it wins).
pub(super) const CERTIFICATE: &[&str] = &[
    "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_CERTIFICATE",
];
/// The variables naming the client certificate (chain), signal-specific first.
pub(super) const CLIENT_CERTIFICATE: &[&str] = &[
    "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
];
/// The variables naming the client's private key, signal-specific first.
pub(super) const CLIENT_KEY: &[&str] = &[
    "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
    "OTEL_EXPORTER_OTLP_CLIENT_KEY",
];

/// A file named by a variable; errors about it name both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFile {
    /// The variable that named it.
    pub variable: &'static str,
    /// The path, as given.
    pub path: PathBuf,
}

/// The PEM files for an `https://` endpoint, as the standard variables name them; each
/// `OTEL_EXPORTER_OTLP_TRACES_*` variable wins over its generic counterpart. They are read
/// only when the endpoint is `https://` (the specification says they apply to secure
/// connections only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// CA certificates (PEM) to trust instead of the system trust store.
    pub certificate: Option<TlsFile>,
    /// The client certificate chain (PEM) for mutual TLS.
    pub client_certificate: Option<TlsFile>,
    /// The client certificate's private key (PEM).
    pub client_key: Option<TlsFile>,
}

impl TlsFiles {
    /// The files `env` names. A client certificate without a key (or a key without a
    /// certificate) is an error naming the variable that is set and the one missing.
    pub(super) fn resolve(env: &OtelEnv) -> Result<TlsFiles, OtelError> {
        let file = |names: &[&'static str]| {
            env.first(names).map(|(variable, value)| TlsFile {
                variable,
                path: PathBuf::from(value),
            })
        };
        let files = TlsFiles {
            certificate: file(CERTIFICATE),
            client_certificate: file(CLIENT_CERTIFICATE),
            client_key: file(CLIENT_KEY),
        };
        match (&files.client_certificate, &files.client_key) {
            (Some(set), None) => Err(OtelError::TlsIncomplete {
                set: set.variable,
                missing: CLIENT_KEY[1],
            }),
            (None, Some(set)) => Err(OtelError::TlsIncomplete {
                set: set.variable,
                missing: CLIENT_CERTIFICATE[1],
            }),
            _ => Ok(files),
        }
    }

    /// Whether no file is named.
    pub fn is_empty(&self) -> bool {
        self.certificate.is_none() && self.client_certificate.is_none() && self.client_key.is_none()
    }

    /// Reads and checks the files: each must be readable PEM holding what it should, the CA
    /// certificates must parse, and the key must match the client certificate. Without a CA
    /// file the system trust store is loaded, and must not be empty.
    pub fn load(&self) -> Result<TlsMaterial, OtelError> {
        let provider = crypto_provider();
        let ca = match &self.certificate {
            Some(file) => {
                let (pem, certs) = read_certificates(file)?;
                let mut roots = RootCertStore::empty();
                for cert in certs {
                    roots
                        .add(cert)
                        .map_err(|err| file.unusable(err.to_string()))?;
                }
                Some((roots, pem))
            }
            None => None,
        };
        let identity = match (&self.client_certificate, &self.client_key) {
            (Some(cert_file), Some(key_file)) => {
                let (cert_pem, chain) = read_certificates(cert_file)?;
                let key_pem = read(key_file)?;
                let key = PrivateKeyDer::from_pem_slice(&key_pem)
                    .map_err(|err| key_file.unusable(format!("no PEM private key ({err})")))?;
                CertifiedKey::from_der(chain.clone(), key.clone_key(), &provider).map_err(
                    |err| OtelError::TlsIdentity {
                        certificate: cert_file.path.clone(),
                        key: key_file.path.clone(),
                        problem: err.to_string(),
                    },
                )?;
                Some(ClientIdentity {
                    cert_pem,
                    key_pem,
                    chain,
                    key,
                })
            }
            _ => None,
        };
        // The system store last, so that an error about a named file comes first.
        let (roots, ca_pem) = match ca {
            Some((roots, pem)) => (roots, Some(pem)),
            None => (system_roots()?, None),
        };
        Ok(TlsMaterial {
            provider,
            roots,
            ca_pem,
            identity,
        })
    }
}

impl TlsFile {
    fn unusable(&self, problem: String) -> OtelError {
        OtelError::TlsFile {
            variable: self.variable,
            path: self.path.clone(),
            problem,
        }
    }
}

/// The checked contents of [`TlsFiles`].
#[derive(Debug)]
pub struct TlsMaterial {
    provider: Arc<CryptoProvider>,
    roots: RootCertStore,
    /// The CA file as read, when one is named (tonic wants PEM).
    ca_pem: Option<Vec<u8>>,
    identity: Option<ClientIdentity>,
}

/// A client certificate chain with its matching key, parsed and as PEM (tonic wants PEM).
struct ClientIdentity {
    cert_pem: Vec<u8>,
    key_pem: Vec<u8>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl std::fmt::Debug for ClientIdentity {
    /// Leaves the key out.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("chain", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl TlsMaterial {
    /// Whether a client certificate is presented.
    pub fn has_client_certificate(&self) -> bool {
        self.identity.is_some()
    }

    /// The rustls client configuration for OTLP/HTTP.
    pub fn client_config(&self) -> Result<ClientConfig, OtelError> {
        let builder = ClientConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()
            .map_err(|err| OtelError::TlsSetup(err.to_string()))?
            .with_root_certificates(self.roots.clone());
        match &self.identity {
            None => Ok(builder.with_no_client_auth()),
            Some(identity) => builder
                .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
                .map_err(|err| OtelError::TlsSetup(err.to_string())),
        }
    }

    /// tonic's TLS configuration for gRPC: the same roots and identity (tonic builds its
    /// rustls configuration with the ring provider, the only one compiled in).
    pub fn tonic_config(&self) -> ClientTlsConfig {
        let config = match &self.ca_pem {
            Some(pem) => ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem)),
            None => ClientTlsConfig::new().trust_anchors(self.roots.roots.iter().cloned()),
        };
        match &self.identity {
            Some(identity) => {
                config.identity(Identity::from_pem(&identity.cert_pem, &identity.key_pem))
            }
            None => config,
        }
    }
}

/// The process's default provider if one was installed, else ring's — the choice tonic makes
/// for gRPC, so both transports agree. (rustls 0.23.48 deprecates ring's provider only for
/// lacking post-quantum key exchange; ring is the workspace's provider.)
fn crypto_provider() -> Arc<CryptoProvider> {
    match CryptoProvider::get_default() {
        Some(provider) => Arc::clone(provider),
        #[allow(deprecated)]
        None => Arc::new(rustls::crypto::ring::default_provider()),
    }
}

fn read(file: &TlsFile) -> Result<Vec<u8>, OtelError> {
    std::fs::read(&file.path).map_err(|error| OtelError::TlsRead {
        variable: file.variable,
        path: file.path.clone(),
        error,
    })
}

/// The file and the certificates in it (at least one).
fn read_certificates(file: &TlsFile) -> Result<(Vec<u8>, Vec<CertificateDer<'static>>), OtelError> {
    let pem = read(file)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| file.unusable(format!("not PEM ({err})")))?;
    if certs.is_empty() {
        return Err(file.unusable("no PEM certificate in it".to_owned()));
    }
    Ok((pem, certs))
}

/// The system trust store, as `rustls-native-certs` finds it (`SSL_CERT_FILE` and
/// `SSL_CERT_DIR` apply).
fn system_roots() -> Result<RootCertStore, OtelError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        let errors: Vec<String> = found.errors.iter().map(|err| err.to_string()).collect();
        return Err(OtelError::NoSystemRoots(errors.join("; ")));
    }
    Ok(roots)
}

/// Whether `endpoint` is an `https://` URL.
pub(super) fn is_https(endpoint: &str) -> bool {
    endpoint
        .get(..8)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
}
