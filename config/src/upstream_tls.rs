//! How pgscope secures its connection to the upstream server: libpq's `ssl*` connection
//! parameters with libpq's meanings and defaults, validated the way libpq validates them.
//!
//! pgscope is a client of the upstream server, so the upstream URL takes the parameters an
//! application would put in its own URL to reach that server directly (`sslmode`, `sslrootcert`,
//! `sslcert`, `sslkey`, `sslsni`, `sslnegotiation`). Files are only named here; the proxy reads
//! them when it starts (and again on reload), so a missing file is reported there with its path.

use std::fmt;
use std::path::PathBuf;

use crate::parse::Reason;

/// libpq's `sslmode`: whether TLS is tried, required, and how much of the server's certificate
/// is verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SslMode {
    /// Never TLS.
    Disable,
    /// Plaintext first; TLS only if the server refuses the plaintext connection.
    Allow,
    /// TLS if the server offers it, else plaintext (libpq's default). No verification.
    Prefer,
    /// TLS or nothing. The certificate is verified against `sslrootcert` only when one is given
    /// (then as `verify-ca`), as libpq does.
    Require,
    /// TLS, with the server's certificate chain verified against the trusted roots.
    VerifyCa,
    /// `verify-ca`, and the certificate must name the host connected to.
    VerifyFull,
}

impl SslMode {
    /// The name as written in a URL.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    fn parse(text: &str) -> Result<SslMode, Reason> {
        Ok(match text {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => {
                return Err(Reason(format!(
                    "invalid sslmode {text:?}: expected disable, allow, prefer, require, \
                     verify-ca or verify-full"
                )))
            }
        })
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the trusted root certificates come from (`sslrootcert`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCert {
    /// A PEM file of CA certificates.
    File(PathBuf),
    /// `system`: the operating system's trust store (libpq 16+).
    System,
}

/// libpq's `sslnegotiation` (PostgreSQL 17+).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslNegotiation {
    /// Send `SSLRequest` and start TLS after the server's `S` (every server version).
    Postgres,
    /// Start TLS at once, with ALPN `postgresql` (PostgreSQL 17+ servers only).
    Direct,
}

/// The upstream connection's TLS settings (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamTls {
    /// `sslmode` (default `prefer`, or `verify-full` with `sslrootcert=system`).
    pub mode: SslMode,
    /// `sslrootcert`; `None`: libpq's default, `~/.postgresql/root.crt` when it exists.
    pub root_cert: Option<RootCert>,
    /// `sslcert`: a client certificate (PEM, a chain allowed), for `cert` authentication.
    pub cert: Option<PathBuf>,
    /// `sslkey`: the client certificate's private key (PEM).
    pub key: Option<PathBuf>,
    /// `sslsni`: send the host name in the TLS handshake (default on; never for IP addresses).
    pub sni: bool,
    /// `sslnegotiation` (default `postgres`).
    pub negotiation: SslNegotiation,
}

impl Default for UpstreamTls {
    /// libpq's defaults: `sslmode=prefer`, SNI on, `sslnegotiation=postgres`, no files.
    fn default() -> Self {
        UpstreamTls {
            mode: SslMode::Prefer,
            root_cert: None,
            cert: None,
            key: None,
            sni: true,
            negotiation: SslNegotiation::Postgres,
        }
    }
}

/// The `ssl*` parameters as written in the URL, before the cross-checks.
#[derive(Debug, Default)]
pub(crate) struct SslParams {
    pub(crate) mode: Option<String>,
    pub(crate) root_cert: Option<String>,
    pub(crate) cert: Option<String>,
    pub(crate) key: Option<String>,
    pub(crate) sni: Option<String>,
    pub(crate) negotiation: Option<String>,
}

impl SslParams {
    /// Takes `name=value` if it is one of the `ssl*` parameters; `false` if it is not.
    pub(crate) fn take(&mut self, name: &str, value: String) -> bool {
        let slot = match name {
            "sslmode" => &mut self.mode,
            "sslrootcert" => &mut self.root_cert,
            "sslcert" => &mut self.cert,
            "sslkey" => &mut self.key,
            "sslsni" => &mut self.sni,
            "sslnegotiation" => &mut self.negotiation,
            _ => return false,
        };
        *slot = Some(value);
        true
    }

    /// Applies libpq's defaults and consistency rules.
    pub(crate) fn validate(self) -> Result<UpstreamTls, Reason> {
        let root_cert = match self.root_cert.as_deref() {
            None => None,
            Some("") => return Err(Reason::from("sslrootcert must not be empty")),
            Some("system") => Some(RootCert::System),
            Some(path) => Some(RootCert::File(PathBuf::from(path))),
        };
        let mode = match (self.mode.as_deref(), &root_cert) {
            (Some(mode), _) => SslMode::parse(mode)?,
            // libpq 16: the system's roots make verify-full the default.
            (None, Some(RootCert::System)) => SslMode::VerifyFull,
            (None, _) => SslMode::Prefer,
        };
        if root_cert == Some(RootCert::System) && mode != SslMode::VerifyFull {
            return Err(Reason(format!(
                "weak sslmode \"{mode}\" may not be used with sslrootcert=system \
                 (use \"verify-full\")"
            )));
        }
        let negotiation = match self.negotiation.as_deref() {
            None | Some("postgres") => SslNegotiation::Postgres,
            Some("direct") => SslNegotiation::Direct,
            Some(other) => {
                return Err(Reason(format!(
                    "invalid sslnegotiation {other:?}: expected postgres or direct"
                )))
            }
        };
        if negotiation == SslNegotiation::Direct && mode < SslMode::Require {
            return Err(Reason(format!(
                "weak sslmode \"{mode}\" may not be used with sslnegotiation=direct \
                 (use \"require\", \"verify-ca\", or \"verify-full\")"
            )));
        }
        let sni = match self.sni.as_deref() {
            None | Some("1") => true,
            Some("0") => false,
            Some(other) => {
                return Err(Reason(format!("invalid sslsni {other:?}: expected 0 or 1")))
            }
        };
        let file = |value: Option<String>, name: &str| match value {
            Some(path) if path.is_empty() => Err(Reason(format!("{name} must not be empty"))),
            other => Ok(other.map(PathBuf::from)),
        };
        let cert = file(self.cert, "sslcert")?;
        let key = file(self.key, "sslkey")?;
        if cert.is_some() != key.is_some() {
            return Err(Reason::from(
                "sslcert and sslkey must be given together (the certificate and its key)",
            ));
        }
        Ok(UpstreamTls {
            mode,
            root_cert,
            cert,
            key,
            sni,
            negotiation,
        })
    }
}
