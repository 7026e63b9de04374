//! The growth monitor: a pingora background service that, every `growth.interval`, samples
//! the sizes of the tables recorded queries touch (one connection of its own per database),
//! runs the detector on every fingerprint's windows, explains newly flagged scans, and
//! publishes a [`GrowthReport`] for the admin API.
//!
//! It never touches the forwarding path: it reads the recorder through the same
//! [`StatsSource`](pgscope_exporters::StatsSource) as `/metrics`, as the model's numeric
//! window series ([`window_series`]: fingerprints as `u64`, latencies in µs, turned into the
//! report's hex and milliseconds only for the flags), and talks to PostgreSQL
//! on its own connections. A database it cannot reach is retried with exponential backoff (the
//! interval doubled per consecutive failure, up to 10 minutes) and reported in the report's
//! `databases`, in `/healthz` and `/metrics` and in the log; queries are never affected.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pgscope_config::GrowthConfig;
use pgscope_exporters::growth::{DatabaseStatus, Flag, GrowthReport, Plan};
use pgscope_exporters::model::{fingerprint_hex, window_series, Filter, Grouping, WindowSeries};
use pgscope_exporters::StatsSource;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;

use super::catalog::{connect_config, Catalog, Target};
use super::detector::{Class, Finding, Settings, SizeSample, WindowSample};
use super::episodes::Episodes;
use super::flag::{flag_of, FlagInput};
use super::plan::{explain_execute, placeholders, summarize};
use super::round::{assess_round, Tables};
use super::sizes::{SizeStore, TableHistory};
use super::state::GrowthState;
use crate::recorder::Recorder;

/// Longest backoff between attempts on a failing database.
const MAX_BACKOFF: Duration = Duration::from_secs(600);
/// Most tables sampled per database per round.
const MAX_TABLES: usize = 10_000;
/// Name of the statement the monitor prepares to explain a query.
const PLAN_STATEMENT: &str = "pgscope_growth_plan";

/// One database's link: the connection, if up, and its failure record.
#[derive(Debug, Default)]
struct Link {
    catalog: Option<Catalog>,
    status: DatabaseStatus,
}

/// Everything the monitor carries from one round to the next.
#[derive(Debug)]
struct Rounds {
    links: BTreeMap<String, Link>,
    sizes: SizeStore,
    episodes: Episodes,
    plans: HashMap<(String, String), (u64, Plan)>,
    rounds: u64,
    failures: u64,
}

/// The background service.
#[derive(Debug)]
pub struct GrowthMonitor {
    recorder: Arc<Recorder>,
    target: Target,
    state: Arc<GrowthState>,
    rounds: tokio::sync::Mutex<Rounds>,
}

impl GrowthMonitor {
    /// A monitor of the upstream `target`, reading `recorder`, publishing to `state` (whose
    /// settings it follows).
    pub fn new(recorder: Arc<Recorder>, target: Target, state: Arc<GrowthState>) -> Self {
        let config = state.config();
        let meta = recorder.meta();
        let kept_ms = meta
            .windows
            .width_ms
            .saturating_mul(meta.windows.count as u64 + 1);
        let interval_ms = config.interval.as_millis().max(1) as u64;
        let capacity = (kept_ms / interval_ms + 2).clamp(8, 4096) as usize;
        GrowthMonitor {
            recorder,
            target,
            state,
            rounds: tokio::sync::Mutex::new(Rounds {
                links: BTreeMap::new(),
                sizes: SizeStore::new(capacity),
                episodes: Episodes::default(),
                plans: HashMap::new(),
                rounds: 0,
                failures: 0,
            }),
        }
    }

    /// The `[growth]` settings in force (a reload may change them).
    fn config(&self) -> Arc<GrowthConfig> {
        self.state.config()
    }

    fn settings(&self, width_ms: u64) -> Settings {
        let config = self.config();
        Settings {
            min_growth: config.min_growth,
            elasticity: config.elasticity,
            min_slowdown_ms: config.min_slowdown_ms,
            sample_slack_ms: config.interval.as_millis() as u64 + width_ms,
            ..Settings::default()
        }
    }

    fn backoff(&self, failures: u32) -> Duration {
        let factor = 1u32 << failures.saturating_sub(1).min(16);
        self.config()
            .interval
            .saturating_mul(factor)
            .min(MAX_BACKOFF)
    }

    /// Makes sure `link` has a live connection to `database`; false when it has none now.
    async fn ensure_connected(&self, database: &str, link: &mut Link, now: u64) -> bool {
        if link.catalog.as_ref().is_some_and(|c| !c.is_closed()) {
            return true;
        }
        link.catalog = None;
        if now < link.status.retry_at_ms {
            return false;
        }
        let growth = self.config();
        let connected = match connect_config(&growth, &self.target, database) {
            Ok(config) => {
                Catalog::connect(&config, growth.query_timeout, self.target.tls.as_ref()).await
            }
            Err(error) => Err(error),
        };
        match connected {
            Ok(catalog) => {
                link.catalog = Some(catalog);
                true
            }
            Err(error) => {
                self.failed(database, link, now, &error.to_string());
                false
            }
        }
    }

    fn failed(&self, database: &str, link: &mut Link, now: u64, error: &str) {
        link.catalog = None;
        link.status.failures += 1;
        link.status.ok = false;
        let backoff = self.backoff(link.status.failures);
        link.status.retry_at_ms = now + backoff.as_millis() as u64;
        if link.status.error.as_deref() != Some(error) {
            log::warn!(
                "growth monitor: database {database:?}: {error} (retrying in {})",
                humantime::format_duration(backoff)
            );
        }
        link.status.error = Some(error.to_owned());
    }

    /// One sampling and detection round at `now` (ms since the epoch).
    pub async fn run_round(&self, now: u64) {
        let mut rounds = self.rounds.lock().await;
        let rounds = &mut *rounds;
        let source: &dyn StatsSource = self.recorder.as_ref();
        let meta = source.meta();
        let series = window_series(source, &Filter::default(), Grouping::PerDatabase);
        let mut wanted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for s in &series {
            let tables = wanted.entry(s.database.clone()).or_default();
            for table in &s.info.tables {
                if tables.len() < MAX_TABLES {
                    tables.insert(table.to_string());
                }
            }
        }
        for (database, tables) in &wanted {
            let link = rounds.links.entry(database.clone()).or_default();
            link.status.database = database.clone();
            if tables.is_empty() || !self.ensure_connected(database, link, now).await {
                if link.status.error.is_some() {
                    rounds.failures += u64::from(link.status.retry_at_ms > now);
                }
                continue;
            }
            let names: Vec<String> = tables.iter().cloned().collect();
            let sized = match &link.catalog {
                Some(catalog) => catalog.sizes(&names).await,
                None => continue,
            };
            match sized {
                Ok(sizes) => {
                    link.status.ok = true;
                    link.status.error = None;
                    link.status.failures = 0;
                    link.status.retry_at_ms = 0;
                    link.status.last_ok_ms = now;
                    link.status.tables = sizes.iter().filter(|s| s.resolved.is_some()).count();
                    for size in sizes {
                        rounds.sizes.record(database, now, size);
                    }
                }
                Err(error) => {
                    rounds.failures += 1;
                    self.failed(database, link, now, &error.to_string());
                }
            }
        }
        rounds
            .sizes
            .retain(|db, table| wanted.get(db).is_some_and(|t| t.contains(table)));
        rounds.links.retain(|db, _| wanted.contains_key(db));

        let settings = self.settings(meta.windows.width_ms);
        let total_us: u64 = series
            .iter()
            .flat_map(|s| s.windows.iter().filter(|w| w.complete))
            .map(|w| w.total_us)
            .sum();
        let mut flags = Vec::new();
        let mut observations = Vec::new();
        let mut live = HashSet::new();
        let mut windows: Vec<Vec<WindowSample>> = series.iter().map(window_samples).collect();
        let histories: Vec<Vec<(&str, &TableHistory)>> = series
            .iter()
            .map(|s| {
                s.info
                    .tables
                    .iter()
                    .filter_map(|t| rounds.sizes.get(&s.database, t).map(|h| (&**t, h)))
                    .collect()
            })
            .collect();
        let tables: Vec<Tables<'_>> = histories.iter().map(|h| samples(h)).collect();
        // Fingerprints whose cached plan is a bounded index probe (see `assess_round`).
        let bounded: Vec<bool> = series
            .iter()
            .map(|s| {
                rounds
                    .plans
                    .get(&(fingerprint_hex(s.fingerprint), s.database.clone()))
                    .is_some_and(|(_, plan)| plan.bounded_index)
            })
            .collect();
        let mut findings = assess_round(&settings, &mut windows, &tables, &bounded);
        for (i, s) in series.iter().enumerate() {
            let (windows, histories) = (&windows[i], &histories[i]);
            let Some(mut finding) = findings[i].take() else {
                continue;
            };
            let fingerprint = fingerprint_hex(s.fingerprint);
            let newest = windows.last().map_or(0, |w| w.start_ms);
            if finding.class == Class::SlowerWithoutGrowth
                && !rounds.episodes.confirmed(&fingerprint, &s.database, newest)
            {
                continue;
            }
            live.insert((fingerprint.clone(), s.database.clone()));
            let plan = match (&finding.class, &finding.table) {
                (Class::ScanGrowth, Some(table)) => {
                    self.plan(
                        &mut rounds.plans,
                        &rounds.links,
                        (fingerprint.clone(), s.database.clone()),
                        table,
                        Some(&*s.info.query),
                        now,
                    )
                    .await
                }
                _ => None,
            };
            if plan.as_ref().is_some_and(|p| p.bounded_index)
                && !bounded_tail(&settings, &mut finding)
            {
                continue;
            }
            let own_us: u64 = s
                .windows
                .iter()
                .filter(|w| w.complete)
                .map(|w| w.total_us)
                .sum();
            let flag = flag_of(FlagInput {
                series: s,
                windows,
                histories,
                finding: &finding,
                query: s.info.query.to_string(),
                summary: s.info.summary.to_string(),
                time_share: if total_us > 0 {
                    own_us as f64 / total_us as f64
                } else {
                    0.0
                },
                plan,
                first_flagged_ms: rounds
                    .episodes
                    .first_flagged(&fingerprint, &s.database)
                    .unwrap_or(now),
            });
            match finding.class {
                Class::TailLatencyRose => observations.push(flag),
                _ => flags.push(flag),
            }
        }
        let round = rounds.episodes.round(now, flags);
        for flag in &round.opened {
            log::warn!(
                "growth: {} {} in {}: {}",
                flag.class,
                flag.fingerprint,
                flag.database,
                flag.explanation
            );
        }
        // Plans of held flags stay cached with them.
        for flag in &round.flags {
            live.insert((flag.fingerprint.clone(), flag.database.clone()));
        }
        rounds.plans.retain(|key, _| live.contains(key));
        observations.sort_by(|a: &Flag, b: &Flag| b.impact.total_cmp(&a.impact));
        rounds.rounds += 1;
        self.state.publish(GrowthReport {
            enabled: true,
            interval_ms: self.config().interval.as_millis() as u64,
            sampled_at_ms: now,
            rounds: rounds.rounds,
            failures: rounds.failures,
            databases: rounds.links.values().map(|l| l.status.clone()).collect(),
            flags: round.flags,
            observations,
            cleared: rounds.episodes.cleared(),
            // The settings in force are filled in by `publish`.
            ..GrowthReport::default()
        });
    }

    /// The generic plan of `query` on `table`, explained at most once per interval per
    /// fingerprint and database (the last plan is reused in between).
    async fn plan(
        &self,
        plans: &mut HashMap<(String, String), (u64, Plan)>,
        links: &BTreeMap<String, Link>,
        key: (String, String),
        table: &str,
        query: Option<&str>,
        now: u64,
    ) -> Option<Plan> {
        let interval = self.config().interval.as_millis() as u64;
        if let Some((at, plan)) = plans.get(&key) {
            if now < at + interval {
                return Some(plan.clone());
            }
        }
        let query = query?;
        let catalog = links.get(&key.1)?.catalog.as_ref()?;
        let plan = match explain(catalog, query).await {
            Ok(root) => summarize(&root, table),
            Err(error) => Plan {
                error: Some(error),
                ..Plan::default()
            },
        };
        plans.insert(key, (now, plan.clone()));
        Some(plan)
    }
}

/// The detector's view of a series' table histories.
fn samples<'a>(histories: &[(&'a str, &'a TableHistory)]) -> Vec<(&'a str, &'a [SizeSample])> {
    histories
        .iter()
        .map(|(t, h)| (*t, h.samples.as_slice()))
        .collect()
}

/// A series' complete windows as the detector sees them (common factor 1 until known).
fn window_samples(s: &WindowSeries) -> Vec<WindowSample> {
    s.windows
        .iter()
        .filter(|w| w.complete)
        .map(|w| WindowSample {
            start_ms: w.start_ms,
            width_ms: w.width_ms,
            calls: w.calls,
            p10_ms: w.p10_us as f64 / 1000.0,
            p50_ms: w.p50_us as f64 / 1000.0,
            p95_ms: w.p95_us as f64 / 1000.0,
            rows_per_call: w.rows_per_call(),
            common: 1.0,
            common_p10: 1.0,
        })
        .collect()
}

/// A scan-growth finding whose plan reaches the table only through bounded index probes is not
/// scan growth: it becomes a "tail latency rose" observation when its p95 rose with the table
/// (true), or nothing (false).
fn bounded_tail(settings: &Settings, finding: &mut Finding) -> bool {
    let tail = finding
        .p95_elasticity
        .is_some_and(|f| f.slope >= settings.elasticity && f.low > 0.0);
    finding.class = Class::TailLatencyRose;
    finding.forecast = None;
    tail
}

/// Prepares `query` and explains its generic plan (see [`super::plan`]).
async fn explain(catalog: &Catalog, query: &str) -> Result<serde_json::Value, String> {
    let n = placeholders(query);
    let _ = catalog.simple("DEALLOCATE ALL").await;
    let prepared = catalog
        .simple(&format!("PREPARE {PLAN_STATEMENT} AS {query}"))
        .await;
    if let Err(error) = prepared {
        return Err(format!("cannot prepare the query: {error}"));
    }
    let plan = catalog
        .explain_statement(&explain_execute(PLAN_STATEMENT, n))
        .await
        .map_err(|e| format!("EXPLAIN failed: {e}"));
    let _ = catalog
        .simple(&format!("DEALLOCATE {PLAN_STATEMENT}"))
        .await;
    plan
}

#[async_trait]
impl BackgroundService for GrowthMonitor {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut interval = self.config().interval;
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // A reload changed the interval (now, or during the last round): it counts from now.
            if self.config().interval != interval {
                interval = self.config().interval;
                tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            }
            tokio::select! {
                _ = tick.tick() => {}
                _ = self.state.changed() => continue,
                _ = shutdown.changed() => return,
            }
            tokio::select! {
                _ = self.run_round(self.recorder.clock().now_ms()) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}
