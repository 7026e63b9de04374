//! A driver for instruction counts that do not depend on machine noise:
//!
//! ```text
//! cargo build --release -p pgscope-fingerprint --example callgrind
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \
//!     target/release/examples/callgrind fast 100000
//! ```
//!
//! Modes: `fast` (fingerprint), `analyze` (uncached), `hit` (Analyzer exact-text hit),
//! `fphit` (Analyzer with the text cache off: fast path + fingerprint lookup), `sqlparser`
//! (a full sqlparser parse of the same text, for comparison), `none`
//! (setup only, to subtract). Instructions per call = (mode − none) / iterations.

use std::hint::black_box;

use pgscope_fingerprint::{analyze, fingerprint, Analyzer};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

const PGBENCH_SELECT: &str = "SELECT abalance FROM pgbench_accounts WHERE aid = 48213;";

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "fast".to_owned());
    let iterations: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let sql = args.next().unwrap_or_else(|| PGBENCH_SELECT.to_owned());
    let analyzer = Analyzer::new(5000);
    let no_text_cache = Analyzer::with_max_text(5000, 0);
    analyzer.analyze(&sql);
    no_text_cache.analyze(&sql);
    for _ in 0..iterations {
        match mode.as_str() {
            "fast" => drop(black_box(fingerprint(black_box(&sql)))),
            "analyze" => drop(black_box(analyze(black_box(&sql)))),
            "hit" => drop(black_box(analyzer.analyze(black_box(&sql)))),
            "fphit" => drop(black_box(no_text_cache.analyze(black_box(&sql)))),
            "sqlparser" => drop(black_box(Parser::parse_sql(
                &PostgreSqlDialect {},
                black_box(&sql),
            ))),
            _ => {}
        }
    }
}
