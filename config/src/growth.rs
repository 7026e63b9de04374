//! The `[growth]` section: the table-size monitor and the growth detector's thresholds.
//!
//! The monitor opens its own connections to the upstream (one per database seen in traffic), so
//! it needs credentials of its own: pgscope never learns the clients' passwords. `growth.dsn`
//! (a `postgres://` URL without a database; the database is taken from the traffic) wins over
//! `growth.user` / `growth.password`.

use std::time::Duration;

use crate::parse::{text, Reason};
use crate::raw::RawValue;
use crate::Secret;

/// Settings of growth detection (`[growth]` in the file, `PGSCOPE_GROWTH_*`).
#[derive(Debug, Clone, PartialEq)]
pub struct GrowthConfig {
    /// Whether the monitor samples table sizes at all.
    pub enabled: bool,
    /// Catalog sampling period (at least 1 s).
    pub interval: Duration,
    /// Role the monitor connects as (default `postgres`).
    pub user: String,
    /// That role's password, if the server asks for one.
    pub password: Option<Secret>,
    /// A full `postgres://` connection URL instead of user/password (host and port default to
    /// the upstream's; its database, if any, is replaced by each database seen).
    pub dsn: Option<Secret>,
    /// Size ratio a table must reach over the windows to blame its growth (> 1).
    pub min_growth: f64,
    /// Latency elasticity to table size at or above which a fingerprint is flagged (> 0).
    pub elasticity: f64,
    /// Least rise of the p95, ms, for "slower without growth" (≥ 0).
    pub min_slowdown_ms: f64,
    /// `statement_timeout` of the monitor's own queries and EXPLAINs.
    pub query_timeout: Duration,
}

impl Default for GrowthConfig {
    /// On, every 60 s, as `postgres` with no password, growth ≥ 1.5×, elasticity ≥ 0.5, a
    /// slowdown of at least 1 ms, 2 s statement timeout.
    fn default() -> Self {
        GrowthConfig {
            enabled: true,
            interval: Duration::from_secs(60),
            user: "postgres".to_owned(),
            password: None,
            dsn: None,
            min_growth: 1.5,
            elasticity: 0.5,
            min_slowdown_ms: 1.0,
            query_timeout: Duration::from_secs(2),
        }
    }
}

const INTERVAL: &str = "expected a duration of at least 1s, like \"60s\" or \"5m\"";
const GROWTH: &str = "expected a number greater than 1, like 1.5";
const ELASTICITY: &str = "expected a number greater than 0, like 0.5";
const MILLISECONDS: &str = "expected a number of milliseconds, 0 or more, like 1";
const DSN: &str = "expected a URL like \"postgres://user:password@host:5432\"";
const ROLE: &str = "expected a role name";

/// A sampling interval of at least one second.
pub(crate) fn interval(value: &RawValue) -> Result<Duration, Reason> {
    let d = crate::parse::duration(value).map_err(|_| Reason::from(INTERVAL))?;
    if d < Duration::from_secs(1) {
        return Err(Reason::from(INTERVAL));
    }
    Ok(d)
}

fn number(value: &RawValue, expected: &str) -> Result<f64, Reason> {
    let parsed = match value {
        RawValue::Toml(toml::Value::Float(f)) => Some(*f),
        RawValue::Toml(toml::Value::Integer(n)) => Some(*n as f64),
        other => text(other, expected)?.trim().parse::<f64>().ok(),
    };
    parsed
        .filter(|x| x.is_finite())
        .ok_or_else(|| Reason::from(expected))
}

/// A growth ratio greater than 1.
pub(crate) fn growth(value: &RawValue) -> Result<f64, Reason> {
    number(value, GROWTH)
        .ok()
        .filter(|x| *x > 1.0)
        .ok_or_else(|| Reason::from(GROWTH))
}

/// An elasticity threshold greater than 0.
pub(crate) fn elasticity(value: &RawValue) -> Result<f64, Reason> {
    number(value, ELASTICITY)
        .ok()
        .filter(|x| *x > 0.0)
        .ok_or_else(|| Reason::from(ELASTICITY))
}

/// A non-negative number of milliseconds.
pub(crate) fn milliseconds(value: &RawValue) -> Result<f64, Reason> {
    number(value, MILLISECONDS)
        .ok()
        .filter(|x| *x >= 0.0)
        .ok_or_else(|| Reason::from(MILLISECONDS))
}

/// A `postgres://` or `postgresql://` URL.
pub(crate) fn dsn(value: &RawValue) -> Result<Secret, Reason> {
    let url = text(value, DSN)?.trim();
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .ok_or_else(|| Reason::from(DSN))?;
    if rest.contains(char::is_whitespace) {
        return Err(Reason::from(DSN));
    }
    Ok(Secret::new(url))
}

/// A role name: non-empty, no NUL.
pub(crate) fn role(value: &RawValue) -> Result<String, Reason> {
    let name = text(value, ROLE)?;
    if name.is_empty() || name.contains('\0') {
        return Err(Reason::from(ROLE));
    }
    Ok(name.to_owned())
}

/// A password: a non-empty string without NUL.
pub(crate) fn password(value: &RawValue) -> Result<Secret, Reason> {
    const PASSWORD: &str = "expected a non-empty password without NUL";
    let text = text(value, PASSWORD)?;
    if text.is_empty() || text.contains('\0') {
        return Err(Reason::from(PASSWORD));
    }
    Ok(Secret::new(text))
}
