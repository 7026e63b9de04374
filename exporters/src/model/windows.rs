//! Rolling time windows: the recent history of one key, one [`Window`] per fixed interval.
//!
//! Windows are aligned to the wall clock: window `n` covers `[n × width, (n + 1) × width)`
//! milliseconds since the Unix epoch, so windows of different keys (and of a restarted
//! process) line up. A key keeps a ring of `count` slots; window `n` lives in slot
//! `n % count` and replaces whatever older window was there. A slot is allocated when its
//! window gets its first event, so idle keys cost a pointer per slot; [`Windows::prune`]
//! frees the windows that have aged out.
//!
//! "The last 5 minutes" with 1-minute windows means the 5 most recent windows, the current
//! (partial) one included.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::errors::ErrorCounts;
use super::histogram::CompactHistogram;
use super::stats::{Sample, SampleOutcome};

/// Width and number of the windows kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowConfig {
    /// Width of one window, ms (at least 1).
    pub width_ms: u64,
    /// Windows kept (at least 1).
    pub count: usize,
}

impl Default for WindowConfig {
    /// One-minute windows for the last hour.
    fn default() -> Self {
        WindowConfig {
            width_ms: 60_000,
            count: 60,
        }
    }
}

impl WindowConfig {
    /// The number of the window holding instant `at_ms`.
    pub fn index_at(&self, at_ms: u64) -> u64 {
        at_ms / self.width_ms.max(1)
    }

    /// When window `index` starts, ms since the epoch.
    pub fn start_ms(&self, index: u64) -> u64 {
        index.saturating_mul(self.width_ms)
    }

    /// Whether window `index` is among the `recent` windows ending with the one at `now_ms`.
    pub fn is_recent(&self, index: u64, now_ms: u64, recent: u64) -> bool {
        let now = self.index_at(now_ms);
        index <= now && now - index < recent
    }
}

/// What happened to one key during one window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// The window's number (see [`WindowConfig::index_at`]).
    pub index: u64,
    /// Completed executions.
    pub calls: u64,
    /// Calls among `calls` whose latency was not observed apart (see [`crate::QueryStats`]).
    #[serde(default)]
    pub batched_calls: u64,
    /// The batched calls whose `Query` was timed whole (see [`crate::QueryStats`]).
    #[serde(default)]
    pub batch_timed_calls: u64,
    /// Sum of those `Query` times, µs.
    #[serde(default)]
    pub batch_us: u64,
    /// Failed executions by SQLSTATE.
    pub errors: ErrorCounts,
    /// Skipped queries.
    pub skipped: u64,
    /// Rows from command tags.
    pub rows: u64,
    /// Sum of latencies of the timed calls, µs.
    pub total_us: u64,
    /// Latency distribution of the timed calls, compact.
    pub histogram: CompactHistogram,
}

impl Window {
    fn record(&mut self, sample: &Sample) {
        match sample.outcome {
            SampleOutcome::Skipped => {
                self.skipped += 1;
                return;
            }
            SampleOutcome::Error(code) => self.errors.add(code, 1),
            SampleOutcome::Ok => self.rows += sample.rows.unwrap_or(0),
        }
        self.calls += 1;
        if sample.batched {
            self.batched_calls += 1;
            if let Some(batch_us) = sample.batch_us {
                self.batch_timed_calls += 1;
                self.batch_us = self.batch_us.saturating_add(batch_us);
            }
            return;
        }
        self.total_us = self.total_us.saturating_add(sample.latency_us);
        self.histogram.record(sample.latency_us);
    }

    /// Reuses this window's allocations for window `index`.
    fn reset(&mut self, index: u64) {
        let mut histogram = std::mem::take(&mut self.histogram);
        histogram.clear();
        *self = Window {
            index,
            histogram,
            ..Window::default()
        };
    }

    /// Largest latency, µs.
    pub fn max_us(&self) -> u64 {
        self.histogram.max_us()
    }
}

/// The ring of windows of one key. Serialized as the list of its windows.
#[derive(Debug, Clone, Default)]
pub struct Windows {
    slots: Vec<Option<Box<Window>>>,
    /// The window count the slots are laid out for; 0 when not laid out (fresh or loaded).
    layout: usize,
}

impl Windows {
    /// Records `sample` in the window of its time. A sample older than the window now in its
    /// slot (possible when threads finish out of order across a boundary) is left out.
    pub fn record(&mut self, sample: &Sample, config: &WindowConfig) {
        let count = config.count.max(1);
        if self.layout != count {
            self.relayout(config);
        }
        let index = config.index_at(sample.at_ms);
        let Some(slot) = self.slots.get_mut((index % count as u64) as usize) else {
            return;
        };
        match slot {
            None => {
                let mut window = Box::new(Window {
                    index,
                    ..Window::default()
                });
                window.record(sample);
                *slot = Some(window);
            }
            Some(window) if window.index == index => window.record(sample),
            Some(window) if window.index < index => {
                window.reset(index);
                window.record(sample);
            }
            Some(_) => {}
        }
    }

    /// The windows held, in no particular order (stale ones included: filter by index).
    pub fn iter(&self) -> impl Iterator<Item = &Window> + '_ {
        self.slots.iter().flatten().map(|w| &**w)
    }

    /// The windows among the `recent` ones ending with the window at `now_ms`.
    pub fn recent<'a>(
        &'a self,
        config: &'a WindowConfig,
        now_ms: u64,
        recent: u64,
    ) -> impl Iterator<Item = &'a Window> + 'a {
        self.iter()
            .filter(move |w| config.is_recent(w.index, now_ms, recent))
    }

    /// Frees the windows that are no longer among the last `config.count` at `now_ms`.
    pub fn prune(&mut self, config: &WindowConfig, now_ms: u64) {
        for slot in &mut self.slots {
            if slot
                .as_ref()
                .is_some_and(|w| !config.is_recent(w.index, now_ms, config.count as u64))
            {
                *slot = None;
            }
        }
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Option<Box<Window>>>()
            + self
                .iter()
                .map(|w| {
                    std::mem::size_of::<Window>() + w.histogram.heap_bytes() + w.errors.heap_bytes()
                })
                .sum::<usize>()
    }

    /// Puts every window in the slot `config` assigns it, keeping the newest on a clash.
    fn relayout(&mut self, config: &WindowConfig) {
        let count = config.count.max(1);
        let mut slots: Vec<Option<Box<Window>>> = Vec::with_capacity(count);
        slots.resize_with(count, || None);
        for window in self.slots.drain(..).flatten() {
            if let Some(slot) = slots.get_mut((window.index % count as u64) as usize) {
                if slot.as_ref().is_none_or(|w| w.index < window.index) {
                    *slot = Some(window);
                }
            }
        }
        self.slots = slots;
        self.layout = count;
    }
}

impl PartialEq for Windows {
    /// Equal when they hold the same windows, wherever their slots are.
    fn eq(&self, other: &Windows) -> bool {
        fn sorted(windows: &Windows) -> Vec<&Window> {
            let mut list: Vec<&Window> = windows.iter().collect();
            list.sort_by_key(|w| w.index);
            list
        }
        sorted(self) == sorted(other)
    }
}

impl Serialize for Windows {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut windows: Vec<&Window> = self.iter().collect();
        windows.sort_by_key(|w| w.index);
        windows.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Windows {
    /// Loads the windows unplaced; the first [`Windows::record`] lays them out for its config.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let windows = Vec::<Window>::deserialize(deserializer)?;
        Ok(Windows {
            slots: windows.into_iter().map(|w| Some(Box::new(w))).collect(),
            layout: 0,
        })
    }
}
