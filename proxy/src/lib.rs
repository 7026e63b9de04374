//! pgscope: a transparent PostgreSQL wire-protocol proxy that fingerprints, times and explains
//! every query.
//!
//! The crate is layered the way `../shared/DESIGN.md` describes:
//!
//! - [`session`] is the heart: a sans-IO state machine, one per client connection, fed the bytes
//!   of each direction with an explicit `now`. It never alters a byte; it tracks the startup
//!   phase, prepared statements, portals and the FIFO of requests in flight, and emits
//!   events to [`observer`]s.
//! - [`pump`] is the only code that touches sockets: it drives one session between a client and
//!   its upstream connection; [`tls`] gives it TLS on either side (rustls), the way PostgreSQL
//!   and libpq do it.
//! - [`server`] wires the pump into a pingora `ServerApp`, with graceful drain on SIGTERM;
//!   [`notify`] tells systemd (`Type=notify`) when pgscope is ready, reloading or stopping.
//! - [`shape`] is the one analysis per query shape (fingerprint, normalized text, operation,
//!   tables, summary, texts cut to the one limit), made once and shared by every observer.
//! - [`wiring`] is the composition root: from the validated configuration it builds the one
//!   clock, the recorder, span export and the flat list of [`observer`]s the pumps report to,
//!   and the services beside the proxy (admin API, housekeeping, growth monitor); [`stats`]
//!   counts the proxy's own work.
//! - [`embedded`] starts a throw-away local PostgreSQL cluster (for `pgscope run` with no
//!   upstream, and for the integration tests).
//! - [`cli`] holds the subcommands of the `pgscope` binary.

pub mod admin;
pub mod admission;
pub mod capture;
pub mod cli;
pub mod clock;
pub mod embedded;
pub mod growth;
pub mod notify;
pub mod observer;
pub mod pump;
pub mod recorder;
pub mod reload;
pub mod replay;
pub mod server;
pub mod session;
pub mod shape;
pub mod socket;
pub mod spans;
pub mod stats;
pub mod successor;
pub mod tls;
pub mod wiring;
