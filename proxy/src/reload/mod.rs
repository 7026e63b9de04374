//! SIGHUP and `POST /api/v1/reload`: re-read the configuration and apply what can change
//! without a restart.
//!
//! A reload reads the config file and the environment again, exactly as `pgscope run` did at
//! start, then:
//!
//! 1. prepares everything that can fail — the upstream connector (its TLS files are read
//!    again, so a renewed `sslrootcert` or `sslcert` is picked up too) and the `[tls]`
//!    certificate, and a new span export pipeline when `[tracing]` changed — so that a bad
//!    value or file changes nothing;
//! 2. applies what can change live: `log_level`, `log_format`, `admin_token` (the next admin
//!    request is checked against the new token), `max_connections` and
//!    `max_startup_connections` (a lower cap closes no session), `connect_timeout` and
//!    `upstream` (new client connections go to the new address; open sessions stay where they
//!    are, as do their cancel requests sent while they live), the `[tls]` files (new
//!    handshakes use them, open connections keep theirs), and, through the composition root
//!    ([`Wiring::apply_reload`]), `[tracing]` (span export rebuilt: on/off, endpoint,
//!    sampling), a raised `recorder.max_fingerprints`, and the `[growth]` thresholds, query
//!    timeout and interval;
//! 3. says in one log line what changed and which changed keys need a restart.
//!
//! A failed reload is logged with the error (naming the key or file) and counted in
//! `pgscope_config_reload_failures_total`; the running configuration stays in force. The last
//! reload's result, either way, is kept for `/healthz` ([`Reloader::last`]) and told to systemd
//! (`RELOADING=1`, then `READY=1` with a `STATUS=` line saying what happened).

mod live;
pub mod logging;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use pgscope_config::{Config, ConfigError, RunArgs, Secret};
use serde::Serialize;

use crate::admission::Admission;
use crate::notify;
use crate::stats::ProxyStats;
use crate::tls::{ServerTls, UpstreamConnector};
use crate::wiring::Wiring;
pub use live::Live;
use logging::LogHandle;

/// What a reload can change in the running process.
#[derive(Debug)]
pub struct Targets {
    /// The client-side TLS settings, when TLS is on.
    pub tls: Option<Arc<ServerTls>>,
    /// The upstream connector new connections use.
    pub connector: Arc<Live<UpstreamConnector>>,
    /// Session and startup caps.
    pub admission: Arc<Admission>,
    /// The logger, when pgscope installed it.
    pub log: Option<LogHandle>,
    /// The bearer token the admin API checks.
    pub admin_token: Arc<Live<Option<Secret>>>,
    /// The observers (span export, recorder, growth monitor), when pgscope built them.
    pub observers: Option<Arc<Wiring>>,
}

/// Why a reload changed nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReloadError {
    /// The file or the environment does not make a valid configuration, or a file it names
    /// (a certificate, a key) cannot be used.
    #[error("{0}")]
    Invalid(String),
    /// The config file itself could not be read.
    #[error("{0}")]
    Unreadable(String),
}

/// The result of one reload, as `/healthz` and `POST /api/v1/reload` report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReloadReport {
    /// When it ran, RFC 3339 UTC.
    pub at: String,
    /// When it ran, milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// Whether it was applied.
    pub ok: bool,
    /// What changed and what needs a restart, when applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Why nothing changed, when not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ReloadReport {
    fn new(result: &Result<String, ReloadError>) -> ReloadReport {
        let at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        ReloadReport {
            at: pgscope_exporters::time::rfc3339(at_ms),
            at_ms,
            ok: result.is_ok(),
            summary: result.as_ref().ok().cloned(),
            error: result.as_ref().err().map(ToString::to_string),
        }
    }
}

/// Reloads the configuration on request. Shared with the signal watch.
#[derive(Debug)]
pub struct Reloader {
    args: RunArgs,
    /// The configuration in force: live keys as last applied, the others as at start.
    running: Mutex<Config>,
    targets: Targets,
    stats: Arc<ProxyStats>,
    last: Mutex<Option<ReloadReport>>,
}

impl Reloader {
    /// A reloader for a process started with `args` and running `config`.
    pub fn new(args: RunArgs, config: Config, targets: Targets, stats: Arc<ProxyStats>) -> Self {
        Reloader {
            args,
            running: Mutex::new(config),
            targets,
            stats,
            last: Mutex::new(None),
        }
    }

    /// Re-reads the configuration (file and environment as they are now) and applies it;
    /// logs, counts and returns the result: what changed (and what needs a restart), or why
    /// nothing did.
    /// A service manager listening on `NOTIFY_SOCKET` is told `RELOADING=1` before and
    /// `READY=1` with the outcome after ([`crate::notify`]).
    pub fn reload(&self) -> Result<String, ReloadError> {
        notify::reloading();
        let result = self.try_reload();
        match &result {
            Ok(summary) => {
                ProxyStats::add(&self.stats.config_reloads, 1);
                log::info!("configuration reloaded: {summary}");
                notify::reloaded(Ok(summary));
            }
            Err(error) => {
                ProxyStats::add(&self.stats.config_reload_failures, 1);
                log::error!("configuration reload failed, nothing changed: {error}");
                notify::reloaded(Err(&error.to_string()));
            }
        }
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(ReloadReport::new(&result));
        result
    }

    /// The last reload's result; `None` before the first.
    pub fn last(&self) -> Option<ReloadReport> {
        self.last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn try_reload(&self) -> Result<String, ReloadError> {
        let fresh = Config::load(&self.args).map_err(|error| match error {
            ConfigError::ReadFile { .. } => ReloadError::Unreadable(error.to_string()),
            other => ReloadError::Invalid(other.to_string()),
        })?;
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        let mut applied: Vec<String> = Vec::new();

        // 1. Everything that can fail, before anything changes.
        // Embedded mode (no upstream at start) keeps its throw-away cluster.
        let connector = match (&running.upstream, &fresh.upstream) {
            (Some(_), Some(upstream)) => Some(
                UpstreamConnector::new(upstream, fresh.connect_timeout)
                    .map_err(|e| ReloadError::Invalid(format!("upstream: {e}")))?,
            ),
            _ => None,
        };
        match &self.targets.tls {
            Some(tls) if fresh.tls.mode == running.tls.mode => {
                tls.reload(&fresh.tls)
                    .map_err(|e| ReloadError::Invalid(e.to_string()))?;
                applied.push("[tls] files re-read".to_owned());
            }
            _ => {}
        }
        let observers = match &self.targets.observers {
            Some(wiring) => Some((
                wiring,
                wiring
                    .prepare_reload(&running, &fresh)
                    .map_err(|e| ReloadError::Invalid(e.to_string()))?,
            )),
            None => None,
        };

        // 2. Apply: nothing below fails.
        if let Some(connector) = connector {
            let before = self.targets.connector.get().label().to_owned();
            if before != connector.label() {
                applied.push(format!("upstream {before} -> {}", connector.label()));
            }
            if running.connect_timeout != fresh.connect_timeout {
                applied.push(format!(
                    "connect_timeout {:?} -> {:?}",
                    running.connect_timeout, fresh.connect_timeout
                ));
            }
            self.targets.connector.set(Arc::new(connector));
            running.upstream = fresh.upstream.clone();
            running.connect_timeout = fresh.connect_timeout;
        }
        if (running.max_connections, running.max_startup_connections)
            != (fresh.max_connections, fresh.max_startup_connections)
        {
            self.targets
                .admission
                .set_limits(fresh.max_connections, fresh.max_startup_connections);
            applied.push(format!(
                "max_connections {} -> {}, max_startup_connections {} -> {}",
                running.max_connections,
                fresh.max_connections,
                running.max_startup_connections,
                fresh.max_startup_connections
            ));
            running.max_connections = fresh.max_connections;
            running.max_startup_connections = fresh.max_startup_connections;
        }
        if (running.log_level, running.log_format) != (fresh.log_level, fresh.log_format) {
            if let Some(log) = &self.targets.log {
                log.set(fresh.log_level, fresh.log_format);
                if running.log_level != fresh.log_level {
                    applied.push(format!(
                        "log_level {} -> {}",
                        running.log_level, fresh.log_level
                    ));
                }
                if running.log_format != fresh.log_format {
                    applied.push(format!(
                        "log_format {} -> {}",
                        running.log_format, fresh.log_format
                    ));
                }
                running.log_level = fresh.log_level;
                running.log_format = fresh.log_format;
            }
        }
        if running.admin_token != fresh.admin_token {
            self.targets
                .admin_token
                .set(Arc::new(fresh.admin_token.clone()));
            applied.push(
                match (&running.admin_token, &fresh.admin_token) {
                    (None, Some(_)) => "admin_token set",
                    (Some(_), None) => "admin_token removed (the admin API is open)",
                    _ => "admin_token changed",
                }
                .to_owned(),
            );
            running.admin_token = fresh.admin_token.clone();
        }
        if running.tls.mode == fresh.tls.mode {
            running.tls = fresh.tls.clone();
        }
        if let Some((wiring, prepared)) = observers {
            wiring.apply_reload(prepared, &mut running, &fresh, &mut applied);
        }

        // 3. Say what still differs: those keys need a restart.
        let restart = restart_keys(&running, &fresh);
        let mut summary = if applied.is_empty() {
            "nothing changed that applies live".to_owned()
        } else {
            applied.join("; ")
        };
        if !restart.is_empty() {
            summary.push_str(&format!(
                "; changed but needing a restart: {}",
                restart.join(", ")
            ));
        }
        Ok(summary)
    }
}

/// The keys whose new value differs from the one in force.
fn restart_keys(running: &Config, fresh: &Config) -> Vec<&'static str> {
    let (r, f) = (&running.recorder, &fresh.recorder);
    let (g, h) = (&running.growth, &fresh.growth);
    let checks = [
        ("listen", running.listen != fresh.listen),
        ("upstream", running.upstream != fresh.upstream),
        ("admin", running.admin != fresh.admin),
        (
            "max_message_size",
            running.max_message_size != fresh.max_message_size,
        ),
        (
            "pipeline_timing",
            running.pipeline_timing != fresh.pipeline_timing,
        ),
        (
            "startup_timeout",
            running.startup_timeout != fresh.startup_timeout,
        ),
        (
            "shutdown_grace",
            running.shutdown_grace != fresh.shutdown_grace,
        ),
        (
            "handover_grace",
            running.handover_grace != fresh.handover_grace,
        ),
        ("threads", running.threads != fresh.threads),
        ("log_level", running.log_level != fresh.log_level),
        ("log_format", running.log_format != fresh.log_format),
        ("admin_token", running.admin_token != fresh.admin_token),
        ("tls.mode", running.tls.mode != fresh.tls.mode),
        ("recorder.enabled", r.enabled != f.enabled),
        (
            "recorder.max_fingerprints (lowering it would evict recorded entries)",
            r.max_fingerprints != f.max_fingerprints,
        ),
        (
            "recorder.max_query_text",
            r.max_query_text != f.max_query_text,
        ),
        ("recorder.window", r.window != f.window),
        ("recorder.windows", r.windows != f.windows),
        ("recorder.state_dir", r.state_dir != f.state_dir),
        (
            "recorder.snapshot_interval",
            r.snapshot_interval != f.snapshot_interval,
        ),
        ("recorder.top_k", r.top_k != f.top_k),
        ("[tracing]", running.tracing != fresh.tracing),
        ("growth.enabled", g.enabled != h.enabled),
        (
            "growth.interval (shorter than at start: the size history would cover less time)",
            g.interval != h.interval,
        ),
        (
            "growth connection (user, password, dsn)",
            (&g.user, &g.password, &g.dsn) != (&h.user, &h.password, &h.dsn),
        ),
        ("[growth]", {
            // Any other key of the section, however it is spelled.
            let mut rest = h.clone();
            rest.enabled = g.enabled;
            rest.interval = g.interval;
            rest.user = g.user.clone();
            rest.password = g.password.clone();
            rest.dsn = g.dsn.clone();
            rest != *g
        }),
    ];
    checks
        .into_iter()
        .filter_map(|(key, changed)| changed.then_some(key))
        .collect()
}
