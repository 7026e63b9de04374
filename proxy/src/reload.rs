//! SIGHUP: re-read the configuration and apply what can change without a restart.
//!
//! For now that is the client-side TLS certificate, key and client CA: a certificate renewed on
//! disk is picked up by every new handshake while connections already open keep theirs. Every
//! other key that changed is named in one log line as needing a restart. A configuration that
//! does not load (a bad value, an unreadable certificate) changes nothing: the error is logged,
//! naming the key or file, and counted in `pgscope_reload_failures_total`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use pgscope_config::{Config, RunArgs};

use crate::tls::ServerTls;

/// What a reload can reach. Shared with the signal watch.
#[derive(Debug)]
pub struct Reloader {
    args: RunArgs,
    running: Mutex<Config>,
    tls: Option<Arc<ServerTls>>,
    /// Reloads that changed nothing because the new configuration was invalid.
    pub failures: AtomicU64,
    /// Reloads applied.
    pub applied: AtomicU64,
}

impl Reloader {
    /// A reloader for a process started with `args` and running `config`.
    pub fn new(args: RunArgs, config: Config, tls: Option<Arc<ServerTls>>) -> Self {
        Reloader {
            args,
            running: Mutex::new(config),
            tls,
            failures: AtomicU64::new(0),
            applied: AtomicU64::new(0),
        }
    }

    /// Re-reads the configuration (file and environment as they are now) and applies it.
    pub fn reload(&self) {
        match self.try_reload() {
            Ok(summary) => {
                self.applied.fetch_add(1, Ordering::Relaxed);
                log::info!("configuration reloaded: {summary}");
            }
            Err(error) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                log::error!("configuration reload failed, nothing changed: {error}");
            }
        }
    }

    fn try_reload(&self) -> Result<String, String> {
        let fresh = Config::load(&self.args).map_err(|e| e.to_string())?;
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        let mut applied = Vec::new();
        match &self.tls {
            Some(tls) if fresh.tls.mode == running.tls.mode => {
                tls.reload(&fresh.tls).map_err(|e| e.to_string())?;
                applied.push("tls certificate re-read");
            }
            _ => {}
        }
        let restart = restart_keys(&running, &fresh);
        *running = Config {
            tls: fresh.tls.clone(),
            ..running.clone()
        };
        let mut summary = if applied.is_empty() {
            "nothing to apply".to_owned()
        } else {
            applied.join(", ")
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

/// The keys whose new value only a restart applies.
fn restart_keys(running: &Config, fresh: &Config) -> Vec<&'static str> {
    let mut keys = Vec::new();
    let mut check = |key: &'static str, changed: bool| {
        if changed {
            keys.push(key);
        }
    };
    check("listen", running.listen != fresh.listen);
    check("upstream", running.upstream != fresh.upstream);
    check("admin", running.admin != fresh.admin);
    check(
        "max_message_size",
        running.max_message_size != fresh.max_message_size,
    );
    check(
        "connect_timeout",
        running.connect_timeout != fresh.connect_timeout,
    );
    check(
        "startup_timeout",
        running.startup_timeout != fresh.startup_timeout,
    );
    check(
        "shutdown_grace",
        running.shutdown_grace != fresh.shutdown_grace,
    );
    check(
        "max_connections",
        running.max_connections != fresh.max_connections,
    );
    check(
        "max_startup_connections",
        running.max_startup_connections != fresh.max_startup_connections,
    );
    check("threads", running.threads != fresh.threads);
    check("log_level", running.log_level != fresh.log_level);
    check("admin_token", running.admin_token != fresh.admin_token);
    check("tls.mode", running.tls.mode != fresh.tls.mode);
    check("[recorder]", running.recorder != fresh.recorder);
    check("[tracing]", running.tracing != fresh.tracing);
    check("[growth]", running.growth != fresh.growth);
    keys
}
