//! The growth monitor's cost on the server: one sampling query (`Catalog::sizes`) over 10,
//! 1,000 and 10,000 tables of a throw-away cluster, measured as the server backend's CPU time
//! (utime + stime from `/proc/PID/stat`) and the round trip, per sample.
//!
//! `cargo run --release -p pgscope-benches --example growth_catalog [SAMPLES]`

use std::time::{Duration, Instant};

use pgscope::embedded::{ClusterOptions, LocalCluster};
use pgscope::growth::catalog::{connect_config, Catalog, Target};
use pgscope_config::GrowthConfig;

/// CPU seconds used so far by process `pid` (Linux).
fn cpu_seconds(pid: i32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of stat: indexes 11 and 12 after the command name.
    let hz = 100.0;
    (ticks(11) + ticks(12)) / hz
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let samples: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200);
    let cluster = LocalCluster::start(&ClusterOptions::default()).expect("a throw-away cluster");
    let config = connect_config(
        &GrowthConfig::default(),
        &Target::plain(cluster.host(), cluster.port()),
        "postgres",
    )
    .expect("config");
    let (setup, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    setup
        .batch_execute("SET default_transaction_read_only = off")
        .await
        .expect("writable setup session");
    // In batches: one transaction creating 10,000 tables (each with a toast table and two
    // indexes) would exceed the default lock table.
    for first in (1..=10_000).step_by(500) {
        setup
            .batch_execute(&format!(
                "DO $$ BEGIN FOR i IN {first}..{last} LOOP \
                   EXECUTE format('CREATE TABLE t%s (id int PRIMARY KEY, v text)', i); \
                 END LOOP; END $$;",
                last = first + 499
            ))
            .await
            .expect("create tables");
    }
    let catalog = Catalog::connect(&config, Duration::from_secs(5), None)
        .await
        .expect("monitor");
    let pid: i32 = {
        let (probe, connection) = config
            .connect(tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        let row = probe
            .query_one(
                "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgscope-growth' \
                 AND pid <> pg_backend_pid() ORDER BY backend_start DESC LIMIT 1",
                &[],
            )
            .await
            .expect("monitor pid");
        row.get(0)
    };
    println!("tables  samples  server CPU ms/sample  round trip ms/sample (min / mean)");
    for tables in [10usize, 1000, 10000] {
        let names: Vec<String> = (1..=tables).map(|i| format!("t{i}")).collect();
        catalog.sizes(&names).await.expect("warm-up");
        let cpu_before = cpu_seconds(pid);
        let started = Instant::now();
        let mut best = Duration::MAX;
        for _ in 0..samples {
            let one = Instant::now();
            let sizes = catalog.sizes(&names).await.expect("sample");
            assert_eq!(sizes.len(), tables);
            best = best.min(one.elapsed());
        }
        let mean = started.elapsed() / samples;
        let cpu = (cpu_seconds(pid) - cpu_before) * 1000.0 / f64::from(samples);
        println!(
            "{tables:>6}  {samples:>7}  {cpu:>19.3}  {:>10.3} / {:.3}",
            best.as_secs_f64() * 1000.0,
            mean.as_secs_f64() * 1000.0
        );
    }
}
