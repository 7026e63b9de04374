//! The admin HTTP server: Prometheus `/metrics`, the JSON API, `/healthz`.
//!
//! It is a second pingora service in the proxy's `Server`, on its own address (default
//! `127.0.0.1:9187`, loopback only) and its own single worker thread, so a heavy request (a
//! snapshot of 5000 entries) never competes with the proxy's connections for a runtime. All
//! logic lives in [`router`], a pure function from request to reply; [`AdminServer`] serves it
//! over HTTP/1.1 with deadlines and size limits (see [`transport`]).
//!
//! Routes (all JSON except `/metrics`; errors are `{"error": {"status", "message"}}` with a 4xx):
//!
//! | route | what |
//! |---|---|
//! | `GET /healthz` | liveness, the recorder's size, the last reload's result (never needs the token) |
//! | `GET /readyz` | readiness: 200 when the upstream accepts connections, else 503 with the reason (never needs the token) |
//! | `GET /metrics` | Prometheus text via the `prometheus` crate |
//! | `GET /api/v1/fingerprints?sort=&limit=&database=&user=&application=&window=` | ranked rows |
//! | `GET /api/v1/fingerprints/{fingerprint}?window=&database=&user=&application=` | one fingerprint: merged row, distribution, keys, window series |
//! | `GET /api/v1/report?sort=&limit=&…&window=` | the report `pgscope report` renders |
//! | `GET /api/v1/series?group=key\|database&database=&user=&application=` | per-window series of every entry |
//! | `GET /api/v1/growth` | degrading hot paths: flags ranked by impact, size series, plans, monitor status |
//! | `GET /api/v1/snapshot` | the full snapshot (`pgscope snapshot save`) |
//! | `POST /api/v1/reset` | forget everything recorded |
//! | `POST /api/v1/reload` | reload the configuration as SIGHUP does: 200 with what changed, 422 (invalid) or 500 (unreadable file) and nothing changed |
//!
//! With `admin_token` set, every route but `/healthz` and `/readyz` needs
//! `Authorization: Bearer TOKEN` (the token in force: a reload can change it); without it, 401.

mod capture;
mod ops;
mod params;
pub mod ready;
pub mod router;
mod source;
pub mod transport;

#[cfg(test)]
mod ops_tests;
#[cfg(test)]
mod tests;

pub use ops::Operations;
pub use ready::Readiness;
pub use router::{Reply, Request, Router};
pub use source::LiveSource;
pub use transport::AdminServer;

/// The HTTP response for `reply`.
fn response(reply: Reply) -> http::Response<Vec<u8>> {
    let mut builder = http::Response::builder()
        .status(reply.status)
        .header(http::header::CONTENT_TYPE, reply.content_type)
        .header(http::header::CONTENT_LENGTH, reply.body.len())
        .header(http::header::CACHE_CONTROL, "no-store");
    for (name, value) in reply.headers {
        builder = builder.header(name, value);
    }
    builder.body(reply.body).unwrap_or_else(|_| {
        let mut fallback = http::Response::new(Vec::new());
        *fallback.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
        fallback
    })
}
