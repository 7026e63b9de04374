//! The recorder's background chores, as a pingora background service: every
//! `snapshot_interval`, re-read the wall clock into the process's one Instant→wall-clock
//! mapping ([`crate::clock`]), free the windows that aged out and save a snapshot to the state
//! directory (when one is configured). Saving runs on a blocking thread so it never stalls a
//! runtime; the final snapshot at shutdown is written by `pgscope run` after the server has
//! drained, so it holds every query.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;

use super::persist::StateDir;
use super::Recorder;

/// The background service.
#[derive(Debug)]
pub struct Housekeeper {
    recorder: Arc<Recorder>,
    state: Option<StateDir>,
    interval: Duration,
}

impl Housekeeper {
    /// Chores for `recorder` every `interval`, saving to `state` if given.
    pub fn new(recorder: Arc<Recorder>, state: Option<StateDir>, interval: Duration) -> Self {
        Housekeeper {
            recorder,
            state,
            interval: interval.max(Duration::from_millis(10)),
        }
    }

    /// Prunes and saves once.
    pub fn run_once(&self) {
        // The process's one Instant→wall-clock mapping follows a wall-clock step here, for the
        // recorder, the spans and the growth monitor at once.
        self.recorder.clock().resync();
        self.recorder.prune();
        if let Some(state) = &self.state {
            // A failure is logged, counted and reported by the state directory itself.
            if state.save(self.recorder.as_ref()).is_ok() {
                log::debug!("saved snapshot to {}", state.snapshot_path().display());
            }
        }
    }
}

#[async_trait]
impl BackgroundService for Housekeeper {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => return,
            }
            let chores = Housekeeper {
                recorder: Arc::clone(&self.recorder),
                state: self.state.clone(),
                interval: self.interval,
            };
            if tokio::task::spawn_blocking(move || chores.run_once())
                .await
                .is_err()
            {
                log::warn!("the recorder's housekeeping task failed");
            }
        }
    }
}
