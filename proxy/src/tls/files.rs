//! Reading certificates and keys from PEM files, with errors that name the file and the setting.

use std::path::{Path, PathBuf};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::RootCertStore;

/// Why a TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file named by a setting could not be read or holds nothing usable.
    #[error("{setting} {}: {reason}", path.display())]
    File {
        /// The setting that names the file (`tls.cert`, `sslrootcert`, …).
        setting: &'static str,
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// rustls refused the combination (e.g. a key that does not match its certificate).
    #[error("{context}: {source}")]
    Rustls {
        /// What was being set up.
        context: &'static str,
        /// rustls's reason.
        #[source]
        source: rustls::Error,
    },
    /// A verifier could not be built from the trusted roots.
    #[error("{context}: {reason}")]
    Verifier {
        /// What was being set up.
        context: &'static str,
        /// Why.
        reason: String,
    },
}

fn file_error(setting: &'static str, path: &Path, reason: impl ToString) -> TlsError {
    TlsError::File {
        setting,
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

/// Every certificate in a PEM file (at least one).
pub(super) fn certificates(
    setting: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(setting, path, describe(e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(setting, path, describe(e)))?;
    if certs.is_empty() {
        return Err(file_error(setting, path, "no PEM certificate in the file"));
    }
    Ok(certs)
}

/// The private key in a PEM file (PKCS#8, PKCS#1 or SEC1).
pub(super) fn private_key(
    setting: &'static str,
    path: &Path,
) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| file_error(setting, path, describe(e)))
}

/// A root store holding every certificate of a PEM file.
pub(super) fn root_store(setting: &'static str, path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(setting, path)? {
        roots
            .add(cert)
            .map_err(|e| file_error(setting, path, format!("not a usable CA certificate: {e}")))?;
    }
    Ok(roots)
}

/// The operating system's trusted roots (`sslrootcert=system`).
pub(super) fn system_roots() -> Result<RootCertStore, TlsError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let errors: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
        return Err(TlsError::Verifier {
            context: "sslrootcert=system",
            reason: format!(
                "the system trust store holds no usable certificate{}",
                if errors.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", errors.join("; "))
                }
            ),
        });
    }
    Ok(roots)
}

fn describe(error: rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error;
    match error {
        Error::Io(io) => io.to_string(),
        Error::NoItemsFound => "no PEM item of the expected kind in the file".to_owned(),
        other => format!("not valid PEM: {other:?}"),
    }
}
