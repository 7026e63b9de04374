//! The `[tls]` section: pgscope as a TLS server for its clients.
//!
//! Clients reach pgscope as they would reach PostgreSQL: `SSLRequest` then a handshake, or
//! PostgreSQL 17's direct TLS. `mode` says what is accepted: `disable` (answer `N`, as a server
//! without TLS), `allow` (TLS when the client asks, plaintext otherwise) or `require` (plaintext
//! startups are refused with FATAL 28000, as a `hostssl`-only `pg_hba.conf` would). With
//! `client_ca`, clients must present a certificate issued by it. Files are only named here; the
//! proxy reads them at start and again on reload.

use std::path::PathBuf;

use crate::parse::{text, Reason};
use crate::raw::RawValue;

/// What pgscope accepts from clients (`tls.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// No TLS: `SSLRequest` is answered `N`.
    Disable,
    /// TLS for clients that ask, plaintext for the others.
    Allow,
    /// TLS only: a plaintext startup gets FATAL 28000.
    Require,
}

impl TlsMode {
    /// The name as written in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Disable => "disable",
            TlsMode::Allow => "allow",
            TlsMode::Require => "require",
        }
    }
}

/// The `[tls]` section, validated: when `mode` is not `Disable`, `cert` and `key` are set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// What is accepted.
    pub mode: TlsMode,
    /// The server certificate, PEM (a chain: the leaf first).
    pub cert: Option<PathBuf>,
    /// Its private key, PEM.
    pub key: Option<PathBuf>,
    /// CA certificates (PEM) that client certificates must chain to; `None`: no client
    /// certificates are asked for.
    pub client_ca: Option<PathBuf>,
}

impl Default for TlsConfig {
    /// TLS off.
    fn default() -> Self {
        TlsConfig {
            mode: TlsMode::Disable,
            cert: None,
            key: None,
            client_ca: None,
        }
    }
}

impl TlsConfig {
    /// Whether clients can use TLS at all.
    pub fn enabled(&self) -> bool {
        self.mode != TlsMode::Disable
    }
}

const MODE: &str = "expected disable, allow or require";

/// `tls.mode`.
pub(crate) fn mode(value: &RawValue) -> Result<TlsMode, Reason> {
    match text(value, MODE)?.to_ascii_lowercase().as_str() {
        "disable" => Ok(TlsMode::Disable),
        "allow" => Ok(TlsMode::Allow),
        "require" => Ok(TlsMode::Require),
        _ => Err(Reason::from(MODE)),
    }
}

/// The section's cross-checks; the error is the reason and the key it is about.
pub(crate) fn check(
    mode: Option<TlsMode>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    client_ca: Option<PathBuf>,
) -> Result<TlsConfig, (&'static str, Reason)> {
    match (&cert, &key) {
        (Some(_), None) => {
            return Err((
                "tls.key",
                Reason::from("tls.cert is set but tls.key is not: both are needed"),
            ))
        }
        (None, Some(_)) => {
            return Err((
                "tls.cert",
                Reason::from("tls.key is set but tls.cert is not: both are needed"),
            ))
        }
        _ => {}
    }
    let have_files = cert.is_some();
    let mode = mode.unwrap_or(if have_files {
        TlsMode::Allow
    } else {
        TlsMode::Disable
    });
    if mode != TlsMode::Disable && !have_files {
        return Err((
            "tls.mode",
            Reason(format!(
                "tls.mode = \"{}\" needs tls.cert and tls.key",
                mode.as_str()
            )),
        ));
    }
    if client_ca.is_some() && mode == TlsMode::Disable {
        return Err((
            "tls.client_ca",
            Reason::from("tls.client_ca is set but TLS is disabled"),
        ));
    }
    Ok(TlsConfig {
        mode,
        cert,
        key,
        client_ca,
    })
}
