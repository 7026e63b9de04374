//! What a reload (SIGHUP, `POST /api/v1/reload`) changes in the observers, in two steps as the
//! reloader does everything: [`Wiring::prepare_reload`] does what can fail — a new span export
//! pipeline when `[tracing]` changed (a bad `OTEL_*` variable, endpoint or certificate fails
//! the whole reload and changes nothing) — and [`Wiring::apply_reload`], which cannot fail,
//! puts it in force:
//!
//! - `[tracing]` (on/off, endpoint, protocol, sampling ratio, queue, timeouts): the new span
//!   export replaces the old one in its slot; the old one's queue is flushed on a thread of its
//!   own, so no span already queued is lost;
//! - `[recorder]`: `max_fingerprints` may be raised; lowering it would evict recorded entries,
//!   and the other keys (window width and count, text limit, state directory, …) reshape what
//!   is recorded: those need a restart and are reported so;
//! - `[growth]`: the thresholds (`min_growth`, `elasticity`, `min_slowdown_ms`), the query
//!   timeout and the interval (not below the one at start:
//!   [`GrowthState`](crate::growth::GrowthState)) go to the running monitor.

use pgscope_config::{Config, TracingConfig};

use super::Wiring;
use crate::spans::{SpanExport, SpanExportError};

/// A reload of the observers with everything that can fail done.
#[derive(Debug)]
pub struct PreparedReload {
    /// The span export to put in force when `[tracing]` changed (`Some(None)`: tracing off).
    spans: Option<Option<SpanExport>>,
}

impl Wiring {
    /// Prepares what of `fresh` changes the observers while `running` is in force.
    pub fn prepare_reload(
        &self,
        running: &Config,
        fresh: &Config,
    ) -> Result<PreparedReload, SpanExportError> {
        let spans = if running.tracing != fresh.tracing {
            Some(self.span_inputs.start(&fresh.tracing)?)
        } else {
            None
        };
        Ok(PreparedReload { spans })
    }

    /// Puts `prepared` and the live keys of `fresh`'s `[recorder]` and `[growth]` in force,
    /// sets those keys of `running` to what now is, and says what changed in `applied`.
    pub fn apply_reload(
        &self,
        prepared: PreparedReload,
        running: &mut Config,
        fresh: &Config,
        applied: &mut Vec<String>,
    ) {
        if let Some(export) = prepared.spans {
            let on = export.is_some();
            applied.push(tracing_change(&running.tracing, &fresh.tracing, on));
            if let Some(old) = self.spans.replace(export) {
                flush_in_background(old);
            }
            running.tracing = fresh.tracing.clone();
        }
        let (old, new) = (
            running.recorder.max_fingerprints,
            fresh.recorder.max_fingerprints,
        );
        if new > old && self.recorder.raise_max_entries(new) {
            applied.push(format!("recorder.max_fingerprints {old} -> {new}"));
            running.recorder.max_fingerprints = new;
        }
        applied.extend(self.growth.reload(&fresh.growth));
        running.growth = (*self.growth.config()).clone();
    }
}

/// Exports what `old` still has queued and stops it, off the reloading thread.
fn flush_in_background(old: SpanExport) {
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("pgscope-span-flush".to_owned())
        .spawn(move || {
            if let Ok(old) = rx.recv() {
                SpanExport::finish(old);
            }
        });
    match spawned {
        Ok(_) => {
            let _ = tx.send(old);
        }
        // No thread to be had: flush here (bounded by `tracing.shutdown_timeout`).
        Err(_) => old.finish(),
    }
}

/// What changed in `[tracing]`, and whether spans are now exported.
fn tracing_change(old: &TracingConfig, new: &TracingConfig, on: bool) -> String {
    fn shown<T: std::fmt::Debug>(value: &Option<T>) -> String {
        value
            .as_ref()
            .map_or_else(|| "unset".to_owned(), |v| format!("{v:?}"))
    }
    let mut keys = Vec::new();
    let mut compare = |key: &str, a: String, b: String| {
        if a != b {
            keys.push(format!("tracing.{key} {a} -> {b}"));
        }
    };
    compare("enabled", old.enabled.to_string(), new.enabled.to_string());
    compare("endpoint", shown(&old.endpoint), shown(&new.endpoint));
    compare("protocol", shown(&old.protocol), shown(&new.protocol));
    compare(
        "service_name",
        shown(&old.service_name),
        shown(&new.service_name),
    );
    compare(
        "sample_ratio",
        shown(&old.sample_ratio),
        shown(&new.sample_ratio),
    );
    compare("queue_size", shown(&old.queue_size), shown(&new.queue_size));
    compare(
        "export_timeout",
        shown(&old.export_timeout),
        shown(&new.export_timeout),
    );
    compare(
        "shutdown_timeout",
        format!("{:?}", old.shutdown_timeout),
        format!("{:?}", new.shutdown_timeout),
    );
    let state = if on {
        "span export restarted with them"
    } else {
        "span export off"
    };
    format!("{} ({state})", keys.join(", "))
}
