//! [`GrowthState`]: what the growth monitor shares with the rest of the process — its latest
//! report (read by the admin API) and the `[growth]` settings in force, which a reload can
//! change while the monitor runs.
//!
//! A reload may change the detection thresholds (`min_growth`, `elasticity`,
//! `min_slowdown_ms`), the catalog
//! query timeout and the sampling interval, as long as the interval does not drop below the
//! one the size history was sized for at start (a shorter one would make the kept history
//! cover less time, dropping samples: that needs a restart). The monitor reads the settings at
//! each round and is woken when they change, so a new interval takes effect at once; the
//! report shows the settings in force from the moment they change.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use pgscope_config::GrowthConfig;
use pgscope_exporters::growth::GrowthReport;

use crate::reload::Live;

/// The latest report and the settings in force, shared between the monitor, the admin API and
/// reloads.
#[derive(Debug)]
pub struct GrowthState {
    report: Mutex<GrowthReport>,
    config: Live<GrowthConfig>,
    /// The shortest interval the size history holds enough samples for.
    sized_for: Duration,
    changed: tokio::sync::Notify,
}

impl Default for GrowthState {
    fn default() -> Self {
        GrowthState::new(false, &GrowthConfig::default())
    }
}

impl GrowthState {
    /// A state for a monitor that is `enabled`, with the settings `config`.
    pub fn new(enabled: bool, config: &GrowthConfig) -> Self {
        let mut report = GrowthReport {
            enabled,
            ..GrowthReport::default()
        };
        show(&mut report, config);
        GrowthState {
            report: Mutex::new(report),
            config: Live::new(Arc::new(config.clone())),
            sized_for: config.interval,
            changed: tokio::sync::Notify::new(),
        }
    }

    /// A copy of the latest report.
    pub fn report(&self) -> GrowthReport {
        self.report
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the report with `report` (the settings it shows are those in force).
    pub(crate) fn publish(&self, mut report: GrowthReport) {
        show(&mut report, &self.config());
        *self.report.lock().unwrap_or_else(PoisonError::into_inner) = report;
    }

    /// The settings in force.
    pub fn config(&self) -> Arc<GrowthConfig> {
        self.config.get()
    }

    /// Applies what of `fresh` can change live (see the module documentation) and returns
    /// what changed, as `key old -> new`.
    pub fn reload(&self, fresh: &GrowthConfig) -> Vec<String> {
        let old = self.config();
        let mut new = (*old).clone();
        let mut changed = Vec::new();
        if fresh.min_growth != old.min_growth {
            changed.push(format!(
                "growth.min_growth {} -> {}",
                old.min_growth, fresh.min_growth
            ));
            new.min_growth = fresh.min_growth;
        }
        if fresh.elasticity != old.elasticity {
            changed.push(format!(
                "growth.elasticity {} -> {}",
                old.elasticity, fresh.elasticity
            ));
            new.elasticity = fresh.elasticity;
        }
        if fresh.min_slowdown_ms != old.min_slowdown_ms {
            changed.push(format!(
                "growth.min_slowdown_ms {} -> {}",
                old.min_slowdown_ms, fresh.min_slowdown_ms
            ));
            new.min_slowdown_ms = fresh.min_slowdown_ms;
        }
        if fresh.query_timeout != old.query_timeout {
            changed.push(format!(
                "growth.query_timeout {:?} -> {:?}",
                old.query_timeout, fresh.query_timeout
            ));
            new.query_timeout = fresh.query_timeout;
        }
        if fresh.interval != old.interval && fresh.interval >= self.sized_for {
            changed.push(format!(
                "growth.interval {:?} -> {:?}",
                old.interval, fresh.interval
            ));
            new.interval = fresh.interval;
        }
        if !changed.is_empty() {
            {
                let mut report = self.report.lock().unwrap_or_else(PoisonError::into_inner);
                show(&mut report, &new);
            }
            self.config.set(Arc::new(new));
            self.changed.notify_waiters();
        }
        changed
    }

    /// Resolves when a reload changes the settings.
    pub(crate) async fn changed(&self) {
        self.changed.notified().await;
    }
}

/// Puts the settings `config` shows in `report`.
fn show(report: &mut GrowthReport, config: &GrowthConfig) {
    report.interval_ms = config.interval.as_millis() as u64;
    report.min_growth = config.min_growth;
    report.elasticity = config.elasticity;
}
