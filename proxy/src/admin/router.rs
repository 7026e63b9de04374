//! The admin API as a function from a request to a reply: no sockets here (but `/readyz`'s
//! upstream check and `POST /api/v1/reload`), so every route, status and error body is
//! unit-tested directly.

use std::sync::Arc;

use pgscope_exporters::prometheus::{encode_text, text_content_type, MetricsOptions};
use pgscope_exporters::view::{self, Grouping};
use pgscope_exporters::{parse_fingerprint, report, write_snapshot, StatsCollector, StatsSource};
use prometheus::Registry;
use serde::Serialize;
use serde_json::json;

use super::ops::{register_daemon_metrics, Operations};
use super::params::{BadRequest, Params};
use super::source::LiveSource;

/// Rows in a list or report when `limit` is not given.
const DEFAULT_LIMIT: usize = 50;
/// Rows in a report when `limit` is not given.
const DEFAULT_REPORT_LIMIT: usize = 20;

/// The parts of an HTTP request the API looks at.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// `GET`, `POST` …
    pub method: &'a str,
    /// The path, without the query string.
    pub path: &'a str,
    /// The query string, without `?`.
    pub query: Option<&'a str>,
    /// The `Authorization` header.
    pub authorization: Option<&'a str>,
    /// The request body (empty if none).
    pub body: &'a [u8],
}

/// A complete reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: String,
    /// The body.
    pub body: Vec<u8>,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
}

const JSON: &str = "application/json";

impl Reply {
    /// `value` as JSON.
    pub(super) fn json(status: u16, value: &impl Serialize) -> Reply {
        match serde_json::to_vec(value) {
            Ok(body) => Reply {
                status,
                content_type: JSON.to_owned(),
                body,
                headers: Vec::new(),
            },
            Err(error) => Reply::error(500, &format!("cannot encode the reply: {error}")),
        }
    }

    /// A JSON error: `{"error": {"status": 400, "message": "…"}}`.
    pub fn error(status: u16, message: &str) -> Reply {
        let body = json!({"error": {"status": status, "message": message}});
        Reply {
            status,
            content_type: JSON.to_owned(),
            body: body.to_string().into_bytes(),
            headers: Vec::new(),
        }
    }
}

impl From<BadRequest> for Reply {
    fn from(bad: BadRequest) -> Reply {
        Reply::error(400, &bad.0)
    }
}

/// The routes and what they read.
pub struct Router {
    source: Arc<LiveSource>,
    registry: Registry,
    ops: Operations,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router").field("ops", &self.ops).finish()
    }
}

/// Compares without stopping at the first difference.
fn same(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

const ROUTES: &str = "GET /healthz, GET /readyz, GET /metrics, GET /api/v1/fingerprints, \
GET /api/v1/fingerprints/{fingerprint}, GET /api/v1/report, GET /api/v1/series, \
GET /api/v1/growth, GET /api/v1/snapshot, POST /api/v1/reset, POST /api/v1/reload, \
GET|POST|DELETE /api/v1/capture";

/// Routes anyone may ask: probes carry no token.
const OPEN: &[&str] = &["/healthz", "/readyz"];

impl Router {
    /// Routes over `source`, requiring `ops.token` (if any, as it is at each request) on
    /// everything but `/healthz` and `/readyz`.
    pub fn new(
        source: Arc<LiveSource>,
        metrics: MetricsOptions,
        ops: Operations,
    ) -> Result<Router, prometheus::Error> {
        let registry = StatsCollector::new(source.clone(), metrics).registry()?;
        register_daemon_metrics(&registry)?;
        if let Some(capture) = &ops.capture {
            capture.register(&registry)?;
        }
        Ok(Router {
            source,
            registry,
            ops,
        })
    }

    fn authorized(&self, request: &Request<'_>) -> bool {
        let token = self.ops.token.get();
        let Some(token) = token.as_ref() else {
            return true;
        };
        request
            .authorization
            .and_then(|h| h.strip_prefix("Bearer "))
            .is_some_and(|given| same(given.trim().as_bytes(), token.expose().as_bytes()))
    }

    /// Answers one request.
    pub async fn handle(&self, request: &Request<'_>) -> Reply {
        let path = request.path.trim_end_matches('/');
        let method = if request.method == "HEAD" {
            "GET"
        } else {
            request.method
        };
        if !OPEN.contains(&path) && !self.authorized(request) {
            let mut reply = Reply::error(
                401,
                "missing or wrong bearer token (Authorization: Bearer TOKEN)",
            );
            reply
                .headers
                .push(("WWW-Authenticate", "Bearer realm=\"pgscope\"".to_owned()));
            return reply;
        }
        let result = match (method, path) {
            ("GET", "/healthz") => Ok(self.healthz()),
            ("GET", "/readyz") => Ok(self.ops.readyz().await),
            ("GET", "/metrics") => Ok(self.metrics()),
            ("GET", "/api/v1/fingerprints") => self.fingerprints(request.query),
            ("GET", "/api/v1/report") => self.report(request.query),
            ("GET", "/api/v1/series") => self.series(request.query),
            ("GET", "/api/v1/growth") => Ok(Reply::json(200, &self.source.growth.report())),
            ("GET", "/api/v1/snapshot") => self.snapshot(request.query),
            ("POST", "/api/v1/reset") => self.reset(request.query),
            (_, "/api/v1/capture") if matches!(method, "GET" | "POST" | "DELETE") => {
                Ok(super::capture::handle(self.ops.capture.as_ref(), method, request.body).await)
            }
            ("POST", "/api/v1/reload") => match Params::parse(request.query, &[]) {
                Ok(_) => Ok(self.ops.reload().await),
                Err(bad) => Err(bad),
            },
            ("GET", p) if p.starts_with("/api/v1/fingerprints/") => {
                self.detail(&p["/api/v1/fingerprints/".len()..], request.query)
            }
            (_, p) if self.known(p) => Ok(Reply::error(
                405,
                &format!(
                    "method {} not allowed on {p}; routes: {ROUTES}",
                    request.method
                ),
            )),
            (_, p) => Ok(Reply::error(
                404,
                &format!("no route {p}; routes: {ROUTES}"),
            )),
        };
        result.unwrap_or_else(Reply::from)
    }

    fn known(&self, path: &str) -> bool {
        [
            "/healthz",
            "/readyz",
            "/metrics",
            "/api/v1/fingerprints",
            "/api/v1/report",
            "/api/v1/series",
            "/api/v1/growth",
            "/api/v1/snapshot",
            "/api/v1/reset",
            "/api/v1/reload",
            "/api/v1/capture",
        ]
        .contains(&path)
            || path.starts_with("/api/v1/fingerprints/")
    }

    fn healthz(&self) -> Reply {
        let meta = self.source.meta();
        let growth = self.source.growth.report();
        let failing: Vec<_> = growth
            .databases
            .iter()
            .filter(|d| !d.ok)
            .map(|d| json!({"database": d.database, "error": d.error, "failures": d.failures}))
            .collect();
        let snapshots = self.source.snapshots.report();
        let recorder_status = if snapshots.status == "degraded" {
            "degraded"
        } else {
            "ok"
        };
        Reply::json(
            200,
            &json!({
                "status": "ok",
                "version": env!("CARGO_PKG_VERSION"),
                "reload": self.ops.last_reload(),
                "recorder": {
                    "enabled": meta.enabled,
                    "status": recorder_status,
                    "error": snapshots.error,
                    "entries": meta.entries,
                    "max_entries": meta.max_entries,
                    "evictions": meta.evictions,
                    "snapshots": snapshots,
                },
                "growth": {
                    "enabled": growth.enabled,
                    "status": if !growth.enabled { "off" } else if failing.is_empty() { "ok" } else { "degraded" },
                    "rounds": growth.rounds,
                    "sampled_at_ms": growth.sampled_at_ms,
                    "flags": growth.flags.len(),
                    "failing": failing,
                },
            }),
        )
    }

    fn metrics(&self) -> Reply {
        match encode_text(&self.registry) {
            Ok(text) => Reply {
                status: 200,
                content_type: text_content_type(),
                body: text.into_bytes(),
                headers: Vec::new(),
            },
            Err(error) => Reply::error(500, &format!("cannot encode metrics: {error}")),
        }
    }

    fn fingerprints(&self, query: Option<&str>) -> Result<Reply, BadRequest> {
        let params = Params::parse(
            query,
            &["sort", "limit", "database", "user", "application", "window"],
        )?;
        let meta = self.source.meta();
        let query = params.query(&meta.windows, DEFAULT_LIMIT)?;
        let (rows, totals) = view::rows(self.source.as_ref(), &query, false);
        Ok(Reply::json(
            200,
            &json!({
                "span": query.span.describe(&meta.windows),
                "sort": query.sort.as_str(),
                "totals": totals,
                "fingerprints": rows,
            }),
        ))
    }

    fn detail(&self, fingerprint: &str, query: Option<&str>) -> Result<Reply, BadRequest> {
        let params = Params::parse(query, &["database", "user", "application", "window"])?;
        let Some(id) = parse_fingerprint(fingerprint) else {
            return Err(BadRequest(format!(
                "{fingerprint:?} is not a fingerprint (16 hex digits, as `pgscope fingerprint` prints)"
            )));
        };
        let span = params.span(&self.source.meta().windows)?;
        Ok(
            match view::detail(self.source.as_ref(), id, &params.filter(), span) {
                Some(detail) => Reply::json(200, &detail),
                None => Reply::error(
                    404,
                    &format!("no recorded query has fingerprint {fingerprint}"),
                ),
            },
        )
    }

    fn report(&self, query: Option<&str>) -> Result<Reply, BadRequest> {
        let params = Params::parse(
            query,
            &["sort", "limit", "database", "user", "application", "window"],
        )?;
        let query = params.query(&self.source.meta().windows, DEFAULT_REPORT_LIMIT)?;
        let mut report = report::build(self.source.as_ref(), &query);
        let mut growth = self.source.growth.report();
        if let Some(database) = &query.filter.database {
            growth.flags.retain(|f| &f.database == database);
        }
        report.growth = Some(growth);
        Ok(Reply::json(200, &report))
    }

    fn series(&self, query: Option<&str>) -> Result<Reply, BadRequest> {
        let params = Params::parse(query, &["database", "user", "application", "group"])?;
        let grouping = match params.get("group") {
            None | Some("key") => Grouping::PerKey,
            Some("database") => Grouping::PerDatabase,
            Some(other) => {
                return Err(BadRequest(format!(
                    "bad group {other:?}: expected key or database"
                )))
            }
        };
        let series = view::series(self.source.as_ref(), &params.filter(), grouping);
        Ok(Reply::json(200, &json!({ "series": series })))
    }

    fn snapshot(&self, query: Option<&str>) -> Result<Reply, BadRequest> {
        Params::parse(query, &[])?;
        let mut body = Vec::new();
        Ok(match write_snapshot(self.source.as_ref(), &mut body) {
            Ok(()) => Reply {
                status: 200,
                content_type: JSON.to_owned(),
                body,
                headers: Vec::new(),
            },
            Err(error) => Reply::error(500, &format!("cannot write the snapshot: {error}")),
        })
    }

    fn reset(&self, query: Option<&str>) -> Result<Reply, BadRequest> {
        Params::parse(query, &[])?;
        self.source.recorder.reset();
        let meta = self.source.meta();
        Ok(Reply::json(
            200,
            &json!({"reset": true, "since": pgscope_exporters::time::rfc3339(meta.since_ms)}),
        ))
    }
}
