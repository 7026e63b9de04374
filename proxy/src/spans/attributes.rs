//! What a query's span says: its name and the OpenTelemetry semantic-convention attributes
//! of a database client span (PostgreSQL), plus pgscope's own.
//!
//! | attribute | value |
//! |---|---|
//! | `db.system.name` | `postgresql` |
//! | `db.namespace` | the connection's database |
//! | `db.operation.name` | the operation (`SELECT`, `CREATE TABLE`, …), unless unknown |
//! | `db.collection.name` | the table, when the statement names exactly one |
//! | `db.query.summary` | the analysis's summary (`SELECT users orders`), unless empty or `OTHER` |
//! | `db.query.text` | the normalized text — literals replaced by `$n` — cut to [`MAX_QUERY_TEXT`] |
//! | `server.address`, `server.port` | the upstream server |
//! | `db.response.returned_rows` | the command tag's row count, when it has one |
//! | `db.response.status_code`, `error.type` | the SQLSTATE of an `ErrorResponse` |
//! | `pgscope.fingerprint` | the fingerprint, 16 hex digits |
//! | `db.user` | the connection's user |
//! | `application_name` | the connection's `application_name`, when set |
//!
//! The span is named after `db.query.summary`, falling back to `{db.operation.name}
//! {db.collection.name}`, then `{db.operation.name}`, then `postgresql`.

use opentelemetry::KeyValue;
use pgscope_fingerprint::{Analysis, Operation};

use super::shapes::Shape;
use crate::event::{Outcome, QueryFinished};

/// The span's name until the sampler has kept it, and its last-resort name.
pub(crate) const FALLBACK_NAME: &str = "postgresql";

/// Longest `db.query.text` exported, in bytes: queued spans hold it in memory.
pub const MAX_QUERY_TEXT: usize = 4096;

/// The upstream server of every span (`server.address`, `server.port`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddress {
    /// Host name or IP address (IPv6 without brackets).
    pub address: String,
    /// TCP port, when known.
    pub port: Option<u16>,
}

impl ServerAddress {
    /// Reads `host:port` or `[v6]:port`, as the pump dials it; anything else is taken as a
    /// bare host.
    pub fn parse(upstream: &str) -> ServerAddress {
        let split = upstream
            .rsplit_once(':')
            .and_then(|(host, port)| Some((host, port.parse::<u16>().ok()?)));
        match split {
            Some((host, port)) if !host.is_empty() => ServerAddress {
                address: host
                    .strip_prefix('[')
                    .and_then(|h| h.strip_suffix(']'))
                    .unwrap_or(host)
                    .to_owned(),
                port: Some(port),
            },
            _ => ServerAddress {
                address: upstream.to_owned(),
                port: None,
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

/// Most attributes [`of`] makes: two, the shape's five, the server's two, rows, the two of an
/// error, user and application. The vector is allocated at this size once per span; 16 would
/// take mimalloc off its small-object fast path (1 KiB and under).
const MAX_ATTRIBUTES: usize = 14;

/// The attributes of `query`'s span: the shape's (shared), then the connection's, the
/// server's and the outcome's.
pub(crate) fn of(query: &QueryFinished, shape: &Shape, server: &[KeyValue]) -> Vec<KeyValue> {
    let connection = &query.connection;
    let mut attributes = Vec::with_capacity(MAX_ATTRIBUTES);
    attributes.push(KeyValue::new("db.system.name", "postgresql"));
    attributes.push(KeyValue::new("db.namespace", connection.database.clone()));
    attributes.extend(shape.attributes.iter().cloned());
    attributes.extend(server.iter().cloned());
    if let Some(rows) = query.rows {
        attributes.push(KeyValue::new(
            "db.response.returned_rows",
            i64::try_from(rows).unwrap_or(i64::MAX),
        ));
    }
    if let Outcome::Error { sqlstate } = &query.outcome {
        let code = sqlstate_text(sqlstate);
        attributes.push(KeyValue::new("db.response.status_code", code.clone()));
        attributes.push(KeyValue::new("error.type", code));
    }
    attributes.push(KeyValue::new("db.user", connection.user.clone()));
    if !connection.application_name.is_empty() {
        attributes.push(KeyValue::new(
            "application_name",
            connection.application_name.clone(),
        ));
    }
    attributes
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

/// `text` cut to at most `max` bytes at a character boundary.
pub(crate) fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or_default()
}
