//! The recorder's write path: a finished query's key, its shard, and the entry updated there.
//!
//! [`Recorder::record`] turns a `QueryFinished` into a [`Sample`], makes its [`Key`], picks the
//! key's shard and updates the entry under that shard's mutex — everything recording does, in
//! this file; `mod.rs` builds the recorder and reads it.
//!
//! # Keys
//!
//! Keys are hashed with foldhash (fast, seeded per process): once to pick the shard, with the
//! recorder's own seed, and again inside the shard's map with the map's seed. The seeds differ
//! on purpose: were the map's hash the one that picked the shard, every key of a shard would
//! share its low bits and crowd into a fraction of the map's buckets.
//!
//! # Shards
//!
//! A shard is a map of entries behind its own mutex, drawing its entries from the
//! recorder-wide [`Budget`].
//!
//! Eviction policy: when a new key arrives and the budget is spent, the entry of the key's
//! shard with the least total time is evicted (ties: the one seen least recently). Total time
//! is what every ranking is about, so an evicted entry is one that could never have made a top list; a flood of one-off queries
//! churns among the newest, cheapest entries while the established expensive ones stay. The
//! scan is over one shard (at most `max_fingerprints / shards` entries) and only happens when a
//! new key meets a full shard.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use pgscope_exporters::{QueryInfo, QueryStats, Sample, SampleOutcome, WindowConfig};

use super::Recorder;
use crate::observer::{ConnectionInfo, Event, Observer, Outcome, QueryFinished};
use crate::shape::Shape;

impl Recorder {
    /// The shard `key` belongs to.
    pub(super) fn shard_of(&self, key: &Key) -> &Mutex<Shard> {
        let at = (self.shard_hasher.hash_one(key) as usize) & (self.shards.len() - 1);
        &self.shards[at]
    }

    /// Records one finished query.
    pub fn record(&self, query: &QueryFinished) {
        let shape = self.shapes.of(&query.statement);
        let outcome = match query.outcome {
            Outcome::Ok => SampleOutcome::Ok,
            Outcome::Error { sqlstate } => SampleOutcome::Error(sqlstate),
            Outcome::Skipped => SampleOutcome::Skipped,
        };
        let sample = Sample {
            at_ms: self.clock.unix_ms(query.finished),
            latency_us: u64::try_from(query.latency().as_micros()).unwrap_or(u64::MAX),
            rows: query.rows,
            outcome,
            batched: query.batched,
            batch_us: query
                .batch
                .map(|b| u64::try_from(b.duration.as_micros()).unwrap_or(u64::MAX)),
        };
        self.record_sample(&query.connection, &shape, &sample);
    }

    /// Records `sample` of a statement of `shape` on a connection labelled `connection`. A
    /// new entry's information is the shape's (its strings shared).
    pub fn record_sample(&self, connection: &Arc<ConnectionInfo>, shape: &Shape, sample: &Sample) {
        let key = Key {
            fingerprint: shape.fingerprint.0,
            connection: Arc::clone(connection),
        };
        let info = || shape.info.clone();
        lock(self.shard_of(&key)).record(&key, info, sample, &self.settings.windows, &self.budget);
    }
}

impl Observer for Recorder {
    fn observe(&self, event: &Event) {
        if let Event::QueryFinished(query) = event {
            self.record(query);
        }
    }
}

pub(super) fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    // A panic while recording leaves at worst one half-updated entry; keep serving.
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One recorder entry's identity. The labels are the connection's shared `Arc`, so making a
/// key costs a reference count, and keys of different connections with the same labels are
/// equal (compared by content).
#[derive(Debug, Clone)]
pub struct Key {
    /// The query shape's fingerprint.
    pub fingerprint: u64,
    /// The connection's labels.
    pub connection: Arc<ConnectionInfo>,
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.fingerprint == other.fingerprint
            && (Arc::ptr_eq(&self.connection, &other.connection)
                || (self.connection.database == other.connection.database
                    && self.connection.user == other.connection.user
                    && self.connection.application_name == other.connection.application_name))
    }
}

impl Eq for Key {}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.fingerprint);
        self.connection.database.hash(state);
        self.connection.user.hash(state);
        self.connection.application_name.hash(state);
    }
}

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
