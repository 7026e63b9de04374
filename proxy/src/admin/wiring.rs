//! [`Recording`]: what `pgscope run` adds to the proxy for recording and the admin API — the
//! recorder (restored from the state directory), the observer the pumps report to, the admin
//! HTTP service, the housekeeping service, and the final snapshot at shutdown.

use std::net::TcpListener;
use std::sync::Arc;

use pgscope_config::Config;
use pgscope_exporters::MetricsOptions;
use pgscope_fingerprint::Analyzer;
use pingora_core::server::Server;
use pingora_core::services::background::background_service;
use pingora_core::services::listening::Service;

use super::{AdminServer, LiveSource, Operations, Router};
use crate::event::Observer;
use crate::growth::catalog::Target;
use crate::growth::{GrowthMonitor, GrowthState};
use crate::observer::LogObserver;
use crate::recorder::housekeeping::Housekeeper;
use crate::recorder::persist::{PersistError, SnapshotHealth, StateDir};
use crate::recorder::{Fanout, Recorder, RecorderSettings};
use crate::stats::ProxyStats;

/// Query shapes whose analysis is cached (one analyzer for the process).
const ANALYSIS_CACHE: usize = 5000;

/// Why recording or the admin server could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum WiringError {
    /// The state directory is unusable.
    #[error("recorder.state_dir: {0}")]
    State(PersistError),
    /// The admin address cannot be listened on.
    #[error("cannot listen on {addr} (admin): {cause}")]
    Admin {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        cause: std::io::Error,
    },
    /// The metrics registry refused the collector.
    #[error("cannot set up /metrics: {0}")]
    Metrics(prometheus::Error),
}

/// The recorder and its services for one `pgscope run`.
#[derive(Debug)]
pub struct Recording {
    recorder: Arc<Recorder>,
    state: Option<StateDir>,
    enabled: bool,
    growth: Arc<GrowthState>,
}

impl Recording {
    /// Creates the recorder from `config.recorder` and restores the state directory's
    /// snapshot, if any (one that cannot be read is moved aside, logged and reported).
    pub fn start(config: &Config) -> Result<Recording, WiringError> {
        let settings = RecorderSettings::from_config(&config.recorder);
        let analyzer = Arc::new(Analyzer::new(ANALYSIS_CACHE));
        let recorder = Arc::new(Recorder::new(settings, analyzer));
        let state = match &config.recorder.state_dir {
            Some(dir) => Some(StateDir::open(dir).map_err(WiringError::State)?),
            None => None,
        };
        if let Some(snapshot) = state.as_ref().and_then(StateDir::restore) {
            let loaded = recorder.restore(snapshot);
            if let Some(state) = &state {
                log::info!(
                    "restored {loaded} recorder entries from {}",
                    state.snapshot_path().display()
                );
            }
        }
        let growth_on = config.recorder.enabled && config.growth.enabled;
        Ok(Recording {
            recorder,
            state,
            enabled: config.recorder.enabled,
            growth: Arc::new(GrowthState::new(growth_on, config.growth.interval)),
        })
    }

    /// The recorder.
    pub fn recorder(&self) -> &Arc<Recorder> {
        &self.recorder
    }

    /// The observer the pumps report to: the recorder (when enabled), then the log.
    pub fn observer(&self) -> Arc<dyn Observer> {
        let log: Arc<dyn Observer> =
            Arc::new(LogObserver::new(Arc::clone(self.recorder.analyzer())));
        if self.enabled {
            let recorder: Arc<dyn Observer> = self.recorder.clone();
            Arc::new(Fanout::new(vec![recorder, log]))
        } else {
            log
        }
    }

    /// Adds the admin HTTP service (on `config.admin`, one thread, with the token, reload and
    /// readiness of `ops`), the housekeeping service and (when recording and
    /// `growth.enabled`) the growth monitor of the upstream `target` to `server`.
    pub fn add_services(
        &self,
        server: &mut Server,
        stats: Arc<ProxyStats>,
        config: &Config,
        target: Target,
        ops: Operations,
    ) -> Result<(), WiringError> {
        // Fail with a clear message now rather than inside pingora's listener (unless taking
        // over from a running pgscope, whose admin socket this process receives).
        if !ops.upgrading {
            TcpListener::bind(config.admin).map_err(|cause| WiringError::Admin {
                addr: config.admin,
                cause,
            })?;
        }
        let source = Arc::new(LiveSource {
            recorder: Arc::clone(&self.recorder),
            stats,
            growth: Arc::clone(&self.growth),
            snapshots: self
                .state
                .as_ref()
                .map_or_else(SnapshotHealth::off, |s| Arc::clone(s.health())),
        });
        let metrics = MetricsOptions {
            top_k: config.recorder.top_k,
        };
        let router = Router::new(source, metrics, ops).map_err(WiringError::Metrics)?;
        let mut admin = Service::new("pgscope admin".to_owned(), AdminServer::new(router));
        admin.add_tcp(&config.admin.to_string());
        admin.threads = Some(1);
        server.add_service(admin);
        let chores = Housekeeper::new(
            Arc::clone(&self.recorder),
            self.state.clone(),
            config.recorder.snapshot_interval,
        );
        server.add_service(background_service("pgscope recorder", chores));
        if self.enabled && config.growth.enabled {
            let monitor = GrowthMonitor::new(
                Arc::clone(&self.recorder),
                config.growth.clone(),
                target,
                Arc::clone(&self.growth),
            );
            server.add_service(background_service("pgscope growth", monitor));
        }
        log::info!(
            "admin API on http://{}/ (metrics at /metrics)",
            config.admin
        );
        Ok(())
    }

    /// Writes the final snapshot (after the server has drained).
    pub fn finish(&self) {
        self.save("final");
    }

    /// Writes a snapshot now (`what` names it in the log): the final one, or the one a process
    /// taking over (`pgscope run --upgrade`) starts from.
    pub fn save(&self, what: &str) {
        if let Some(state) = &self.state {
            match state.save(self.recorder.as_ref()) {
                Ok(()) => log::info!(
                    "saved the {what} snapshot to {}",
                    state.snapshot_path().display()
                ),
                Err(error) => log::error!("cannot save the {what} snapshot: {error}"),
            }
        }
    }
}
