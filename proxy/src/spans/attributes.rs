//! What a query's span says: its name and the OpenTelemetry semantic-convention attributes
//! of a database client span (PostgreSQL), plus pgscope's own under `pgscope.`.
//!
//! | attribute | value |
//! |---|---|
//! | `db.system.name` | `postgresql` |
//! | `db.namespace` | the connection's database |
//! | `db.operation.name` | the operation (`SELECT`, `CREATE TABLE`, …), unless unknown |
//! | `db.collection.name` | the table, when the statement names exactly one |
//! | `db.query.summary` | the analysis's summary (`SELECT users orders`), unless empty or `OTHER` |
//! | `db.query.text` | the normalized text — literals replaced by `$n` — cut as the recorder cuts its texts, to `recorder.max_query_text` |
//! | `server.address`, `server.port` | the upstream server |
//! | `db.response.returned_rows` | rows sent to the client: the count of a `SELECT`, `FETCH`, `COPY … TO STDOUT` or a DML statement with `RETURNING` |
//! | `db.response.status_code`, `error.type` | the SQLSTATE of an `ErrorResponse` |
//! | `pgscope.fingerprint` | the fingerprint, 16 hex digits |
//! | `pgscope.affected_rows` | rows written: the count of `INSERT`, `UPDATE`, `DELETE`, `MERGE`, `COPY … FROM`, … |
//! | `pgscope.application_name` | the connection's `application_name`, when set |
//! | `pgscope.batched` | `true` for a statement of a multi-statement simple `Query`: its span covers its arrival gap, not a latency observed apart |
//! | `pgscope.batch.duration`, `pgscope.batch.statements` | on a batched statement: the whole `Query`'s time in seconds (written upstream → `ReadyForQuery`: the batch's latency, the same on each of its statements) and how many statements it held |
//! | `pgscope.skipped` | `true` for a request the server never ran (an earlier error in its pipeline) |
//!
//! The first nine — everything up to `server.port`, which includes the convention's
//! sampling-relevant `db.namespace`, `db.query.summary`, `db.query.text` and `server.address` —
//! are known when the span starts and are what the sampler is given ([`at_start`]); the rest
//! depend on the outcome ([`at_end`]). The deprecated `db.user` is not exported.
//!
//! The span is named after `db.query.summary`, falling back to `{db.operation.name}
//! {db.collection.name}`, then `{db.operation.name}`, then `postgresql`.

use opentelemetry::KeyValue;
use pgscope_config::Upstream;
use pgscope_fingerprint::{Analysis, Operation};

use super::shapes::SpanShape;
use crate::observer::{Outcome, QueryFinished};

/// The span's name until the sampler has kept it, and its last-resort name.
pub(crate) const FALLBACK_NAME: &str = "postgresql";

/// The upstream server of every span (`server.address`, `server.port`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddress {
    /// Host name or IP address (IPv6 without brackets).
    pub address: String,
    /// TCP port, when known.
    pub port: Option<u16>,
}

impl ServerAddress {
    /// The address of `upstream` as the pump dials it: its host (an IPv6 address without
    /// brackets) and port, or for a Unix socket its path and no port.
    pub fn of(upstream: &Upstream) -> ServerAddress {
        match upstream.socket_path() {
            Some(path) => ServerAddress {
                address: path.display().to_string(),
                port: None,
            },
            None => ServerAddress {
                address: upstream.host.clone(),
                port: Some(upstream.port),
            },
        }
    }
}

impl ServerAddress {
    /// `server.address` and `server.port`, with the address shared.
    pub(crate) fn attributes(&self) -> Vec<KeyValue> {
        let mut kvs = vec![KeyValue::new(
            "server.address",
            opentelemetry::Value::from(std::sync::Arc::<str>::from(self.address.as_str())),
        )];
        if let Some(port) = self.port {
            kvs.push(KeyValue::new("server.port", i64::from(port)));
        }
        kvs
    }
}

/// The span name for `analysis` (see the module documentation).
pub(crate) fn span_name(analysis: &Analysis) -> String {
    if let Some(summary) = summary(analysis) {
        return summary.to_owned();
    }
    match (operation(analysis), single_table(analysis)) {
        (Some(op), Some(table)) => format!("{op} {table}"),
        (Some(op), None) => op.to_owned(),
        (None, _) => FALLBACK_NAME.to_owned(),
    }
}

/// Most attributes a span has: the nine of [`at_start`], then at most six of [`at_end`] —
/// returned and affected rows (a DML statement with `RETURNING`), the two of an error, batched
/// and application (an error and a skip exclude each other). The vector is allocated at this
/// size once per span; 16 would take mimalloc off its small-object fast path (1 KiB and under).
const MAX_ATTRIBUTES: usize = 15;

/// The attributes known when `query`'s span starts: the system, the database, the shape's
/// (shared) and the server's. (The specification makes them the sampler's inputs; pgscope's
/// samplers read none, see `SamplerSpec`, so they are built once a span is kept.)
pub(crate) fn at_start(
    query: &QueryFinished,
    shape: &SpanShape,
    server: &[KeyValue],
) -> Vec<KeyValue> {
    let mut attributes = Vec::with_capacity(MAX_ATTRIBUTES);
    attributes.push(KeyValue::new("db.system.name", "postgresql"));
    attributes.push(KeyValue::new(
        "db.namespace",
        query.connection.database.clone(),
    ));
    attributes.extend(shape.attributes.iter().cloned());
    attributes.extend(server.iter().cloned());
    attributes
}

/// Appends the attributes of `query`'s outcome and pgscope's own to `attributes`; `normalized`
/// is the statement's whole normalized text.
pub(crate) fn at_end(query: &QueryFinished, normalized: &str, attributes: &mut Vec<KeyValue>) {
    if let Some(rows) = query.rows {
        let rows = i64::try_from(rows).unwrap_or(i64::MAX);
        let (returned, affected) = row_kinds(&query.command, normalized);
        if returned {
            attributes.push(KeyValue::new("db.response.returned_rows", rows));
        }
        if affected {
            attributes.push(KeyValue::new("pgscope.affected_rows", rows));
        }
    }
    match &query.outcome {
        Outcome::Error { sqlstate } => {
            let code = sqlstate_text(sqlstate);
            attributes.push(KeyValue::new("db.response.status_code", code.clone()));
            attributes.push(KeyValue::new("error.type", code));
        }
        Outcome::Skipped => attributes.push(KeyValue::new("pgscope.skipped", true)),
        Outcome::Ok => {}
    }
    if query.batched {
        attributes.push(KeyValue::new("pgscope.batched", true));
        if let Some(batch) = query.batch {
            attributes.push(KeyValue::new(
                "pgscope.batch.duration",
                batch.duration.as_secs_f64(),
            ));
            attributes.push(KeyValue::new(
                "pgscope.batch.statements",
                i64::from(batch.statements),
            ));
        }
    }
    let application = &query.connection.application_name;
    if !application.is_empty() {
        attributes.push(KeyValue::new(
            "pgscope.application_name",
            application.clone(),
        ));
    }
}

/// Whether the row count of a command tag `command` (its verb) counts rows sent to the client
/// (`db.response.returned_rows`), rows written (`pgscope.affected_rows`), or both (DML with
/// `RETURNING`). `normalized` is the statement's normalized (lower-case) text.
pub(crate) fn row_kinds(command: &str, normalized: &str) -> (bool, bool) {
    match command {
        "SELECT" | "FETCH" => (true, false),
        "COPY" => {
            let to_client = normalized.contains(" to stdout");
            (to_client, !to_client)
        }
        "INSERT" | "UPDATE" | "DELETE" | "MERGE" => (normalized.contains(" returning "), true),
        _ => (false, true),
    }
}

/// A SQLSTATE as text (the five ASCII characters the server sent; anything else replaced).
pub(crate) fn sqlstate_text(sqlstate: &[u8; 5]) -> String {
    String::from_utf8_lossy(sqlstate).into_owned()
}

/// The summary, unless it says nothing (empty, or just `OTHER` for an unknown statement).
pub(crate) fn summary(analysis: &Analysis) -> Option<&str> {
    let summary = analysis.summary.as_str();
    (!summary.is_empty() && summary != Operation::Other.as_str()).then_some(summary)
}

pub(crate) fn operation(analysis: &Analysis) -> Option<&'static str> {
    (analysis.operation != Operation::Other).then(|| analysis.operation.as_str())
}

pub(crate) fn single_table(analysis: &Analysis) -> Option<&str> {
    match analysis.tables.as_slice() {
        [table] => Some(table.as_str()),
        _ => None,
    }
}
