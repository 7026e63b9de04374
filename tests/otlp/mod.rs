//! Test support for span export: an OTLP receiver that runs inside the test (HTTP/protobuf
//! and gRPC, decoded with `opentelemetry-proto`), and a `pgscope run` child process started
//! with `OTEL_*` variables and a `[tracing]` config file.
//!
//! Both receivers are deliberately tiny — a hand-written HTTP/1.1 loop and an `h2` server
//! speaking the gRPC framing — so the test depends on the OTLP wire format, not on another
//! OpenTelemetry implementation agreeing with the one under test. Either can serve `https://`
//! (rustls), optionally requiring a client certificate.

pub mod checks;
pub mod proxy;
pub mod receiver;
pub mod tls;

pub use proxy::TracedProxy;
pub use receiver::{ReceivedSpan, Receiver};
