//! Fingerprinting hot paths: the fast path (normalize + fingerprint), a full sqlparser parse of
//! the same text for comparison, the uncached analysis, and the two cache-hit paths of
//! `Analyzer` (exact text; new text of a known fingerprint). See benches/README.md.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pgscope_fingerprint::{analyze, fingerprint, Analyzer};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

/// pgbench's built-in select-only script.
const PGBENCH_SELECT: &str = "SELECT abalance FROM pgbench_accounts WHERE aid = 48213;";

/// pgbench's tpcb-like update.
const PGBENCH_UPDATE: &str =
    "UPDATE pgbench_accounts SET abalance = abalance + -4711 WHERE aid = 48213;";

/// A ~200-byte ORM-style join with quoted identifiers and an IN-list.
const ORM_JOIN: &str = "SELECT \"users\".\"id\", \"users\".\"email\", \"orders\".\"total\" \
    FROM \"users\" INNER JOIN \"orders\" ON \"orders\".\"user_id\" = \"users\".\"id\" \
    WHERE \"users\".\"tenant_id\" = 42 AND \"orders\".\"status\" IN ('paid', 'shipped') \
    ORDER BY \"orders\".\"created_at\" DESC LIMIT 20";

/// A generated ~20 KB reporting query: many CASE arms, joins and a long IN-list.
fn large_query() -> String {
    let mut sql = String::from("SELECT o.id, o.created_at");
    let mut i = 0;
    while sql.len() < 14_000 {
        sql.push_str(&format!(
            ", CASE WHEN o.status = 'state_{i}' AND o.amount > {i}.50 THEN 'bucket_{i}' ELSE NULL END AS c{i}"
        ));
        i += 1;
    }
    sql.push_str(" FROM orders o JOIN customers c ON c.id = o.customer_id LEFT JOIN regions r ON r.id = c.region_id WHERE o.id IN (");
    let ids: Vec<String> = (0..1000).map(|n| (n * 7919).to_string()).collect();
    sql.push_str(&ids.join(", "));
    sql.push_str(") ORDER BY o.created_at DESC LIMIT 100");
    sql
}

fn corpus() -> Vec<(&'static str, String)> {
    vec![
        ("pgbench_select", PGBENCH_SELECT.to_owned()),
        ("pgbench_update", PGBENCH_UPDATE.to_owned()),
        ("orm_join", ORM_JOIN.to_owned()),
        ("large_20k", large_query()),
    ]
}

fn fast_path(c: &mut Criterion) {
    let mut group = c.benchmark_group("fast_path");
    for (name, sql) in corpus() {
        group.throughput(Throughput::Bytes(sql.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &sql, |b, sql| {
            b.iter(|| fingerprint(black_box(sql)))
        });
    }
    group.finish();
}

fn sqlparser_parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("sqlparser_parse");
    let dialect = PostgreSqlDialect {};
    for (name, sql) in corpus() {
        group.throughput(Throughput::Bytes(sql.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &sql, |b, sql| {
            b.iter(|| Parser::parse_sql(&dialect, black_box(sql)))
        });
    }
    group.finish();
}

fn full_analysis(c: &mut Criterion) {
    let mut group = c.benchmark_group("analyze_uncached");
    for (name, sql) in corpus() {
        group.throughput(Throughput::Bytes(sql.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &sql, |b, sql| {
            b.iter(|| analyze(black_box(sql)))
        });
    }
    group.finish();
}

fn cache_hits(c: &mut Criterion) {
    let mut group = c.benchmark_group("analyzer");
    let analyzer = Analyzer::new(5000);
    for (name, sql) in corpus() {
        analyzer.analyze(&sql);
        group.bench_with_input(BenchmarkId::new("exact_text_hit", name), &sql, |b, sql| {
            b.iter(|| analyzer.analyze(black_box(sql)))
        });
    }
    // A text never seen before whose fingerprint is known: the fast path plus a lookup. The
    // exact-text cache is disabled so every iteration takes this path.
    let no_text_cache = Analyzer::with_max_text(5000, 0);
    no_text_cache.analyze(PGBENCH_SELECT);
    let texts: Vec<String> = (0..1024)
        .map(|aid| format!("SELECT abalance FROM pgbench_accounts WHERE aid = {aid};"))
        .collect();
    let mut next = 0usize;
    group.bench_function("fingerprint_hit/pgbench_select", |b| {
        b.iter(|| {
            next = (next + 1) % texts.len();
            no_text_cache.analyze(black_box(&texts[next]))
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    fast_path,
    sqlparser_parse,
    full_analysis,
    cache_hits
);
criterion_main!(benches);
