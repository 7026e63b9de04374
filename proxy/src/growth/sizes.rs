//! The size series of every sampled table, bounded: per table a ring of the last `capacity`
//! samples, and tables no longer referenced by any recorded query are forgotten.

use std::collections::{HashMap, VecDeque};

use pgscope_exporters::growth::SizePoint;

use super::catalog::TableSize;
use super::detector::SizeSample;

/// One table's samples and its latest catalog row.
#[derive(Debug, Clone)]
pub struct TableHistory {
    /// Samples, oldest first.
    pub points: VecDeque<SizePoint>,
    /// The detector's view of `points` (kept in step).
    pub samples: Vec<SizeSample>,
    /// The latest catalog row.
    pub latest: TableSize,
}

/// Size series keyed by database and table name.
#[derive(Debug)]
pub struct SizeStore {
    capacity: usize,
    tables: HashMap<(String, String), TableHistory>,
}

impl SizeStore {
    /// A store keeping at most `capacity` (≥ 2) samples per table.
    pub fn new(capacity: usize) -> Self {
        SizeStore {
            capacity: capacity.max(2),
            tables: HashMap::new(),
        }
    }

    /// Records one sample of `size` in `database` taken at `at_ms` (unresolved names are not
    /// recorded).
    pub fn record(&mut self, database: &str, at_ms: u64, size: TableSize) {
        if size.resolved.is_none() {
            return;
        }
        let point = SizePoint {
            at_ms,
            bytes: size.bytes,
            live_tuples: size.live_tuples,
        };
        let key = (database.to_owned(), size.name.clone());
        let history = self.tables.entry(key).or_insert_with(|| TableHistory {
            points: VecDeque::new(),
            samples: Vec::new(),
            latest: size.clone(),
        });
        if history.points.len() == self.capacity {
            history.points.pop_front();
            history.samples.remove(0);
        }
        history.points.push_back(point);
        history.samples.push(SizeSample {
            at_ms,
            bytes: size.bytes,
        });
        history.latest = size;
    }

    /// The history of `table` in `database`.
    pub fn get(&self, database: &str, table: &str) -> Option<&TableHistory> {
        self.tables.get(&(database.to_owned(), table.to_owned()))
    }

    /// Forgets every table for which `keep` is false.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        self.tables.retain(|(db, table), _| keep(db, table));
    }

    /// Tables held.
    pub fn len(&self) -> usize {
        self.tables.len()
    }

    /// Whether no table is held.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(name: &str, bytes: u64, resolved: bool) -> TableSize {
        TableSize {
            name: name.to_owned(),
            resolved: resolved.then(|| format!("public.{name}")),
            bytes,
            relpages: bytes / 8192,
            live_tuples: bytes / 100,
            seq_scans: 0,
            index_scans: 0,
        }
    }

    #[test]
    fn each_table_keeps_its_last_samples_only() {
        let mut store = SizeStore::new(3);
        for i in 0..5u64 {
            store.record("app", i * 1000, size("t", 100 * (i + 1), true));
        }
        let history = store.get("app", "t").unwrap();
        let bytes: Vec<u64> = history.samples.iter().map(|s| s.bytes).collect();
        assert_eq!(bytes, [300, 400, 500]);
        assert_eq!(history.points.len(), 3);
        assert_eq!(history.latest.bytes, 500);
    }

    #[test]
    fn unresolved_tables_are_not_recorded_and_retain_forgets() {
        let mut store = SizeStore::new(3);
        store.record("app", 0, size("ghost", 100, false));
        assert!(store.is_empty());
        store.record("app", 0, size("a", 100, true));
        store.record("other", 0, size("a", 100, true));
        assert_eq!(store.len(), 2);
        store.retain(|db, _| db == "app");
        assert_eq!(store.len(), 1);
        assert!(store.get("other", "a").is_none());
    }
}
