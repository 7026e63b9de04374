//! Prometheus exposition, built with the `prometheus` crate: a [`Collector`] over any
//! [`StatsSource`], so `/metrics` is `registry.gather()` plus the crate's `TextEncoder` — no
//! hand-written exposition text.
//!
//! Per-query metrics follow OpenTelemetry's `db.client.operation.duration`:
//! `db_client_operation_duration_seconds{db_system_name, db_namespace, db_operation_name,
//! db_query_summary, fingerprint}`. To bound cardinality, only the `top_k` fingerprints by total
//! time get their own `fingerprint` label; the rest are summed under `fingerprint="other"`
//! (still split by database, operation and summary, which are low-cardinality). Bucket counts
//! are exact: each entry keeps a counter per bucket ([`DurationBuckets`]) besides its histogram.
//!
//! Failed operations are their own series of the duration histogram, labelled — as the
//! convention asks — `error_type` and `db_response_status_code`, both set to the SQLSTATE
//! *class* (two characters, e.g. `23`): PostgreSQL defines about forty classes, so failures
//! add at most that many series per query shape, where full codes (hundreds) would not be
//! bounded as tightly. Successful operations keep the series without those labels. Batched
//! calls (latency not observed) are counted in `pgscope_query_calls_total` but in no
//! histogram.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use prometheus::core::{Collector, Desc};
use prometheus::proto::{
    Bucket, Counter, Gauge, Histogram, LabelPair, Metric, MetricFamily, MetricType,
};
use prometheus::{Encoder, Registry, TextEncoder};

use crate::model::buckets::DurationBuckets;
use crate::model::failures::ClassDurations;
use crate::model::source::{fingerprint_hex, HealthKind, StatsSource};

pub use crate::model::buckets::BUCKETS_SECONDS;

/// Options of the collector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsOptions {
    /// Fingerprints (by total time) labelled individually; the rest are `other`.
    pub top_k: usize,
}

impl Default for MetricsOptions {
    fn default() -> Self {
        MetricsOptions { top_k: 100 }
    }
}

/// The collector: registers in a [`Registry`], reads the source on every gather.
pub struct StatsCollector {
    source: Arc<dyn StatsSource>,
    options: MetricsOptions,
    descs: Vec<Desc>,
}

impl std::fmt::Debug for StatsCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatsCollector")
            .field("options", &self.options)
            .finish()
    }
}

const DURATION: &str = "db_client_operation_duration_seconds";
const CALLS: &str = "pgscope_query_calls_total";
const ERRORS: &str = "pgscope_query_errors_total";
const ROWS: &str = "pgscope_query_rows_total";
const QUERY_LABELS: [&str; 5] = [
    "db_system_name",
    "db_namespace",
    "db_operation_name",
    "db_query_summary",
    "fingerprint",
];

impl StatsCollector {
    /// A collector over `source`.
    pub fn new(source: Arc<dyn StatsSource>, options: MetricsOptions) -> Self {
        let labels: Vec<String> = QUERY_LABELS.iter().map(|l| (*l).to_owned()).collect();
        let mut with_class = labels.clone();
        with_class.push("sqlstate_class".to_owned());
        let descs = [
            (
                DURATION,
                "Duration of queries through pgscope, first byte sent upstream to completion.",
                &labels,
            ),
            (CALLS, "Queries completed (successfully or not).", &labels),
            (
                ERRORS,
                "Queries that failed, by SQLSTATE class.",
                &with_class,
            ),
            (
                ROWS,
                "Rows returned or affected, from command tags.",
                &labels,
            ),
        ]
        .into_iter()
        .filter_map(|(name, help, labels)| {
            Desc::new(
                name.to_owned(),
                help.to_owned(),
                labels.clone(),
                HashMap::new(),
            )
            .ok()
        })
        .collect();
        StatsCollector {
            source,
            options,
            descs,
        }
    }

    /// A registry holding just this collector.
    pub fn registry(self) -> Result<Registry, prometheus::Error> {
        let registry = Registry::new();
        registry.register(Box::new(self))?;
        Ok(registry)
    }
}

/// Renders everything `registry` gathers in the Prometheus text format.
pub fn encode_text(registry: &Registry) -> Result<String, prometheus::Error> {
    let mut text = String::new();
    TextEncoder::new().encode_utf8(&registry.gather(), &mut text)?;
    Ok(text)
}

/// The `Content-Type` of [`encode_text`]'s output.
pub fn text_content_type() -> String {
    TextEncoder::new().format_type().to_owned()
}

/// The label values of one series.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct SeriesKey {
    database: String,
    operation: String,
    summary: String,
    fingerprint: String,
}

#[derive(Debug, Default)]
struct Series {
    calls: u64,
    /// Calls whose latency was observed: the histogram's count (batched calls are not in it).
    timed_calls: u64,
    rows: u64,
    total_us: u64,
    buckets: DurationBuckets,
    errors: BTreeMap<String, u64>,
    /// Timed failed calls by SQLSTATE class (a subset of `buckets`).
    failed: BTreeMap<String, ClassDurations>,
}

impl StatsCollector {
    fn series(&self) -> BTreeMap<SeriesKey, Series> {
        // Copy what is needed from each entry (the lock is held per entry, briefly).
        struct Row {
            fingerprint: u64,
            key: SeriesKey,
            series: Series,
        }
        let mut rows = Vec::new();
        self.source.for_each_entry(&mut |entry| {
            let stats = entry.stats;
            let mut errors = BTreeMap::new();
            for (code, n) in stats.errors.iter() {
                let class = String::from_utf8_lossy(code.get(..2).unwrap_or(&code)).into_owned();
                *errors.entry(class).or_insert(0) += n;
            }
            let mut failed = BTreeMap::new();
            for durations in stats.failed_durations.iter() {
                let class = String::from_utf8_lossy(&durations.class).into_owned();
                failed.insert(class, *durations);
            }
            rows.push(Row {
                fingerprint: entry.fingerprint,
                key: SeriesKey {
                    database: entry.labels.database.to_owned(),
                    operation: entry.info.operation.to_string(),
                    summary: entry.info.summary.to_string(),
                    fingerprint: String::new(),
                },
                series: Series {
                    calls: stats.calls,
                    timed_calls: stats.timed_calls(),
                    rows: stats.rows,
                    total_us: stats.total_us,
                    buckets: stats.buckets,
                    errors,
                    failed,
                },
            });
        });
        let mut by_fingerprint: HashMap<u64, u64> = HashMap::new();
        for row in &rows {
            *by_fingerprint.entry(row.fingerprint).or_insert(0) += row.series.total_us;
        }
        let mut ranked: Vec<(u64, u64)> = by_fingerprint.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.truncate(self.options.top_k);
        let top: HashMap<u64, String> = ranked
            .into_iter()
            .map(|(fp, _)| (fp, fingerprint_hex(fp)))
            .collect();
        let mut series: BTreeMap<SeriesKey, Series> = BTreeMap::new();
        for mut row in rows {
            row.key.fingerprint = top
                .get(&row.fingerprint)
                .cloned()
                .unwrap_or_else(|| "other".to_owned());
            let merged = series.entry(row.key).or_default();
            merged.calls += row.series.calls;
            merged.timed_calls += row.series.timed_calls;
            merged.rows += row.series.rows;
            merged.total_us = merged.total_us.saturating_add(row.series.total_us);
            merged.buckets.add(&row.series.buckets);
            for (class, n) in row.series.errors {
                *merged.errors.entry(class).or_insert(0) += n;
            }
            for (class, durations) in row.series.failed {
                let into = merged.failed.entry(class).or_default();
                into.buckets.add(&durations.buckets);
                into.count += durations.count;
                into.total_us = into.total_us.saturating_add(durations.total_us);
            }
        }
        series
    }
}

fn label_pairs(key: &SeriesKey, extra: &[(&str, &str)]) -> Vec<LabelPair> {
    let values = [
        "postgresql",
        &key.database,
        &key.operation,
        &key.summary,
        &key.fingerprint,
    ];
    let mut pairs: Vec<LabelPair> = QUERY_LABELS
        .iter()
        .zip(values)
        .map(|(name, value)| pair(name, value))
        .collect();
    pairs.extend(extra.iter().map(|(name, value)| pair(name, value)));
    pairs
}

fn pair(name: &str, value: &str) -> LabelPair {
    let mut pair = LabelPair::default();
    pair.set_name(name.to_owned());
    pair.set_value(value.to_owned());
    pair
}

fn family(name: &str, help: &str, kind: MetricType, metrics: Vec<Metric>) -> MetricFamily {
    let mut family = MetricFamily::default();
    family.set_name(name.to_owned());
    family.set_help(help.to_owned());
    family.set_field_type(kind);
    family.set_metric(metrics);
    family
}

fn counter(labels: Vec<LabelPair>, value: f64) -> Metric {
    let mut counter = Counter::default();
    counter.set_value(value);
    let mut metric = Metric::from_label(labels);
    metric.set_counter(counter);
    metric
}

fn gauge(labels: Vec<LabelPair>, value: f64) -> Metric {
    let mut gauge = Gauge::default();
    gauge.set_value(value);
    let mut metric = Metric::from_label(labels);
    metric.set_gauge(gauge);
    metric
}

/// The duration histograms of `series`: the successful calls', then one per SQLSTATE class of
/// failed calls, labelled with it.
fn histograms(key: &SeriesKey, series: &Series, into: &mut Vec<Metric>) {
    let mut ok = ClassDurations {
        buckets: series.buckets,
        count: series.timed_calls,
        total_us: series.total_us,
        ..ClassDurations::default()
    };
    for failed in series.failed.values() {
        ok.buckets.subtract(&failed.buckets);
        ok.count = ok.count.saturating_sub(failed.count);
        ok.total_us = ok.total_us.saturating_sub(failed.total_us);
    }
    if ok.count > 0 || series.failed.is_empty() {
        into.push(histogram(label_pairs(key, &[]), &ok));
    }
    for (class, failed) in &series.failed {
        let labels = label_pairs(
            key,
            &[("error_type", class), ("db_response_status_code", class)],
        );
        into.push(histogram(labels, failed));
    }
}

fn histogram(labels: Vec<LabelPair>, durations: &ClassDurations) -> Metric {
    let mut cumulative = 0u64;
    let buckets = BUCKETS_SECONDS
        .iter()
        .zip(durations.buckets.0.iter())
        .map(|(bound, count)| {
            cumulative += count;
            let mut bucket = Bucket::default();
            bucket.set_upper_bound(*bound);
            bucket.set_cumulative_count(cumulative);
            bucket
        })
        .collect();
    let mut histogram = Histogram::default();
    histogram.set_sample_count(durations.count);
    histogram.set_sample_sum(durations.total_us as f64 / 1e6);
    histogram.set_bucket(buckets);
    let mut metric = Metric::from_label(labels);
    metric.set_histogram(histogram);
    metric
}

impl Collector for StatsCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let series = self.series();
        let (mut durations, mut calls, mut errors, mut rows) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (key, series) in &series {
            histograms(key, series, &mut durations);
            calls.push(counter(label_pairs(key, &[]), series.calls as f64));
            rows.push(counter(label_pairs(key, &[]), series.rows as f64));
            for (class, n) in &series.errors {
                let labels = label_pairs(key, &[("sqlstate_class", class)]);
                errors.push(counter(labels, *n as f64));
            }
        }
        let mut families = Vec::new();
        for (name, kind, metrics) in [
            (DURATION, MetricType::HISTOGRAM, durations),
            (CALLS, MetricType::COUNTER, calls),
            (ERRORS, MetricType::COUNTER, errors),
            (ROWS, MetricType::COUNTER, rows),
        ] {
            if !metrics.is_empty() {
                let help = self
                    .descs
                    .iter()
                    .find(|d| d.fq_name == name)
                    .map(|d| d.help.clone())
                    .unwrap_or_default();
                families.push(family(name, &help, kind, metrics));
            }
        }
        families.extend(self.own_families());
        families
    }
}

impl StatsCollector {
    /// The recorder's and the proxy's own figures.
    fn own_families(&self) -> Vec<MetricFamily> {
        let meta = self.source.meta();
        let mut families = vec![
            family(
                "pgscope_recorder_entries",
                "Fingerprint × database × user × application entries held by the recorder.",
                MetricType::GAUGE,
                vec![gauge(Vec::new(), meta.entries as f64)],
            ),
            family(
                "pgscope_recorder_max_entries",
                "The bound on recorder entries (recorder.max_fingerprints).",
                MetricType::GAUGE,
                vec![gauge(Vec::new(), meta.max_entries as f64)],
            ),
            family(
                "pgscope_recorder_evictions_total",
                "Entries evicted (least total time first) to stay within the bound.",
                MetricType::COUNTER,
                vec![counter(Vec::new(), meta.evictions as f64)],
            ),
            family(
                "pgscope_recorder_enabled",
                "1 when per-query recording is on.",
                MetricType::GAUGE,
                vec![gauge(Vec::new(), if meta.enabled { 1.0 } else { 0.0 })],
            ),
        ];
        let mut health: BTreeMap<&str, (&str, HealthKind, Vec<Metric>)> = BTreeMap::new();
        for metric in self.source.health() {
            let labels = metric
                .labels
                .iter()
                .map(|(name, value)| pair(name, value))
                .collect();
            let sample = match metric.kind {
                HealthKind::Counter => counter(labels, metric.value),
                HealthKind::Gauge => gauge(labels, metric.value),
            };
            health
                .entry(metric.name)
                .or_insert_with(|| (metric.help, metric.kind, Vec::new()))
                .2
                .push(sample);
        }
        for (name, (help, kind, metrics)) in health {
            let kind = match kind {
                HealthKind::Counter => MetricType::COUNTER,
                HealthKind::Gauge => MetricType::GAUGE,
            };
            families.push(family(name, help, kind, metrics));
        }
        families
    }
}
