//! One shard of the recorder: a map of entries behind its own mutex, drawing its entries from
//! the recorder-wide [`Budget`].
//!
//! Eviction policy: when a new key arrives and the budget is spent, the entry of the key's
//! shard with the least total time is evicted (ties: the one seen least recently). Total time is what every ranking is about,
//! so an evicted entry is one that could never have made a top list; a flood of one-off queries
//! churns among the newest, cheapest entries while the established expensive ones stay. The
//! scan is over one shard (at most `max_fingerprints / shards` entries) and only happens when a
//! new key meets a full shard.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use pgscope_exporters::{QueryInfo, QueryStats, Sample, WindowConfig};

use super::key::Key;

/// What the recorder keeps per key.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    /// Query text and analysis.
    pub info: QueryInfo,
    /// The numbers.
    pub stats: QueryStats,
}

/// The recorder-wide bound on entries: a count of entries held, shared by the shards. It is
/// touched only when an entry is created or dropped, never when one is updated.
#[derive(Debug)]
pub struct Budget {
    used: AtomicUsize,
    max: AtomicUsize,
}

impl Budget {
    /// Room for `max` entries (at least 1).
    pub fn new(max: usize) -> Self {
        Budget {
            used: AtomicUsize::new(0),
            max: AtomicUsize::new(max.max(1)),
        }
    }

    /// Takes one entry's room, if any is left.
    fn take(&self) -> bool {
        let max = self.max.load(Ordering::Relaxed);
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .is_ok()
    }

    /// Most entries.
    pub fn max(&self) -> usize {
        self.max.load(Ordering::Relaxed)
    }

    /// Raises the bound to `max`; a lower `max` is refused (it would evict entries), and
    /// `false` returned.
    pub fn raise(&self, max: usize) -> bool {
        self.max.fetch_max(max, Ordering::Relaxed) <= max
    }

    /// Returns the room of `n` entries.
    fn give_back(&self, n: usize) {
        self.used.fetch_sub(n, Ordering::Relaxed);
    }

    /// Entries held.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }
}

/// A map of entries.
#[derive(Debug, Default)]
pub struct Shard {
    entries: HashMap<Key, Entry, foldhash::fast::RandomState>,
    evictions: u64,
}

impl Shard {
    /// An empty shard.
    pub fn new() -> Self {
        Shard::default()
    }

    /// Records `sample` under `key`, creating the entry (with `info()`) if needed.
    pub fn record(
        &mut self,
        key: &Key,
        info: impl FnOnce() -> QueryInfo,
        sample: &Sample,
        windows: &WindowConfig,
        budget: &Budget,
    ) {
        if let Some(entry) = self.entries.get_mut(key) {
            entry.stats.record(sample, windows);
            return;
        }
        let mut entry = Entry {
            info: info(),
            stats: QueryStats::default(),
        };
        entry.stats.record(sample, windows);
        self.insert(key.clone(), entry, budget);
    }

    /// Inserts (or replaces) an entry. A new key takes room from `budget`; when none is left it
    /// replaces this shard's least valuable entry, or — if this shard holds none — is itself
    /// dropped. Either way one eviction is counted.
    pub fn insert(&mut self, key: Key, entry: Entry, budget: &Budget) {
        if self.entries.contains_key(&key) || budget.take() {
            self.entries.insert(key, entry);
            return;
        }
        self.evictions += 1;
        let victim = self
            .entries
            .iter()
            .min_by_key(|(_, e)| (e.stats.total_us, e.stats.last_seen_ms))
            .map(|(key, _)| key.clone());
        if let Some(victim) = victim {
            self.entries.remove(&victim);
            self.entries.insert(key, entry);
        }
    }

    /// The entry of `key`.
    pub fn get(&self, key: &Key) -> Option<&Entry> {
        self.entries.get(key)
    }

    /// The keys held.
    pub fn keys(&self) -> Vec<Key> {
        self.entries.keys().cloned().collect()
    }

    /// Entries evicted so far.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// Drops every entry, returning their room to `budget`.
    pub fn clear(&mut self, budget: &Budget) {
        budget.give_back(self.entries.len());
        self.entries.clear();
    }

    /// Frees every entry's windows that aged out at `now_ms`.
    pub fn prune(&mut self, windows: &WindowConfig, now_ms: u64) {
        for entry in self.entries.values_mut() {
            entry.stats.windows.prune(windows, now_ms);
        }
    }

    /// Approximate heap bytes held by the entries' statistics and texts.
    pub fn heap_bytes(&self) -> usize {
        self.entries
            .values()
            .map(|e| {
                std::mem::size_of::<(Key, Entry)>()
                    + e.stats.heap_bytes()
                    + e.info.query.len()
                    + e.info.summary.len()
                    + e.info.operation.len()
                    + e.info.tables.iter().map(|t| t.len()).sum::<usize>()
            })
            .sum()
    }
}
