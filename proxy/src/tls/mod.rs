//! TLS on both sides of the proxy, done the way PostgreSQL and libpq do it, with rustls.
//!
//! pgscope terminates its clients' TLS and originates its own to the server, independently:
//! a plaintext client on localhost with TLS to a managed server (the sidecar shape), TLS
//! clients in front of a plaintext server, or both. The two sides share nothing but rustls and
//! its `ring` provider; no cryptography or handshake code is pgscope's own.
//!
//! - [`ServerTls`] (client side): the `[tls]` certificate, key and optional client CA as a
//!   rustls `ServerConfig` with ALPN `postgresql`, swapped atomically on reload so new
//!   handshakes use the new certificate while open connections keep theirs.
//! - [`UpstreamConnector`] (server side): opens the upstream connection — TCP, or a Unix socket,
//!   where TLS never applies, as in libpq — and negotiates TLS as libpq's `sslmode`,
//!   `sslnegotiation`, `sslrootcert`, `sslcert`/`sslkey` and `sslsni` say, including `prefer`'s
//!   plaintext fallback and `verify-ca`'s chain-only verification ([`verify`]).
//! - [`ClientStream`] and [`ServerStream`]: either side's socket, plain or TLS, as one type the
//!   pump reads and writes.
//!
//! What TLS changes in the protocol (SCRAM channel binding cannot span a proxy) is the session's
//! business, not this module's: see `session::auth`.

mod files;
mod server;
mod stream;
mod upstream;
mod verify;

pub use files::TlsError;
pub use server::ServerTls;
pub use stream::{ClientStream, Replay, ServerStream};
pub use upstream::{ConnectError, UpstreamConnector};

/// The ALPN protocol name PostgreSQL 17 uses, required for direct TLS.
pub const ALPN_POSTGRESQL: &[u8] = b"postgresql";

/// The crypto provider every TLS configuration uses: *ring*. rustls 0.23.48 deprecates it for
/// lacking post-quantum key exchange; PostgreSQL's own OpenSSL builds do not offer that either,
/// and aws-lc-rs (which does) would add a large C build to every CI run. Revisit when servers
/// negotiate ML-KEM.
#[allow(deprecated)]
fn provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
    std::sync::Arc::new(rustls::crypto::ring::default_provider())
}
