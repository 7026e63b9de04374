//! The monitor's side of the catalog: its own `tokio-postgres` connection to one database, and
//! the one read-only query that samples the sizes of a list of tables.
//!
//! Table names are the ones the fingerprint crate extracted from traffic (`orders`,
//! `public.orders`); `to_regclass` resolves them through the monitor connection's
//! `search_path`, exactly as an unqualified name in the client's query would be for a client
//! with the default path. Names that could not be an identifier are not sent at all.

use std::time::Duration;

use std::sync::Arc;

use pgscope_config::{GrowthConfig, SslMode, SslNegotiation};
use tokio_postgres::config::{SslMode as PgSslMode, SslNegotiation as PgSslNegotiation};
use tokio_postgres::{Client, NoTls};

/// Why a catalog operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// `growth.dsn` is not a connection URL tokio-postgres accepts.
    #[error("growth.dsn is not a valid connection URL: {0}")]
    Dsn(tokio_postgres::Error),
    /// Connecting or querying failed.
    #[error("{0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// Connecting took longer than the query timeout.
    #[error("timed out connecting to {0}")]
    Timeout(String),
}

/// One table's sizes at one instant.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TableSize {
    /// The name as referenced by queries.
    pub name: String,
    /// What it resolved to (`public.orders`); `None` when it resolves to no relation.
    pub resolved: Option<String>,
    /// `pg_relation_size`, bytes.
    pub bytes: u64,
    /// `pg_class.relpages`.
    pub relpages: u64,
    /// `n_live_tup` of the statistics collector.
    pub live_tuples: u64,
    /// Sequential scans started on it, since the statistics were reset.
    pub seq_scans: u64,
    /// Index scans started on it.
    pub index_scans: u64,
}

/// The per-OID statistics functions rather than the `pg_stat_all_tables` view: the view groups
/// over every relation of the database, so joining it costs the server ~70 ms per sample in a
/// database of 10,000 tables however few are referenced (`benches/README.md`, "Growth").
/// `idx_scan` is the view's definition: the sum over the table's indexes.
const SIZES: &str = "\
SELECT t.name,
       c.oid::regclass::text,
       coalesce(pg_relation_size(c.oid), 0)::int8,
       coalesce(c.relpages, 0)::int8,
       coalesce(pg_stat_get_live_tuples(c.oid), 0)::int8,
       coalesce(pg_stat_get_numscans(c.oid), 0)::int8,
       coalesce((SELECT sum(pg_stat_get_numscans(i.indexrelid))
                   FROM pg_index i WHERE i.indrelid = c.oid), 0)::int8
  FROM unnest($1::text[]) AS t(name)
  LEFT JOIN pg_class c ON c.oid = to_regclass(t.name)";

/// Whether `name` can be passed to `to_regclass` without a syntax error: dotted identifiers,
/// each plain (letters, digits, `_`, `$`) or double-quoted without embedded quotes.
pub fn plausible_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && name.split('.').count() <= 3
        && name.split('.').all(|part| {
            let quoted = part.len() >= 3
                && part.starts_with('"')
                && part.ends_with('"')
                && !part[1..part.len() - 1].contains('"');
            let plain = !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '$');
            quoted || plain
        })
}

/// How the monitor reaches the upstream server: pgscope's own upstream address and TLS settings,
/// so the monitor connects (and verifies the server) exactly as the proxy does.
#[derive(Debug, Clone)]
pub struct Target {
    /// A host name, IP address or Unix-socket directory.
    pub host: String,
    /// The port.
    pub port: u16,
    /// The upstream `sslmode`.
    pub ssl_mode: SslMode,
    /// The upstream `sslnegotiation`.
    pub negotiation: SslNegotiation,
    /// The proxy's rustls client configuration (verifier, client certificate); `None` when TLS
    /// never applies.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Target {
    /// A plaintext TCP target (`sslmode=disable`).
    pub fn plain(host: &str, port: u16) -> Target {
        Target {
            host: host.to_owned(),
            port,
            ssl_mode: SslMode::Disable,
            negotiation: SslNegotiation::Postgres,
            tls: None,
        }
    }
}

/// The connection settings for `database` on `target`. A `growth.dsn` that names a host (or
/// an `sslmode`) keeps its own; otherwise the upstream's apply.
pub fn connect_config(
    growth: &GrowthConfig,
    target: &Target,
    database: &str,
) -> Result<tokio_postgres::Config, CatalogError> {
    let dsn_names_host = growth.dsn.as_ref().is_some_and(|dsn| {
        dsn.expose()
            .parse::<tokio_postgres::Config>()
            .is_ok_and(|config| !config.get_hosts().is_empty())
    });
    let mut config = match &growth.dsn {
        Some(dsn) => dsn
            .expose()
            .parse::<tokio_postgres::Config>()
            .map_err(CatalogError::Dsn)?,
        None => {
            let mut config = tokio_postgres::Config::new();
            config.user(&growth.user);
            if let Some(password) = &growth.password {
                config.password(password.expose());
            }
            config
        }
    };
    if !dsn_names_host {
        config.host(&target.host);
        if target.tls.is_some() {
            // tokio-postgres knows no `allow`; the closest is to try TLS first.
            config.ssl_mode(match target.ssl_mode {
                SslMode::Disable => PgSslMode::Disable,
                SslMode::Allow | SslMode::Prefer => PgSslMode::Prefer,
                SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => PgSslMode::Require,
            });
            if target.negotiation == SslNegotiation::Direct {
                config.ssl_negotiation(PgSslNegotiation::Direct);
            }
        } else {
            config.ssl_mode(PgSslMode::Disable);
        }
    }
    if config.get_ports().is_empty() {
        config.port(target.port);
    }
    if config.get_user().is_none() {
        config.user(&growth.user);
    }
    let timeout_ms = growth.query_timeout.as_millis().max(1);
    config
        .dbname(database)
        .application_name("pgscope-growth")
        .connect_timeout(growth.query_timeout.max(Duration::from_secs(1)))
        .options(format!(
            "-c statement_timeout={timeout_ms} -c lock_timeout={timeout_ms} \
             -c default_transaction_read_only=on -c plan_cache_mode=force_generic_plan"
        ));
    Ok(config)
}

/// A live monitor connection to one database.
#[derive(Debug)]
pub struct Catalog {
    client: Client,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Catalog {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Catalog {
    /// Connects with `config`, giving up after `timeout`.
    pub async fn connect(
        config: &tokio_postgres::Config,
        timeout: Duration,
        tls: Option<&Arc<rustls::ClientConfig>>,
    ) -> Result<Catalog, CatalogError> {
        let what = format!(
            "database {:?}",
            config.get_dbname().unwrap_or_default().to_owned()
        );
        let task = match tls {
            Some(tls) => {
                let tls = tokio_postgres_rustls::MakeRustlsConnect::new((**tls).clone());
                let (client, connection) = tokio::time::timeout(timeout, config.connect(tls))
                    .await
                    .map_err(|_| CatalogError::Timeout(what))??;
                (client, Catalog::drive(connection))
            }
            None => {
                let (client, connection) = tokio::time::timeout(timeout, config.connect(NoTls))
                    .await
                    .map_err(|_| CatalogError::Timeout(what))??;
                (client, Catalog::drive(connection))
            }
        };
        let (client, task) = task;
        Ok(Catalog { client, task })
    }

    /// Runs a connection's IO until it ends.
    fn drive<S, T>(connection: tokio_postgres::Connection<S, T>) -> tokio::task::JoinHandle<()>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                log::debug!("growth monitor connection ended: {error}");
            }
        })
    }

    /// Whether the server closed the connection.
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// The sizes of `names` (implausible names are skipped, unknown ones come back unresolved).
    pub async fn sizes(&self, names: &[String]) -> Result<Vec<TableSize>, CatalogError> {
        let names: Vec<&str> = names
            .iter()
            .map(String::as_str)
            .filter(|n| plausible_name(n))
            .collect();
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self.client.query(SIZES, &[&names]).await?;
        let count = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(rows
            .iter()
            .map(|row| TableSize {
                name: row.get(0),
                resolved: row.get(1),
                bytes: count(row.get(2)),
                relpages: count(row.get(3)),
                live_tuples: count(row.get(4)),
                seq_scans: count(row.get(5)),
                index_scans: count(row.get(6)),
            })
            .collect())
    }

    /// Runs `sql` (one or more statements) with the simple protocol, discarding rows.
    pub async fn simple(&self, sql: &str) -> Result<(), CatalogError> {
        self.client.batch_execute(sql).await?;
        Ok(())
    }

    /// The root `Plan` object of an `EXPLAIN (FORMAT JSON) …` statement (`Null` if absent).
    pub async fn explain_statement(&self, sql: &str) -> Result<serde_json::Value, CatalogError> {
        let rows = self.client.simple_query(sql).await?;
        let text = rows.iter().find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_owned),
            _ => None,
        });
        Ok(text
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v.get(0)?.get("Plan").cloned())
            .unwrap_or(serde_json::Value::Null))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plausible_names_are_identifiers_and_dotted_identifiers() {
        for ok in [
            "orders",
            "public.orders",
            "\"Order Items\"",
            "db.s.t",
            "t$1",
        ] {
            assert!(plausible_name(ok), "{ok}");
        }
        for bad in ["", "a..b", "a;drop", "\"x\"y\"", "a.b.c.d", "a b", "\"\""] {
            assert!(!plausible_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_dsn_supplies_credentials_and_the_upstream_fills_the_rest() {
        let growth = GrowthConfig {
            dsn: Some(pgscope_config::Secret::new("postgres://mon:pw@/other")),
            ..GrowthConfig::default()
        };
        let config = connect_config(&growth, &Target::plain("127.0.0.1", 5544), "app").unwrap();
        assert_eq!(config.get_user(), Some("mon"));
        assert_eq!(config.get_password(), Some(&b"pw"[..]));
        assert_eq!(config.get_dbname(), Some("app"));
        assert_eq!(config.get_ports(), &[5544]);
        assert_eq!(config.get_application_name(), Some("pgscope-growth"));
    }

    #[test]
    fn without_a_dsn_the_user_and_password_keys_are_used() {
        let growth = GrowthConfig {
            user: "watcher".to_owned(),
            password: Some(pgscope_config::Secret::new("x")),
            ..GrowthConfig::default()
        };
        let config = connect_config(&growth, &Target::plain("db", 5432), "app").unwrap();
        assert_eq!(config.get_user(), Some("watcher"));
        assert_eq!(config.get_password(), Some(&b"x"[..]));
        assert!(config
            .get_options()
            .unwrap()
            .contains("statement_timeout=2000"));
    }
}
