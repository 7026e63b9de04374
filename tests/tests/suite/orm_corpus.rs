//! Real ORM traffic: fingerprints per query shape (issue 26).
//!
//! Django (server- and client-side parameter binding), SQLAlchemy 2 and Sequelize 6 run their
//! ordinary operations (`tests/orm/*`) four times each, with other values and batch sizes,
//! against a throw-away cluster that logs every statement as `jsonlog`
//! (`log_min_duration_statement = 0`). Each ORM has its own database; before each run of an
//! operation the script sends `SELECT 'pgscope-op:<name>'`.
//!
//! A statement's *shape* is its place in a run: (operation, index). Shapes that pgscope gives a
//! common fingerprint are one query shape (a `BEGIN` in every operation is one), so the number
//! of query shapes is the number of connected components of the shape–fingerprint graph, and a
//! perfect normalizer has one fingerprint per component. Target: at most 1.05 fingerprints per
//! shape, and no query (SELECT/INSERT/UPDATE/DELETE) merged across operations.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pgscope_fingerprint::{analyze, fingerprint, Fingerprint, Operation};
use pgscope_tests::{output_within, python, Cluster, ClusterOptions};
use serde_json::Value;

/// One ORM run: its database, its command line.
struct Orm {
    name: &'static str,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

fn orm_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("orm")
}

/// Where `scripts/install-deps.sh` puts sequelize and pg.
fn node_modules() -> PathBuf {
    std::env::var_os("PGSCOPE_TEST_NODE_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into());
            PathBuf::from(home).join(".cache/pgscope/node/node_modules")
        })
}

fn orms(port: u16) -> Vec<Orm> {
    let python_orm = |name: &'static str, script: &str, extra: &[&str]| {
        let mut args = vec![
            orm_dir().join(script).display().to_string(),
            "127.0.0.1".to_owned(),
            port.to_string(),
            name.to_owned(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        Orm {
            name,
            program: python(),
            args,
            env: Vec::new(),
        }
    };
    vec![
        python_orm("django_server", "django_app.py", &["server"]),
        python_orm("django_client", "django_app.py", &["client"]),
        python_orm("sqlalchemy", "sqlalchemy_app.py", &[]),
        Orm {
            name: "sequelize",
            program: PathBuf::from("node"),
            args: vec![
                orm_dir().join("sequelize_app.js").display().to_string(),
                "127.0.0.1".to_owned(),
                port.to_string(),
                "sequelize".to_owned(),
            ],
            env: vec![("NODE_PATH".to_owned(), node_modules().display().to_string())],
        },
    ]
}

/// The SQL of a logged statement or execute, without parse/bind entries and portal re-reads.
fn logged_sql(message: &str) -> Option<&str> {
    let rest = message.split_once(" ms  ").map_or(message, |(_, r)| r);
    if let Some(sql) = rest.strip_prefix("statement: ") {
        return Some(sql);
    }
    let sql = rest.strip_prefix("execute ")?;
    if sql.starts_with("fetch from") {
        return None;
    }
    sql.split_once(": ").map(|(_, sql)| sql)
}

/// Every logged statement per database, in order.
fn read_log(dir: &Path) -> BTreeMap<String, Vec<String>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "json"));
    files.sort();
    let mut by_db: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for line in text.lines() {
            let Ok(entry) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let (Some(db), Some(message)) = (entry["dbname"].as_str(), entry["message"].as_str())
            else {
                continue;
            };
            if let Some(sql) = logged_sql(message) {
                by_db.entry(db.to_owned()).or_default().push(sql.to_owned());
            }
        }
    }
    by_db
}

/// What one ORM's traffic gave.
struct Tally {
    statements: usize,
    fingerprints: usize,
    shapes: usize,
    /// Queries merged across operations: (normalized text, operations).
    merged: Vec<(String, BTreeSet<String>)>,
    /// Shapes with more than one fingerprint: a normalized text of each.
    split: Vec<Vec<String>>,
}

fn tally(statements: &[String]) -> Tally {
    let mut op = "<setup>".to_owned();
    let mut index = 0usize;
    let mut shape_fps: BTreeMap<(String, usize), BTreeSet<Fingerprint>> = BTreeMap::new();
    let mut texts: HashMap<Fingerprint, String> = HashMap::new();
    let mut fp_ops: HashMap<Fingerprint, BTreeSet<String>> = HashMap::new();
    let mut counted = 0;
    for sql in statements {
        if let Some(name) = sql.split("pgscope-op:").nth(1) {
            op = name.trim_end_matches('\'').to_owned();
            index = 0;
            continue;
        }
        if op == "<setup>" || op == "done" {
            continue;
        }
        counted += 1;
        let (fp, text) = fingerprint(sql);
        texts.entry(fp).or_insert(text);
        fp_ops.entry(fp).or_default().insert(op.clone());
        shape_fps.entry((op.clone(), index)).or_default().insert(fp);
        index += 1;
    }
    // Components of the shape–fingerprint graph (union-find over fingerprints).
    let mut parent: HashMap<Fingerprint, Fingerprint> = HashMap::new();
    fn root(parent: &mut HashMap<Fingerprint, Fingerprint>, fp: Fingerprint) -> Fingerprint {
        let up = *parent.entry(fp).or_insert(fp);
        if up == fp {
            fp
        } else {
            let r = root(parent, up);
            parent.insert(fp, r);
            r
        }
    }
    for fps in shape_fps.values() {
        let mut it = fps.iter();
        let Some(&first) = it.next() else { continue };
        let first = root(&mut parent, first);
        for &fp in it {
            let r = root(&mut parent, fp);
            parent.insert(r, first);
        }
    }
    let all: Vec<Fingerprint> = texts.keys().copied().collect();
    let shapes: BTreeSet<Fingerprint> = all.iter().map(|&fp| root(&mut parent, fp)).collect();
    let merged = fp_ops
        .iter()
        .filter(|(fp, ops)| {
            ops.len() > 1
                && matches!(
                    analyze(&texts[fp]).operation,
                    Operation::Select | Operation::Insert | Operation::Update | Operation::Delete
                )
                && !texts[fp].starts_with("select $1")
        })
        .map(|(fp, ops)| (texts[fp].clone(), ops.clone()))
        .collect();
    let split = shape_fps
        .values()
        .filter(|fps| fps.len() > 1)
        .map(|fps| fps.iter().map(|fp| texts[fp].clone()).collect())
        .collect();
    Tally {
        statements: counted,
        fingerprints: texts.len(),
        shapes: shapes.len(),
        merged,
        split,
    }
}

#[test]
fn orm_traffic_has_one_fingerprint_per_query_shape() {
    let cluster = Cluster::start_with(ClusterOptions {
        settings: [
            ("logging_collector", "on"),
            ("log_destination", "jsonlog"),
            ("log_directory", "log"),
            ("log_min_duration_statement", "0"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect(),
        ..ClusterOptions::default()
    });
    let orms = orms(cluster.port());
    for orm in &orms {
        cluster.psql(&format!("CREATE DATABASE {}", orm.name));
        let mut command = Command::new(&orm.program);
        command.args(&orm.args);
        for (k, v) in &orm.env {
            command.env(k, v);
        }
        let output = output_within(&mut command, Duration::from_secs(180));
        assert!(
            output.status.success(),
            "{} failed ({}): {}\n{}\n(run scripts/install-deps.sh: it installs Django, \
             SQLAlchemy, and sequelize + pg under ~/.cache/pgscope/node)",
            orm.name,
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let log_dir = cluster.local().data_dir().join("log");
    let deadline = Instant::now() + Duration::from_secs(20);
    let by_db = loop {
        let by_db = read_log(&log_dir);
        let done = orms.iter().all(|orm| {
            by_db
                .get(orm.name)
                .is_some_and(|s| s.iter().any(|sql| sql.contains("pgscope-op:done")))
        });
        if done || Instant::now() > deadline {
            break by_db;
        }
        std::thread::sleep(Duration::from_millis(200));
    };

    let mut totals = (0, 0, 0);
    let mut failures = Vec::new();
    println!("| ORM | statements | query shapes | fingerprints | per shape |");
    println!("|---|---:|---:|---:|---:|");
    for orm in &orms {
        let statements = by_db.get(orm.name).map(Vec::as_slice).unwrap_or(&[]);
        let t = tally(statements);
        assert!(t.shapes > 10, "{}: too little traffic logged", orm.name);
        println!(
            "| {} | {} | {} | {} | {:.2}× |",
            orm.name,
            t.statements,
            t.shapes,
            t.fingerprints,
            t.fingerprints as f64 / t.shapes as f64
        );
        totals = (
            totals.0 + t.statements,
            totals.1 + t.shapes,
            totals.2 + t.fingerprints,
        );
        for texts in &t.split {
            println!("  {} split: {texts:?}", orm.name);
        }
        if t.fingerprints * 100 > t.shapes * 105 {
            failures.push(format!(
                "{}: {} fingerprints for {} shapes",
                orm.name, t.fingerprints, t.shapes
            ));
        }
        for (text, ops) in &t.merged {
            failures.push(format!("{}: {text:?} merged across {ops:?}", orm.name));
        }
    }
    println!(
        "| all | {} | {} | {} | {:.2}× |",
        totals.0,
        totals.1,
        totals.2,
        totals.2 as f64 / totals.1 as f64
    );
    assert!(failures.is_empty(), "{failures:#?}");
}
