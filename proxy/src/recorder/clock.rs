//! Wall-clock time for events, which carry monotonic `Instant`s.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Maps `Instant`s to milliseconds since the Unix epoch through one reference pair taken at
/// creation, so that every event of the process is placed on one consistent timeline (wall-clock
/// steps after start do not reorder windows).
#[derive(Debug, Clone, Copy)]
pub struct WallClock {
    instant: Instant,
    unix_ms: u64,
}

impl WallClock {
    /// A clock anchored now.
    pub fn new() -> Self {
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        WallClock {
            instant: Instant::now(),
            unix_ms,
        }
    }

    /// A clock that reads `unix_ms` at `instant` (for tests).
    pub fn anchored(instant: Instant, unix_ms: u64) -> Self {
        WallClock { instant, unix_ms }
    }

    /// `at` in milliseconds since the epoch.
    pub fn unix_ms(&self, at: Instant) -> u64 {
        match at.checked_duration_since(self.instant) {
            Some(after) => self.unix_ms.saturating_add(after.as_millis() as u64),
            None => self
                .unix_ms
                .saturating_sub(self.instant.duration_since(at).as_millis() as u64),
        }
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
