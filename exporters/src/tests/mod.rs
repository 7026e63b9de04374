//! Tests over a hand-built [`Snapshot`] as the source.

mod batched;
mod formats;
mod records;
mod views;

use crate::snapshot::{FingerprintText, SNAPSHOT_VERSION};
use crate::WindowConfig;
use crate::{QueryInfo, QueryStats, Sample, SampleOutcome, Snapshot, SnapshotEntry, SourceMeta};

/// 2024-05-01T12:00:30Z.
pub(crate) const NOW: u64 = 1_714_564_830_000;

pub(crate) fn config() -> WindowConfig {
    WindowConfig {
        width_ms: 60_000,
        count: 60,
    }
}

pub(crate) fn ok(at_ms: u64, latency_us: u64, rows: u64) -> Sample {
    Sample {
        at_ms,
        latency_us,
        rows: Some(rows),
        outcome: SampleOutcome::Ok,
        batched: false,
        batch_us: None,
    }
}

pub(crate) fn failed(at_ms: u64, latency_us: u64, code: &[u8; 5]) -> Sample {
    Sample {
        at_ms,
        latency_us,
        rows: None,
        outcome: SampleOutcome::Error(*code),
        batched: false,
        batch_us: None,
    }
}

/// An entry with `samples` recorded.
pub(crate) fn entry(
    fingerprint: u64,
    database: &str,
    user: &str,
    samples: &[Sample],
) -> SnapshotEntry {
    let mut stats = QueryStats::default();
    for sample in samples {
        stats.record(sample, &config());
    }
    SnapshotEntry {
        fingerprint: FingerprintText(fingerprint),
        database: database.to_owned(),
        user: user.to_owned(),
        application: "app".to_owned(),
        info: QueryInfo {
            query: format!("SELECT * FROM t{fingerprint} WHERE id = $1").into(),
            summary: format!("SELECT t{fingerprint}").into(),
            operation: "SELECT".into(),
            tables: vec![format!("t{fingerprint}").into()],
        },
        stats,
    }
}

pub(crate) fn snapshot(entries: Vec<SnapshotEntry>) -> Snapshot {
    Snapshot {
        version: SNAPSHOT_VERSION,
        meta: SourceMeta {
            taken_at_ms: NOW,
            since_ms: NOW - 3_600_000,
            windows: config(),
            enabled: true,
            entries: entries.len() as u64,
            max_entries: 5000,
            evictions: 0,
        },
        entries,
    }
}

/// Three entries: a busy fast query, a slow one, and one that fails.
pub(crate) fn workload() -> Snapshot {
    let fast: Vec<Sample> = (0..1000)
        .map(|i| ok(NOW - 1000 - i, 100 + i % 50, 1))
        .collect();
    let slow: Vec<Sample> = (0..10)
        .map(|i| ok(NOW - 30 * 60_000 - i, 50_000 + i, 3))
        .collect();
    let mut failing: Vec<Sample> = (0..5).map(|i| ok(NOW - 5_000 - i, 2_000, 0)).collect();
    failing.push(failed(NOW - 4_000, 1_000, b"23505"));
    failing.push(failed(NOW - 4_000, 1_000, b"23505"));
    failing.push(failed(NOW - 4_000, 1_000, b"42P01"));
    snapshot(vec![
        entry(1, "shop", "web", &fast),
        entry(2, "shop", "batch", &slow),
        entry(3, "crm", "web", &failing),
    ])
}
