//! The admin HTTP server: Prometheus `/metrics`, the JSON API, `/healthz`.
//!
//! It is a second pingora service in the proxy's `Server`, on its own address (default
//! `127.0.0.1:9187`, loopback only) and its own single worker thread, so a heavy request (a
//! snapshot of 5000 entries) never competes with the proxy's connections for a runtime. All
//! logic lives in [`router`], a pure function from request to reply; [`AdminApp`] only adapts it
//! to pingora's `ServeHttp`.
//!
//! Routes (all JSON except `/metrics`; errors are `{"error": {"status", "message"}}` with a 4xx):
//!
//! | route | what |
//! |---|---|
//! | `GET /healthz` | liveness and the recorder's size (never needs the token) |
//! | `GET /metrics` | Prometheus text via the `prometheus` crate |
//! | `GET /api/v1/fingerprints?sort=&limit=&database=&user=&application=&window=` | ranked rows |
//! | `GET /api/v1/fingerprints/{fingerprint}?window=&database=&user=&application=` | one fingerprint: merged row, distribution, keys, window series |
//! | `GET /api/v1/report?sort=&limit=&…&window=` | the report `pgscope report` renders |
//! | `GET /api/v1/series?group=key\|database&database=&user=&application=` | per-window series of every entry |
//! | `GET /api/v1/growth` | degrading hot paths: flags ranked by impact, size series, plans, monitor status |
//! | `GET /api/v1/snapshot` | the full snapshot (`pgscope snapshot save`) |
//! | `POST /api/v1/reset` | forget everything recorded |
//!
//! With `admin_token` set, every route but `/healthz` needs `Authorization: Bearer TOKEN`;
//! without it, 401.

mod params;
pub mod router;
mod source;
mod wiring;

#[cfg(test)]
mod tests;

use async_trait::async_trait;
use pingora_core::apps::http_app::ServeHttp;
use pingora_core::protocols::http::ServerSession;

pub use router::{Reply, Request, Router};
pub use source::LiveSource;
pub use wiring::{Recording, WiringError};

/// Request bodies are not used; at most this much is drained before answering.
const MAX_DRAINED_BODY: usize = 64 * 1024;

/// The pingora application of the admin service.
#[derive(Debug)]
pub struct AdminApp {
    router: Router,
}

impl AdminApp {
    /// An app answering with `router`.
    pub fn new(router: Router) -> Self {
        AdminApp { router }
    }
}

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

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> http::Response<Vec<u8>> {
        let mut drained = 0;
        while let Ok(Some(chunk)) = session.read_request_body().await {
            drained += chunk.len();
            if drained > MAX_DRAINED_BODY {
                return response(Reply::error(413, "request body too large"));
            }
        }
        let header = session.req_header();
        let authorization = header
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let request = Request {
            method: header.method.as_str(),
            path: header.uri.path(),
            query: header.uri.query(),
            authorization,
        };
        let reply = self.router.handle(&request);
        let is_head = request.method == "HEAD";
        let mut http = response(reply);
        if is_head {
            http.body_mut().clear();
        }
        http
    }
}
