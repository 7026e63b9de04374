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

    /// The wall-clock time of `started` (a moment ago), which also decides whether the
    /// mapping is due to be re-read. Called only for a sampled span; its end is
    /// [`SpanClock::end`].
    pub(crate) fn start(&self, started: Instant) -> SystemTime {
        let offset = match started.checked_duration_since(self.base) {
            Some(after) => {
                let after = nanos(after);
                if after.saturating_sub(self.synced_at_ns.load(Ordering::Relaxed)) >= nanos(RESYNC)
                {
                    self.sync();
                }
                signed(after)
            }
            None => -signed(nanos(self.base.saturating_duration_since(started))),
        };
        let ns = self
            .base_wall_ns
            .load(Ordering::Relaxed)
            .saturating_add(offset);
        UNIX_EPOCH + Duration::from_nanos(u64::try_from(ns).unwrap_or(0))
    }

    /// The wall-clock time of `finished`, given `start` = [`SpanClock::start`]`(started)`: the
    /// start plus the measured duration, so never before the start, and two spans that touch
    /// on the monotonic clock touch on the exported timeline.
    pub(crate) fn end(&self, start: SystemTime, started: Instant, finished: Instant) -> SystemTime {
        start + finished.saturating_duration_since(started)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_that_touch_on_the_monotonic_clock_touch_on_the_wall_clock() {
        let clock = SpanClock::new();
        let t0 = Instant::now();
        let (t1, t2) = (
            t0 + Duration::from_micros(250),
            t0 + Duration::from_millis(3),
        );
        let first = clock.start(t0);
        let first_end = clock.end(first, t0, t1);
        let second = clock.start(t1);
        assert_eq!(first_end, second);
        assert_eq!(
            clock.end(second, t1, t2).duration_since(first).unwrap(),
            Duration::from_millis(3)
        );
    }

    #[test]
    fn an_end_before_its_start_is_clamped_to_the_start() {
        let clock = SpanClock::new();
        let t0 = Instant::now();
        let start = clock.start(t0 + Duration::from_millis(1));
        assert_eq!(clock.end(start, t0 + Duration::from_millis(1), t0), start);
    }

    #[test]
    fn an_instant_before_the_clock_was_made_maps_before_its_origin() {
        let early = Instant::now();
        std::thread::sleep(Duration::from_millis(2));
        let clock = SpanClock::new();
        let later = clock.start(early + Duration::from_millis(2));
        let earlier = clock.start(early);
        assert_eq!(
            later.duration_since(earlier).unwrap(),
            Duration::from_millis(2)
        );
    }
}
