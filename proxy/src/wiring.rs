//! The composition root: everything `pgscope run` hangs off the proxy, built in one place from
//! the validated [`Config`].
//!
//! # Design
//!
//! The session emits events; what consumes them is decided here and nowhere else.
//! [`Wiring::build`] makes, from the configuration and the typed upstream ([`Upstream`], never a
//! `"host:port"` string to be parsed again):
//!
//! - the process's one clock ([`WallClock`]), shared by the recorder's windows, the spans'
//!   times and the growth monitor's rounds, so a query's span and its window agree;
//! - the process's one analysis per query shape ([`Shapes`]), its texts cut to the one limit
//!   `recorder.max_query_text`, shared by the recorder, the log and the spans;
//! - the recorder, restored from the state directory's snapshot;
//! - span export, in a slot a reload can fill, empty or refill ([`SpanSlot`]);
//! - the flat list of [`Observers`] the pumps report to, in the order they see each event:
//!   the recorder (when recording), the debug log, span export, the traffic capture (idle
//!   until started; [`crate::capture`]). An observer to come is one more `push` in
//!   [`Wiring::build`].
//!
//! [`Wiring::add_services`] then adds what runs beside the proxy — the admin HTTP service,
//! the recorder's housekeeping, the growth monitor — and [`Wiring::finish`] saves the final
//! snapshot and flushes the spans once the server has drained.
//!
//! A reload (SIGHUP, `POST /api/v1/reload`) reaches the observers through here too
//! (`wiring/reload.rs`): `[tracing]` rebuilds span export, `[recorder]` limits that lose
//! nothing are raised, `[growth]` thresholds and intervals are handed to the monitor.

use std::net::TcpListener;
use std::sync::Arc;

use pgscope_config::{Config, Upstream};
use pgscope_exporters::MetricsOptions;
use pgscope_otel::SpanCounters;
use pingora_core::server::Server;
use pingora_core::services::background::background_service;
use pingora_core::services::listening::Service;

use crate::admin::{AdminServer, LiveSource, Operations, Router};
use crate::capture::Capture;
use crate::clock::WallClock;
use crate::growth::catalog::Target;
use crate::growth::{GrowthMonitor, GrowthState};
use crate::observer::{LogObserver, Observer, Observers};
use crate::recorder::housekeeping::Housekeeper;
use crate::recorder::persist::{PersistError, SnapshotHealth, StateDir};
use crate::recorder::{Recorder, RecorderSettings};
use crate::shape::Shapes;
use crate::spans::{ServerAddress, SpanExport, SpanExportError, SpanSlot};
use crate::stats::ProxyStats;

/// Query shapes cached (one cache for the process).
const SHAPES: usize = 5000;

/// Why the observers or their services could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum WiringError {
    /// The state directory is unusable.
    #[error("recorder.state_dir: {0}")]
    State(PersistError),
    /// Span export could not start.
    #[error(transparent)]
    Spans(#[from] SpanExportError),
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

mod reload;

/// The observers of one `pgscope run` and the services around them.
#[derive(Debug)]
pub struct Wiring {
    recorder: Arc<Recorder>,
    state: Option<StateDir>,
    growth: Arc<GrowthState>,
    spans: Arc<SpanSlot>,
    /// What span export is started with, again at each reload that changes `[tracing]`.
    span_inputs: SpanInputs,
    capture: Arc<Capture>,
    observers: Observers,
}

/// What span export needs besides `[tracing]`.
#[derive(Debug)]
struct SpanInputs {
    server: ServerAddress,
    counters: Arc<SpanCounters>,
    shapes: Arc<Shapes>,
    clock: Arc<WallClock>,
}

impl SpanInputs {
    /// Span export as `config` says (`None` when tracing is off).
    fn start(
        &self,
        config: &pgscope_config::TracingConfig,
    ) -> Result<Option<SpanExport>, SpanExportError> {
        SpanExport::start(
            config,
            self.server.clone(),
            Arc::clone(&self.counters),
            Arc::clone(&self.shapes),
            Arc::clone(&self.clock),
        )
    }
}

impl Wiring {
    /// Builds the clock, the recorder (restoring the state directory's snapshot, if any: one
    /// that cannot be read is moved aside, logged and reported), span export for `upstream`
    /// (counting its drops in `stats`) and the list of observers, from `config`.
    pub fn build(
        config: &Config,
        upstream: &Upstream,
        stats: &ProxyStats,
    ) -> Result<Wiring, WiringError> {
        let clock = Arc::new(WallClock::new());
        let shapes = Arc::new(Shapes::new(SHAPES, config.recorder.max_query_text));
        let recorder = Arc::new(Recorder::with_clock(
            RecorderSettings::from_config(&config.recorder),
            Arc::clone(&shapes),
            Arc::clone(&clock),
        ));
        let state = match &config.recorder.state_dir {
            Some(dir) => Some(StateDir::open(dir).map_err(WiringError::State)?),
            None => None,
        };
        if let Some(state) = &state {
            if let Some(snapshot) = state.restore() {
                let loaded = recorder.restore(snapshot);
                log::info!(
                    "restored {loaded} recorder entries from {}",
                    state.snapshot_path().display()
                );
            }
        }
        let span_inputs = SpanInputs {
            server: ServerAddress::of(upstream),
            counters: Arc::clone(&stats.spans),
            shapes: Arc::clone(&shapes),
            clock,
        };
        let spans = Arc::new(SpanSlot::new(span_inputs.start(&config.tracing)?));

        let mut observers = Observers::default();
        if config.recorder.enabled {
            observers.push(recorder.clone());
        }
        observers.push(Arc::new(LogObserver::new(shapes)));
        observers.push(spans.clone());
        // Last: the recorder has memoised each statement's analysis by then.
        let capture = Capture::new(
            config
                .recorder
                .state_dir
                .clone()
                .unwrap_or_else(std::env::temp_dir),
        );
        observers.push(capture.clone());

        let growth_on = config.recorder.enabled && config.growth.enabled;
        Ok(Wiring {
            recorder,
            state,
            growth: Arc::new(GrowthState::new(growth_on, &config.growth)),
            spans,
            span_inputs,
            capture,
            observers,
        })
    }

    /// The observers the pumps report to, in order.
    pub fn observers(&self) -> Arc<dyn Observer> {
        Arc::new(self.observers.clone())
    }

    /// The traffic capture switch (the pumps ask it; the admin API starts and stops it).
    pub fn capture(&self) -> &Arc<Capture> {
        &self.capture
    }

    /// The recorder.
    pub fn recorder(&self) -> &Arc<Recorder> {
        &self.recorder
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
        if config.recorder.enabled && config.growth.enabled {
            let monitor =
                GrowthMonitor::new(Arc::clone(&self.recorder), target, Arc::clone(&self.growth));
            server.add_service(background_service("pgscope growth", monitor));
        }
        log::info!(
            "admin API on http://{}/ (metrics at /metrics)",
            config.admin
        );
        Ok(())
    }

    /// Writes the final snapshot and flushes the spans (after the server has drained).
    pub fn finish(&self) {
        self.save("final");
        self.finish_spans();
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

    /// Flushes and stops span export, once (later calls do nothing).
    pub fn finish_spans(&self) {
        if let Some(spans) = self.spans.take() {
            spans.finish();
        }
    }
}
