//! The recorder: per-query statistics, live, in bounded memory, never slowing forwarding.
//!
//! # Design
//!
//! [`Recorder`] is an [`Observer`]: each `QueryFinished` event becomes one
//! [`Sample`](pgscope_exporters::Sample) recorded under its key — fingerprint × database ×
//! user × application — in a [`QueryStats`](pgscope_exporters::QueryStats) (cumulative
//! figures, a full-precision histogram, rolling windows with compact histograms; see
//! `pgscope_exporters`).
//!
//! **No global lock.** Entries live in N shards, each a bounded map behind its own `Mutex`;
//! a key's shard is picked from its hash. Recording locks one shard for an O(1) update (a
//! hash lookup, a few additions, two histogram increments): about a hundred nanoseconds, so
//! two connections only wait on each other when they finish queries of keys in the same shard
//! at the same instant. Readers (`/metrics`, the API, snapshots) never hold a shard for more
//! than one entry: they copy a shard's key list, then lock, read and release per entry.
//!
//! **Bounded memory.** At most `max_fingerprints` entries in total — a shared count, touched
//! only when an entry is created or dropped — with the eviction policy described in `record`;
//! evictions are counted and exported. Query
//! texts are the statement's [`Shape`]'s, cut once per shape to `max_query_text` bytes and
//! shared by every entry of the shape. Windows are allocated when they get their first
//! event and freed by [`Recorder::prune`] once they age out.
//!
//! **Skipped** queries (never run because an earlier one in the pipeline failed) are counted
//! per entry and are not calls.
//!
//! **Persistence** ([`persist`]): a snapshot is written atomically to the state directory by
//! the [`housekeeping`] service every interval and at shutdown, and loaded at start.
//!
//! **Reading.** [`Recorder`] implements [`StatsSource`], the one interface every exporter
//! reads; [`pgscope_exporters::view::series`] over it is the per-window time series later
//! analyses (the table-growth detector) consume.

pub mod housekeeping;
pub mod persist;
mod record;

#[cfg(test)]
mod tests;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::observer::ConnectionInfo;
use crate::shape::Shapes;
use pgscope_exporters::{
    EntryRef, Labels, Snapshot, SourceMeta, StatsSource, WindowConfig, Windows,
};

pub use crate::clock::WallClock;
pub use record::{Entry, Key};

use record::{lock, Budget, Shard};

/// Most shards; fewer when the entry bound is small, so that each shard holds
/// [`MIN_SHARD_SHARE`] entries on average (eviction picks its victim within a shard).
const MAX_SHARDS: usize = 64;
const MIN_SHARD_SHARE: usize = 16;

/// How the recorder is bounded and windowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecorderSettings {
    /// Whether recording is on (the recorder exists either way, so the API answers).
    pub enabled: bool,
    /// Most entries in total.
    pub max_entries: usize,
    /// Longest stored text, bytes: the limit the process's [`Shapes`] cut texts to.
    pub max_query_text: usize,
    /// The rolling windows.
    pub windows: WindowConfig,
}

impl Default for RecorderSettings {
    fn default() -> Self {
        RecorderSettings {
            enabled: true,
            max_entries: 5000,
            max_query_text: 4096,
            windows: WindowConfig::default(),
        }
    }
}

impl RecorderSettings {
    /// The settings of the `[recorder]` configuration section.
    pub fn from_config(config: &pgscope_config::RecorderConfig) -> Self {
        RecorderSettings {
            enabled: config.enabled,
            max_entries: config.max_fingerprints,
            max_query_text: config.max_query_text,
            windows: WindowConfig {
                width_ms: u64::try_from(config.window.as_millis())
                    .unwrap_or(u64::MAX)
                    .max(1),
                count: config.windows.max(1),
            },
        }
    }
}

/// The per-query statistics store. Share it by `Arc`.
#[derive(Debug)]
pub struct Recorder {
    shards: Box<[Mutex<Shard>]>,
    /// Picks a key's shard (seeded apart from the shards' maps: `record.rs`).
    shard_hasher: foldhash::fast::RandomState,
    budget: Budget,
    settings: RecorderSettings,
    shapes: Arc<Shapes>,
    clock: Arc<WallClock>,
    since_ms: AtomicU64,
}

/// The largest power of two ≤ `n` (1 for 0).
fn floor_pow2(n: usize) -> usize {
    if n <= 1 {
        1
    } else {
        1 << (usize::BITS - 1 - n.leading_zeros())
    }
}

impl Recorder {
    /// An empty recorder taking statements' shapes from `shapes` (the process's one cache,
    /// shared with the other observers) on the system clock.
    pub fn new(settings: RecorderSettings, shapes: Arc<Shapes>) -> Self {
        Recorder::with_clock(settings, shapes, Arc::new(WallClock::new()))
    }

    /// Like [`Recorder::new`], with an explicit clock (the process's one).
    pub fn with_clock(
        settings: RecorderSettings,
        shapes: Arc<Shapes>,
        clock: Arc<WallClock>,
    ) -> Self {
        let max_entries = settings.max_entries.max(1);
        let count = floor_pow2((max_entries / MIN_SHARD_SHARE).clamp(1, MAX_SHARDS));
        let shards = (0..count).map(|_| Mutex::new(Shard::new())).collect();
        let since_ms = AtomicU64::new(clock.now_ms());
        Recorder {
            shards,
            shard_hasher: foldhash::fast::RandomState::default(),
            budget: Budget::new(max_entries),
            settings,
            shapes,
            clock,
            since_ms,
        }
    }

    /// The settings.
    pub fn settings(&self) -> &RecorderSettings {
        &self.settings
    }

    /// The clock events are placed with: the process's one Instant→wall-clock mapping, which
    /// span export and the growth monitor share.
    pub fn clock(&self) -> &Arc<WallClock> {
        &self.clock
    }

    /// Raises the bound on entries to `max` (a reload of `recorder.max_fingerprints`); a
    /// lower bound is refused, since it would evict recorded entries: `false` then.
    pub fn raise_max_entries(&self, max: usize) -> bool {
        self.budget.raise(max)
    }

    /// Number of shards.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Forgets every entry; the cumulative figures start again from now.
    pub fn reset(&self) {
        for shard in self.shards.iter() {
            lock(shard).clear(&self.budget);
        }
        self.since_ms.store(self.clock.now_ms(), Ordering::Relaxed);
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.budget.used()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries evicted since start.
    pub fn evictions(&self) -> u64 {
        self.shards.iter().map(|s| lock(s).evictions()).sum()
    }

    /// Approximate heap bytes held by entries.
    pub fn heap_bytes(&self) -> usize {
        self.shards.iter().map(|s| lock(s).heap_bytes()).sum()
    }

    /// Frees windows that have aged out (run periodically).
    pub fn prune(&self) {
        let now = self.clock.now_ms();
        for shard in self.shards.iter() {
            lock(shard).prune(&self.settings.windows, now);
        }
    }

    /// Loads the entries of a snapshot (the bound still applies), and its start time. Windows
    /// are dropped if the snapshot was taken with another window width. Returns the number of
    /// entries loaded.
    pub fn restore(&self, snapshot: Snapshot) -> usize {
        let same_width = snapshot.meta.windows.width_ms == self.settings.windows.width_ms;
        let mut loaded = 0;
        for saved in snapshot.entries {
            let key = Key {
                fingerprint: saved.fingerprint.0,
                connection: Arc::new(ConnectionInfo {
                    database: saved.database.into(),
                    user: saved.user.into(),
                    application_name: saved.application.into(),
                    capture: None,
                }),
            };
            let mut stats = saved.stats;
            if !same_width {
                stats.windows = Windows::default();
            }
            let entry = Entry {
                info: saved.info,
                stats,
            };
            lock(self.shard_of(&key)).insert(key, entry, &self.budget);
            loaded += 1;
        }
        if snapshot.meta.since_ms > 0 {
            self.since_ms
                .store(snapshot.meta.since_ms, Ordering::Relaxed);
        }
        loaded
    }
}

impl StatsSource for Recorder {
    fn meta(&self) -> SourceMeta {
        SourceMeta {
            taken_at_ms: self.clock.now_ms(),
            since_ms: self.since_ms.load(Ordering::Relaxed),
            windows: self.settings.windows,
            enabled: self.settings.enabled,
            entries: self.len() as u64,
            max_entries: self.budget.max() as u64,
            evictions: self.evictions(),
        }
    }

    fn for_each_entry(&self, visit: &mut dyn FnMut(EntryRef<'_>)) {
        for shard in self.shards.iter() {
            let keys = lock(shard).keys();
            for key in keys {
                let guard = lock(shard);
                if let Some(entry) = guard.get(&key) {
                    visit(EntryRef {
                        fingerprint: key.fingerprint,
                        labels: Labels {
                            database: &key.connection.database,
                            user: &key.connection.user,
                            application: &key.connection.application_name,
                        },
                        info: &entry.info,
                        stats: &entry.stats,
                    });
                }
            }
        }
    }
}
