//! Placing the events' monotonic `Instant`s on the wall clock.
//!
//! Every span of the process is placed through one mapping, so spans that touch on the
//! monotonic clock (a pipeline's queries, each starting when the previous one completed) touch
//! on the exported timeline too. The mapping is re-read from the wall clock at most once a
//! minute, so a stepped wall clock is followed within a minute; in between it is two relaxed
//! atomic loads per span, no clock read.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How often the wall clock is read again.
const RESYNC: Duration = Duration::from_secs(60);

/// Maps `Instant`s to `SystemTime`s.
#[derive(Debug)]
pub(crate) struct SpanClock {
    /// The monotonic origin.
    base: Instant,
    /// Wall-clock nanoseconds since the epoch at `base`, as last measured.
    base_wall_ns: AtomicI64,
    /// Nanoseconds after `base` when `base_wall_ns` was last measured.
    synced_at_ns: AtomicU64,
}

impl SpanClock {
    /// A clock anchored now.
    pub(crate) fn new() -> SpanClock {
        let clock = SpanClock {
            base: Instant::now(),
            base_wall_ns: AtomicI64::new(0),
            synced_at_ns: AtomicU64::new(0),
        };
        clock.sync();
        clock
    }

    /// Re-measures the wall clock's value at `base`, reading both clocks now.
    fn sync(&self) {
        let now = Instant::now();
        let wall_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        let since_base = nanos(now.saturating_duration_since(self.base));
        self.base_wall_ns.store(
            wall_ns.saturating_sub(signed(since_base)),
            Ordering::Relaxed,
        );
        self.synced_at_ns.store(since_base, Ordering::Relaxed);
    }

    /// The wall-clock times of `started` and `finished`; the end is never before the start.
    /// `finished` (a moment ago) also decides whether the mapping is due to be re-read.
    pub(crate) fn interval(&self, started: Instant, finished: Instant) -> (SystemTime, SystemTime) {
        let finished_ns = nanos(finished.saturating_duration_since(self.base));
        let synced = self.synced_at_ns.load(Ordering::Relaxed);
        if finished_ns.saturating_sub(synced) >= nanos(RESYNC) {
            self.sync();
        }
        let base_wall = self.base_wall_ns.load(Ordering::Relaxed);
        let at = |instant: Instant| {
            let offset = match instant.checked_duration_since(self.base) {
                Some(after) => signed(nanos(after)),
                None => -signed(nanos(self.base.saturating_duration_since(instant))),
            };
            let ns = base_wall.saturating_add(offset);
            UNIX_EPOCH + Duration::from_nanos(u64::try_from(ns).unwrap_or(0))
        };
        let start = at(started);
        (start, at(finished).max(start))
    }
}

/// A duration in nanoseconds, saturating (585 years).
fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// `ns` as a signed count, saturating.
fn signed(ns: u64) -> i64 {
    i64::try_from(ns).unwrap_or(i64::MAX)
}
