//! The growth report's schema: what `GET /api/v1/growth` returns and the "Degrading hot paths"
//! section of `pgscope report` and `pgscope top` shows.
//!
//! The proxy's growth monitor fills it (detection lives there); this module only says what a
//! flag is, so that the API, the reports and the tests share one definition, and a report can
//! be rendered from JSON fetched from another process.

use serde::{Deserialize, Serialize};

/// The state of growth detection at one instant.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GrowthReport {
    /// Whether the monitor runs.
    pub enabled: bool,
    /// Sampling interval, ms.
    pub interval_ms: u64,
    /// Size ratio a table must reach over the windows to blame its growth (`growth.min_growth`).
    #[serde(default)]
    pub min_growth: f64,
    /// Latency elasticity at or above which a fingerprint is flagged (`growth.elasticity`).
    #[serde(default)]
    pub elasticity: f64,
    /// When the last sampling round ended, ms since the epoch (0: none yet).
    pub sampled_at_ms: u64,
    /// Sampling rounds completed.
    pub rounds: u64,
    /// Per-database catalog queries that failed (connect or query), since start.
    pub failures: u64,
    /// The monitor's connection to each database seen in traffic.
    pub databases: Vec<DatabaseStatus>,
    /// Flagged fingerprints (degrading hot paths), most impact first.
    pub flags: Vec<Flag>,
    /// Lower-ranked observations that are not degrading hot paths (`tail_latency_rose`: a
    /// table grew and the tail followed while the typical call did not), most impact first.
    #[serde(default)]
    pub observations: Vec<Flag>,
    /// Flags that came and went, most recently cleared first (bounded).
    #[serde(default)]
    pub cleared: Vec<ClearedFlag>,
}

/// A flag whose episode ended: it stayed below its thresholds for several rounds in a row.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClearedFlag {
    /// Fingerprint, 16 hex digits.
    pub fingerprint: String,
    /// Database.
    pub database: String,
    /// Low-cardinality summary.
    pub summary: String,
    /// The class it last had.
    pub class: String,
    /// The table it blamed, if any.
    pub table: Option<String>,
    /// Its last explanation.
    pub explanation: String,
    /// When the episode began, ms since the epoch.
    pub first_flagged_ms: u64,
    /// When it was last above its thresholds, ms since the epoch.
    pub last_flagged_ms: u64,
    /// When it was cleared, ms since the epoch.
    pub cleared_ms: u64,
}

/// The monitor's view of one database.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DatabaseStatus {
    /// Database name.
    pub database: String,
    /// Whether the last attempt succeeded.
    pub ok: bool,
    /// The last error, when not ok.
    pub error: Option<String>,
    /// Consecutive failures.
    pub failures: u32,
    /// Tables sampled in the last successful round.
    pub tables: usize,
    /// When the last successful sample was taken, ms since the epoch.
    pub last_ok_ms: u64,
    /// When the next attempt is due after a failure (backoff), ms since the epoch.
    pub retry_at_ms: u64,
}

/// A fit of `ln y` against `ln size`: the elasticity and its ~95% interval.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Elasticity {
    /// The Theil–Sen slope.
    pub value: f64,
    /// Lower bound of the interval.
    pub low: f64,
    /// Upper bound of the interval.
    pub high: f64,
    /// Points fitted.
    pub points: usize,
}

/// Projected latency at larger sizes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Forecast {
    /// Modelled median (fixed + size-dependent part) now, ms.
    #[serde(default)]
    pub p50_now_ms: f64,
    /// Modelled median at twice the current size, ms.
    #[serde(default)]
    pub p50_at_2x_ms: f64,
    /// Modelled median at ten times the current size, ms.
    #[serde(default)]
    pub p50_at_10x_ms: f64,
    /// Fitted p95 now, ms.
    pub p95_now_ms: f64,
    /// Projected p95 at twice the current size, ms.
    pub p95_at_2x_ms: f64,
    /// Projected p95 at ten times the current size, ms.
    pub p95_at_10x_ms: f64,
    /// Seconds until the table doubles at its rate over its last 4 catalog samples (`None`:
    /// not growing now).
    pub seconds_to_2x: Option<f64>,
}

/// One size sample of a table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SizePoint {
    /// When, ms since the epoch.
    pub at_ms: u64,
    /// `pg_relation_size`, bytes.
    pub bytes: u64,
    /// `n_live_tup`.
    pub live_tuples: u64,
}

/// One table a flagged query touches.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TableView {
    /// As referenced by the query.
    pub name: String,
    /// As resolved through `search_path`.
    pub resolved: Option<String>,
    /// Sequential scans on it (latest sample).
    pub seq_scans: u64,
    /// Index scans on it (latest sample).
    pub index_scans: u64,
    /// Its size over time, oldest first.
    pub sizes: Vec<SizePoint>,
}

/// One latency point of a flagged query (a recorder window).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyPoint {
    /// Window start, ms since the epoch.
    pub start_ms: u64,
    /// Calls.
    pub calls: u64,
    /// Median, ms.
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// Rows per call.
    pub rows_per_call: f64,
    /// The blamed table's size at the window's middle, bytes (0 when unknown).
    pub table_bytes: u64,
}

/// A plan node reading the blamed table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlanNode {
    /// `Seq Scan`, `Index Scan` …
    pub node_type: String,
    /// The relation.
    pub relation: String,
    /// The index, if any.
    pub index: Option<String>,
    /// Filter or index condition.
    pub filter: Option<String>,
    /// The index condition alone, if any.
    #[serde(default)]
    pub index_cond: Option<String>,
    /// Whether a `Filter` discards rows the node read.
    #[serde(default)]
    pub filtered: bool,
    /// Whether a `Limit` is above it.
    #[serde(default)]
    pub under_limit: bool,
    /// Estimated rows.
    pub estimated_rows: f64,
}

/// What EXPLAIN (generic plan, never ANALYZE) says about the blamed table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Nodes on the table.
    pub nodes: Vec<PlanNode>,
    /// Whether one of them is a sequential scan.
    pub seq_scan: bool,
    /// Whether the table is reached only through index probes with a bounded row count
    /// (Index Scan / Index Only Scan with an equality condition or under a `Limit`, no filter).
    #[serde(default)]
    pub bounded_index: bool,
    /// Root cost estimate.
    pub total_cost: f64,
    /// Why there is no plan, when EXPLAIN failed.
    pub error: Option<String>,
}

/// A fingerprint the detector flagged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Flag {
    /// Fingerprint, 16 hex digits.
    pub fingerprint: String,
    /// Database.
    pub database: String,
    /// Normalized query text.
    pub query: String,
    /// Low-cardinality summary.
    pub summary: String,
    /// `scan_growth`, `result_growth`, `slower_without_growth` (flags) or `tail_latency_rose`
    /// (observations).
    pub class: String,
    /// One line saying what happened and why.
    pub explanation: String,
    /// Share of total time × elasticity (× ln slowdown for flat tables): the ranking key.
    pub impact: f64,
    /// The fingerprint's share of recorded time over the windows, 0–1.
    pub time_share: f64,
    /// The table blamed (growth classes).
    pub table: Option<String>,
    /// Its size ratio over the windows used.
    pub growth: Option<f64>,
    /// Elasticity of p50 to the table's size (pure power law): evidence, not decided on.
    pub p50_elasticity: Option<Elasticity>,
    /// Elasticity of p10 (each window's fastest tenth of calls, the least delayed by
    /// contention) to the table's size (pure power law); growth needs its interval above 0.
    #[serde(default)]
    pub p10_elasticity: Option<Elasticity>,
    /// Fixed per-call part of the p10, ms (p10 = fixed + b·size^k).
    #[serde(default)]
    pub fixed_cost_ms: Option<f64>,
    /// Elasticity `k` of the size-dependent part of the p10: what growth is decided on.
    #[serde(default)]
    pub variable_elasticity: Option<Elasticity>,
    /// Elasticity of p95 to the table's size.
    pub p95_elasticity: Option<Elasticity>,
    /// Elasticity of rows per call to the table's size.
    pub rows_elasticity: Option<Elasticity>,
    /// Recent p95 over early p95.
    pub slowdown: f64,
    /// Recent p95 minus early p95, ms (slower without growth).
    #[serde(default)]
    pub slowdown_ms: Option<f64>,
    /// One-sided Mann–Whitney p-value of the late windows being slower (slower without growth).
    #[serde(default)]
    pub slowdown_p_value: Option<f64>,
    /// The late windows' p10 over the early ones' (slower without growth: at least `slowdown`,
    /// so even the fastest calls slowed).
    #[serde(default)]
    pub slowdown_p10: Option<f64>,
    /// Projection (growth classes).
    pub forecast: Option<Forecast>,
    /// The plan on the blamed table (scan growth).
    pub plan: Option<Plan>,
    /// Tables of the query with their size series.
    pub tables: Vec<TableView>,
    /// The query's latency per window.
    pub latency: Vec<LatencyPoint>,
    /// When its episode began, ms since the epoch (kept while the flag stands).
    pub first_flagged_ms: u64,
    /// Consecutive rounds it has been below its thresholds (it clears after a few).
    #[serde(default)]
    pub rounds_below: u32,
}
