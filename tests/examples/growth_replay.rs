//! Replays a dump of the growth scenario (`PGSCOPE_TEST_GROWTH_DUMP=run.json`, see
//! tests/tests/suite/growth_scenario.rs) through the detector, round by round, the way the
//! monitor runs it: one round a second, the windows complete by then, the tables' sizes sampled
//! then, the bounded-index plans of the scenario's lookups, and "slower without growth"
//! confirmed over three distinct newest windows. It prints, per query of the scenario, when it
//! was first flagged (seconds into the run and windows after the tables passed 1.5×) and its
//! classes, so a change to the detector can be measured on recorded runs before a live one:
//!
//! ```sh
//! cargo run -p pgscope-tests --example growth_replay -- run.json [query prefix to trace]
//! ```
//!
//! With a query prefix, every round's verdict on that query is printed to stderr. After the
//! first flags it prints, per query whose plan is a bounded index probe, in how many rounds the
//! detector alone said scan growth (the monitor's plan check turns those into observations):
//! how clean the decision is without the plan.
//!
//! Two variables replay other rules on the same dump: `PGSCOPE_TEST_REPLAY_FLOOR=p50_ms` decides
//! growth on the windows' medians (the rule before the p10; any latency field of the dump's
//! windows can be named), `PGSCOPE_TEST_REPLAY_MIN_GROWN=1` lets one window at the grown size
//! decide (the detector's `min_grown_windows`).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use pgscope::growth::detector::{Class, Settings, SizeSample, WindowSample};
use pgscope::growth::episodes::{CLEAR_AFTER_ROUNDS, CONFIRM_WINDOWS};
use pgscope::growth::round::{assess_round, Tables};
use serde_json::Value;

/// The scenario's queries as pgscope normalizes them: the text's start, the expected class,
/// and whether the server's plan reaches the table through bounded index probes only (the
/// monitor's plan check turns scan growth on those into an observation).
const CASES: &[(&str, Option<&str>, bool)] = &[
    ("select id from big where k", Some("scan_growth"), false),
    (
        "select count(*) from orders where note",
        Some("scan_growth"),
        false,
    ),
    ("select id from big where g", Some("result_growth"), false),
    (
        "select pg_sleep($1), count(*) from calm",
        Some("slower_without_growth"),
        false,
    ),
    ("select k from big where id", None, true),
    ("select note from orders where id", None, true),
    ("select id from big where id =", None, true),
    ("select id, k from big where id >", None, true),
    ("select pg_sleep($1), k from orders", None, true),
    ("select count(*) from steady", None, false),
];
/// Recorder window and monitor interval of the scenario, ms.
const WINDOW_MS: u64 = 2000;
const INTERVAL_MS: u64 = 1000;

/// One query's recorded windows and tables.
struct Recorded {
    case: usize,
    windows: Vec<WindowSample>,
    tables: Vec<String>,
}

fn number(v: &Value) -> f64 {
    v.as_f64().unwrap_or(0.0)
}

fn recorded(dump: &Value) -> Vec<Recorded> {
    let floor = std::env::var("PGSCOPE_TEST_REPLAY_FLOOR").unwrap_or_else(|_| "p10_ms".into());
    let queries: HashMap<&str, &str> = dump["fingerprints"]["fingerprints"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| Some((f["fingerprint"].as_str()?, f["query"].as_str()?)))
        .collect();
    let mut out = Vec::new();
    for s in dump["series"]["series"].as_array().into_iter().flatten() {
        let query = s["fingerprint"]
            .as_str()
            .and_then(|f| queries.get(f))
            .copied()
            .unwrap_or_default();
        let Some(case) = CASES.iter().position(|c| query.starts_with(c.0)) else {
            continue;
        };
        let windows = s["points"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["complete"].as_bool() == Some(true))
            .map(|p| WindowSample {
                start_ms: p["start_ms"].as_u64().unwrap_or(0),
                width_ms: p["width_ms"].as_u64().unwrap_or(WINDOW_MS),
                calls: p["calls"].as_u64().unwrap_or(0),
                p10_ms: number(&p[floor.as_str()]),
                p50_ms: number(&p["p50_ms"]),
                p95_ms: number(&p["p95_ms"]),
                rows_per_call: number(&p["rows_per_call"]),
                common: 1.0,
                common_p10: 1.0,
            })
            .collect();
        let tables = s["tables"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| Some(t.as_str()?.to_owned()))
            .collect();
        out.push(Recorded {
            case,
            windows,
            tables,
        });
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: growth_replay DUMP.json [query prefix to trace]");
        std::process::exit(2);
    };
    let dump: Value =
        serde_json::from_slice(&std::fs::read(path).expect("read the dump")).expect("a JSON dump");
    let trace = args.get(2);
    let started = number(&dump["started_ms"]);
    let passed = number(&dump["passed_ms"]);
    // [at ms, big bytes, orders bytes] every 250 ms; the flat tables never change.
    let sizes: Vec<[f64; 3]> = serde_json::from_value(dump["sizes"].clone()).expect("sizes");
    let recorded = recorded(&dump);
    let settings = Settings {
        sample_slack_ms: INTERVAL_MS + WINDOW_MS,
        min_grown_windows: std::env::var("PGSCOPE_TEST_REPLAY_MIN_GROWN")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(Settings::default().min_grown_windows),
        ..Settings::default()
    };
    let end = sizes.last().map_or(started, |s| s[0]);
    let mut samples: BTreeMap<&str, Vec<SizeSample>> = BTreeMap::new();
    let mut first: BTreeMap<usize, (f64, BTreeSet<String>)> = BTreeMap::new();
    let mut open: HashMap<usize, u32> = HashMap::new();
    let mut pending: HashMap<usize, (u64, u32)> = HashMap::new();
    let mut stopped_by_plan: BTreeMap<usize, u32> = BTreeMap::new();
    let mut now = started + INTERVAL_MS as f64;
    while now <= end {
        if let Some(latest) = sizes.iter().take_while(|s| s[0] <= now).last() {
            for (table, bytes) in [
                ("big", latest[1]),
                ("orders", latest[2]),
                ("calm", 8192.0),
                ("steady", 737_280.0),
            ] {
                samples.entry(table).or_default().push(SizeSample {
                    at_ms: now as u64,
                    bytes: bytes as u64,
                });
            }
        }
        let mut windows: Vec<Vec<WindowSample>> = recorded
            .iter()
            .map(|r| {
                let done = |w: &&WindowSample| (w.start_ms + w.width_ms) as f64 <= now;
                r.windows.iter().filter(done).copied().collect()
            })
            .collect();
        let tables: Vec<Tables<'_>> = recorded
            .iter()
            .map(|r| {
                r.tables
                    .iter()
                    .filter_map(|t| samples.get_key_value(t.as_str()))
                    .map(|(t, s)| (*t, s.as_slice()))
                    .collect()
            })
            .collect();
        let bounded: Vec<bool> = recorded.iter().map(|r| CASES[r.case].2).collect();
        let findings = assess_round(&settings, &mut windows, &tables, &bounded);
        let mut still_pending = HashMap::new();
        let mut flagged = HashSet::new();
        for (i, finding) in findings.iter().enumerate() {
            let (prefix, _, bounded) = CASES[recorded[i].case];
            if trace.is_some_and(|t| prefix.starts_with(t.as_str())) {
                eprintln!("{:.0} s: {finding:?}", (now - started) / 1000.0);
            }
            let Some(finding) = finding else { continue };
            let class = match finding.class {
                Class::ScanGrowth if bounded => {
                    *stopped_by_plan.entry(recorded[i].case).or_insert(0u32) += 1;
                    continue;
                }
                Class::TailLatencyRose => continue,
                class => class,
            };
            if class == Class::SlowerWithoutGrowth && !open.contains_key(&i) {
                let newest = windows[i].last().map_or(0, |w| w.start_ms);
                let (last, seen) = pending.get(&i).copied().unwrap_or((newest, 0));
                let seen = if seen == 0 || newest > last {
                    seen + 1
                } else {
                    seen
                };
                still_pending.insert(i, (newest, seen));
                if seen < CONFIRM_WINDOWS {
                    continue;
                }
            }
            flagged.insert(i);
            let name = serde_json::to_value(class).expect("class");
            let entry = first
                .entry(recorded[i].case)
                .or_insert((now, BTreeSet::new()));
            entry.1.insert(name.as_str().unwrap_or_default().to_owned());
        }
        pending = still_pending;
        for i in &flagged {
            open.insert(*i, 0);
        }
        open.retain(|i, below| {
            if !flagged.contains(i) {
                *below += 1;
            }
            *below < CLEAR_AFTER_ROUNDS
        });
        now += INTERVAL_MS as f64;
    }
    for (case, (at, classes)) in &first {
        let (prefix, expected, _) = CASES[*case];
        println!(
            "{prefix:42} expected {:24} first flagged {:5.1} s, {:5.1} windows after 1.5x, {classes:?}",
            expected.unwrap_or("nothing"),
            (at - started) / 1000.0,
            (at - passed) / WINDOW_MS as f64,
        );
    }
    for (case, rounds) in &stopped_by_plan {
        println!(
            "{:42} scan growth before the plan check in {rounds} rounds",
            CASES[*case].0
        );
    }
}
