//! [`WallClock`]: the one mapping from the events' monotonic `Instant`s to wall-clock time.
//!
//! Every consumer that places an event on the wall clock — the recorder's windows, the spans'
//! start and end times, the growth monitor's samples — reads the same shared `WallClock`, so a
//! query's window and its span always agree, before and after a wall-clock step. The mapping
//! is one number (the wall-clock nanoseconds at a fixed monotonic origin), read with one relaxed
//! atomic load and re-anchored only by [`WallClock::resync`], which the recorder's housekeeping
//! calls once per round: a stepped wall clock is followed at the next round, by every consumer
//! at once, and between rounds durations on the exported timeline are exactly the monotonic
//! ones (spans that touch on the monotonic clock touch when exported).

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Maps `Instant`s to wall-clock time through one shared anchor. Share it by `Arc`.
#[derive(Debug)]
pub struct WallClock {
    /// The monotonic origin.
    base: Instant,
    /// Wall-clock nanoseconds since the epoch at `base`, as last anchored.
    base_wall_ns: AtomicI64,
}

impl WallClock {
    /// A clock anchored now, on the system clock.
    pub fn new() -> Self {
        let clock = WallClock::anchored(Instant::now(), 0);
        clock.resync();
        clock
    }

    /// A clock that reads `unix_ms` at `instant` (for tests).
    pub fn anchored(instant: Instant, unix_ms: u64) -> Self {
        WallClock {
            base: instant,
            base_wall_ns: AtomicI64::new(signed(unix_ms.saturating_mul(1_000_000))),
        }
    }

    /// Re-anchors the mapping so that `instant` reads `unix_ns` from now on, for every consumer
    /// at once (what [`WallClock::resync`] does with the system clock; tests step it directly).
    pub fn anchor(&self, instant: Instant, unix_ns: u64) {
        let offset = self.offset_ns(instant);
        self.base_wall_ns
            .store(signed(unix_ns).saturating_sub(offset), Ordering::Relaxed);
    }

    /// Re-reads the system clock: the mapping follows a wall-clock step from now on.
    pub fn resync(&self) {
        let now = Instant::now();
        let wall_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        self.anchor(now, wall_ns);
    }

    /// Signed nanoseconds from the origin to `at`.
    fn offset_ns(&self, at: Instant) -> i64 {
        match at.checked_duration_since(self.base) {
            Some(after) => signed(nanos(after)),
            None => -signed(nanos(self.base.saturating_duration_since(at))),
        }
    }

    /// `at` in nanoseconds since the epoch (0 before it).
    pub fn unix_ns(&self, at: Instant) -> u64 {
        let ns = self
            .base_wall_ns
            .load(Ordering::Relaxed)
            .saturating_add(self.offset_ns(at));
        u64::try_from(ns).unwrap_or(0)
    }

    /// `at` in milliseconds since the epoch.
    pub fn unix_ms(&self, at: Instant) -> u64 {
        self.unix_ns(at) / 1_000_000
    }

    /// `at` as a `SystemTime`.
    pub fn system_time(&self, at: Instant) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.unix_ns(at))
    }

    /// Now, in milliseconds since the epoch.
    pub fn now_ms(&self) -> u64 {
        self.unix_ms(Instant::now())
    }
}

impl Default for WallClock {
    fn default() -> Self {
        Self::new()
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

    const T0_MS: u64 = 1_714_564_830_000;

    #[test]
    fn instants_map_at_their_monotonic_distance_from_the_anchor() {
        let t0 = Instant::now();
        let clock = WallClock::anchored(t0, T0_MS);
        assert_eq!(
            clock.unix_ms(t0 + Duration::from_millis(1500)),
            T0_MS + 1500
        );
        assert_eq!(clock.unix_ms(t0), T0_MS);
        let later = clock.system_time(t0 + Duration::from_micros(250));
        let earlier = clock.system_time(t0);
        assert_eq!(
            later.duration_since(earlier).unwrap(),
            Duration::from_micros(250)
        );
    }

    #[test]
    fn an_instant_before_the_anchor_maps_before_it() {
        let early = Instant::now();
        let clock = WallClock::anchored(early + Duration::from_millis(2), T0_MS);
        assert_eq!(clock.unix_ms(early), T0_MS - 2);
    }

    #[test]
    fn a_step_moves_every_later_reading_by_the_step() {
        let t0 = Instant::now();
        let clock = WallClock::anchored(t0, T0_MS);
        let t1 = t0 + Duration::from_secs(10);
        clock.anchor(t1, (T0_MS + 10_000 + 3_600_000) * 1_000_000);
        assert_eq!(clock.unix_ms(t1), T0_MS + 3_610_000);
        assert_eq!(clock.unix_ms(t0), T0_MS + 3_600_000);
    }

    #[test]
    fn resync_reads_the_system_clock() {
        let clock = WallClock::anchored(Instant::now(), 0);
        clock.resync();
        let system = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert!(clock.now_ms().abs_diff(system) < 1000);
    }
}
