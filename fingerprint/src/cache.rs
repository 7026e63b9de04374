//! [`Analyzer`]: the bounded, sharded, thread-safe cache in front of [`analyze`](crate::analyze).
//!
//! Two caches, each split into [`SHARDS`] shards behind their own `RwLock`, so concurrent hits
//! on different queries rarely touch the same lock and hits on the same query share a read
//! lock:
//!
//! 1. exact SQL text → analysis (texts up to `max_text` bytes): a hit costs one hash of the
//!    text, a read lock and an `Arc` clone;
//! 2. fingerprint → analysis: a text seen for the first time takes the fast path (one lexer
//!    pass), and only a fingerprint seen for the first time pays for the sqlparser parse.
//!
//! Each shard is bounded and evicts with the CLOCK algorithm (second chance): a hit sets the
//! entry's `referenced` bit with a relaxed atomic store under the read lock; an insert into a
//! full shard sweeps the hand past referenced entries (clearing their bit) and replaces the
//! first unreferenced one. Eviction is therefore O(1) amortized and needs no list surgery.
//!
//! What is cached per shape is, by default, the [`Analysis`]; a caller that derives more from
//! each shape (texts cut to its limit, attributes with shared strings) gives the derivation to
//! [`Analyzer::shaping`], and the cache then holds the derived value instead: one value per
//! shape, built once on the slow path, with no second cache keyed by fingerprint beside it.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use crate::hash::{fp64, Fp64Build};
use crate::{build_analysis, normalize, Analysis, ConformingStrings, Fingerprint};

/// Number of shards per cache.
pub(crate) const SHARDS: usize = 16;

/// Texts longer than this (bytes) skip the exact-text cache by default: they would cost more
/// memory than their fast-path normalization costs time.
pub const DEFAULT_MAX_CACHED_TEXT: usize = 4096;

struct Slot<K, V> {
    key: K,
    value: V,
    referenced: AtomicBool,
}

/// One shard: a CLOCK-evicting bounded map.
struct Clock<K, V> {
    index: HashMap<K, usize, Fp64Build>,
    slots: Vec<Slot<K, V>>,
    hand: usize,
    capacity: usize,
}

impl<K: Hash + Eq + Clone, V: Clone> Clock<K, V> {
    fn new(capacity: usize) -> Self {
        Clock {
            index: HashMap::with_hasher(Fp64Build),
            slots: Vec::new(),
            hand: 0,
            capacity: capacity.max(1),
        }
    }

    fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let slot = self.slots.get(*self.index.get(key)?)?;
        slot.referenced.store(true, Ordering::Relaxed);
        Some(slot.value.clone())
    }

    /// Inserts unless present; returns the value now stored under `key`.
    fn insert(&mut self, key: K, value: V) -> V {
        if let Some(existing) = self.index.get(&key).and_then(|&i| self.slots.get(i)) {
            return existing.value.clone();
        }
        let slot = Slot {
            key: key.clone(),
            value: value.clone(),
            referenced: AtomicBool::new(false),
        };
        if self.slots.len() < self.capacity {
            self.index.insert(key, self.slots.len());
            self.slots.push(slot);
            return value;
        }
        // At most two sweeps: the first clears every referenced bit it passes.
        for _ in 0..2 * self.slots.len() {
            let at = self.hand % self.slots.len();
            self.hand = at + 1;
            let Some(victim) = self.slots.get_mut(at) else {
                break;
            };
            if victim.referenced.swap(false, Ordering::Relaxed) {
                continue;
            }
            self.index.remove(&victim.key);
            *victim = slot;
            self.index.insert(key, at);
            return value;
        }
        value
    }
}

struct Sharded<K, V> {
    shards: Vec<RwLock<Clock<K, V>>>,
}

impl<K: Hash + Eq + Clone, V: Clone> Sharded<K, V> {
    fn new(capacity: usize) -> Self {
        let per_shard = capacity.div_ceil(SHARDS).max(1);
        Sharded {
            shards: (0..SHARDS)
                .map(|_| RwLock::new(Clock::new(per_shard)))
                .collect(),
        }
    }

    fn shard(&self, hash: u64) -> Option<&RwLock<Clock<K, V>>> {
        self.shards.get((hash % SHARDS as u64) as usize)
    }

    fn get<Q>(&self, hash: u64, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let shard = self
            .shard(hash)?
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        shard.get(key)
    }

    fn insert(&self, hash: u64, key: K, value: V) -> V {
        match self.shard(hash) {
            Some(lock) => lock
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key, value),
            None => value,
        }
    }

    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(PoisonError::into_inner).slots.len())
            .sum()
    }
}

/// What an [`Analyzer`] makes of each new shape's analysis.
type Derive<S> = Box<dyn Fn(Analysis) -> S + Send + Sync>;

/// A thread-safe (`Send + Sync`), bounded analysis cache; see the module documentation of
/// this file and the crate documentation for the design. It caches, per shape, an `S` made
/// from the shape's [`Analysis`] (the analysis itself unless built by [`Analyzer::shaping`]).
pub struct Analyzer<S = Analysis> {
    texts: Sharded<Arc<str>, Arc<S>>,
    shapes: Sharded<Fingerprint, Arc<S>>,
    max_text: usize,
    derive: Derive<S>,
}

impl<S> std::fmt::Debug for Analyzer<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer")
            .field("fingerprints", &self.len())
            .field("texts", &self.texts.len())
            .field("max_text", &self.max_text)
            .finish()
    }
}

impl Analyzer {
    /// An analyzer keeping at most about `capacity` fingerprints (and as many exact texts of
    /// at most [`DEFAULT_MAX_CACHED_TEXT`] bytes). Capacity is split evenly over the shards
    /// and rounded up to a multiple of their number.
    pub fn new(capacity: usize) -> Self {
        Self::with_max_text(capacity, DEFAULT_MAX_CACHED_TEXT)
    }

    /// Like [`Analyzer::new`], caching exact texts only up to `max_text` bytes (0 disables the
    /// exact-text cache).
    pub fn with_max_text(capacity: usize, max_text: usize) -> Self {
        Analyzer::shaping(capacity, max_text, |analysis| analysis)
    }
}

impl<S> Analyzer<S> {
    /// Like [`Analyzer::with_max_text`], caching per shape `derive(analysis)` instead of the
    /// analysis: `derive` runs once per new fingerprint (on the slow path, after the parse).
    pub fn shaping(
        capacity: usize,
        max_text: usize,
        derive: impl Fn(Analysis) -> S + Send + Sync + 'static,
    ) -> Self {
        Analyzer {
            texts: Sharded::new(capacity),
            shapes: Sharded::new(capacity),
            max_text,
            derive: Box::new(derive),
        }
    }

    /// The analysis of `sql`: from the exact-text cache, else by normalizing it and looking up
    /// its fingerprint, else by a full analysis (cached for the next time). Strings are read
    /// as with `standard_conforming_strings = on`; see [`Analyzer::analyze_with`].
    pub fn analyze(&self, sql: &str) -> Arc<S> {
        self.analyze_with(sql, ConformingStrings::On)
    }

    /// [`Analyzer::analyze`] for a connection whose `standard_conforming_strings` is
    /// `strings`. The exact-text cache holds analyses read under `On`; a text is read
    /// differently under another setting only if it holds a backslash, so such a text skips
    /// that cache under `Off` or `Unknown` (it still finds its fingerprint's analysis).
    pub fn analyze_with(&self, sql: &str, strings: ConformingStrings) -> Arc<S> {
        let cacheable = sql.len() <= self.max_text
            && (strings == ConformingStrings::On
                || memchr::memchr(b'\\', sql.as_bytes()).is_none());
        let text_hash = cacheable.then(|| fp64(sql.as_bytes()));
        if let Some(hash) = text_hash {
            if let Some(hit) = self.texts.get(hash, sql) {
                return hit;
            }
        }
        let normalized = normalize::normalize(sql, strings);
        let fingerprint = Fingerprint(normalized.fingerprint);
        let analysis = match self.shapes.get(fingerprint.0, &fingerprint) {
            Some(hit) => hit,
            None => {
                let analysis = build_analysis(sql, strings, fingerprint, normalized.text);
                let fresh = Arc::new((self.derive)(analysis));
                self.shapes.insert(fingerprint.0, fingerprint, fresh)
            }
        };
        if let Some(hash) = text_hash {
            self.texts
                .insert(hash, Arc::from(sql), Arc::clone(&analysis));
        }
        analysis
    }

    /// Number of fingerprints cached.
    pub fn len(&self) -> usize {
        self.shapes.len()
    }

    /// Whether no fingerprint is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_keeps_referenced_entries_and_evicts_others() {
        let mut clock: Clock<u32, u32> = Clock::new(2);
        clock.insert(1, 10);
        clock.insert(2, 20);
        assert_eq!(clock.get(&1), Some(10));
        clock.insert(3, 30);
        assert_eq!(clock.get(&1), Some(10));
        assert_eq!(clock.get(&2), None);
        assert_eq!(clock.get(&3), Some(30));
        assert_eq!(clock.slots.len(), 2);
    }

    #[test]
    fn inserting_an_existing_key_returns_the_first_value() {
        let mut clock: Clock<u32, u32> = Clock::new(4);
        assert_eq!(clock.insert(1, 10), 10);
        assert_eq!(clock.insert(1, 11), 10);
    }

    #[test]
    fn analyzer_is_bounded() {
        let analyzer = Analyzer::new(32);
        for i in 0..500 {
            analyzer.analyze(&format!("select c{i} from t where a = {i}"));
        }
        assert!(analyzer.len() <= 32, "{}", analyzer.len());
        assert!(analyzer.texts.len() <= 32);
    }

    #[test]
    fn analyzer_returns_the_shared_analysis_for_one_shape() {
        let analyzer = Analyzer::new(100);
        let a = analyzer.analyze("SELECT * FROM t WHERE id = 1");
        let b = analyzer.analyze("select * from t where id = 2");
        let c = analyzer.analyze("SELECT * FROM t WHERE id = 1");
        assert!(Arc::ptr_eq(&a, &b));
        assert!(Arc::ptr_eq(&a, &c));
        assert_eq!(analyzer.len(), 1);
    }

    #[test]
    fn analyzer_is_send_and_sync_and_works_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Analyzer>();
        let analyzer = Arc::new(Analyzer::new(64));
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let analyzer = Arc::clone(&analyzer);
                std::thread::spawn(move || {
                    for i in 0..200 {
                        let a =
                            analyzer.analyze(&format!("select * from t{} where id = {i}", i % 8));
                        assert_eq!(a.tables, vec![format!("t{}", i % 8)], "thread {t}");
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().expect("thread");
        }
        assert_eq!(analyzer.len(), 8);
    }
}
