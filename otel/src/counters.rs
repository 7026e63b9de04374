//! [`SpanCounters`]: what happened to the spans handed to the pipeline, for `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counts of spans by fate. Shared by `Arc` between the pipeline, which updates them, and
/// whoever exports pgscope's own metrics. Every span accepted by the queue ends up exactly
/// once in [`exported`](Self::exported) or [`dropped_export_failed`](Self::dropped_export_failed);
/// a span the full queue refused is counted in [`dropped_queue_full`](Self::dropped_queue_full).
#[derive(Debug, Default)]
pub struct SpanCounters {
    queued: AtomicU64,
    exported: AtomicU64,
    dropped_queue_full: AtomicU64,
    dropped_export_failed: AtomicU64,
}

impl SpanCounters {
    /// Spans accepted and not yet exported or dropped (queued, or in an export request).
    pub fn queued(&self) -> u64 {
        self.queued.load(Ordering::Relaxed)
    }

    /// Spans the collector accepted.
    pub fn exported(&self) -> u64 {
        self.exported.load(Ordering::Relaxed)
    }

    /// Spans dropped because the queue was full (a slow or absent collector).
    pub fn dropped_queue_full(&self) -> u64 {
        self.dropped_queue_full.load(Ordering::Relaxed)
    }

    /// Spans dropped because their export request failed or timed out.
    pub fn dropped_export_failed(&self) -> u64 {
        self.dropped_export_failed.load(Ordering::Relaxed)
    }

    /// All dropped spans.
    pub fn dropped(&self) -> u64 {
        self.dropped_queue_full() + self.dropped_export_failed()
    }

    /// Takes a place in a queue of `capacity` spans; `false` (and one more queue-full drop)
    /// when there is none. Lock-free: a racing caller can briefly push the count past the
    /// bound, but only callers that found it below the bound are admitted.
    pub(crate) fn try_enqueue(&self, capacity: u64) -> bool {
        if self.queued.fetch_add(1, Ordering::AcqRel) >= capacity {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            self.dropped_queue_full.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Settles `spans` queued spans: exported, or dropped by a failed export.
    pub(crate) fn settle(&self, spans: u64, exported: bool) {
        self.queued.fetch_sub(spans, Ordering::AcqRel);
        let counter = if exported {
            &self.exported
        } else {
            &self.dropped_export_failed
        };
        counter.fetch_add(spans, Ordering::Relaxed);
    }
}
