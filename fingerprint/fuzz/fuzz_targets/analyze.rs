//! Any byte string: no panic, no stack overflow, and the invariants the proxy relies on.
//!
//! Run by hand (nightly), starting from the committed seeds:
//! `cp -r seeds corpus && cargo +nightly fuzz run analyze corpus/analyze -- -max_total_time=300`
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgscope_fingerprint::{analyze, fingerprint, split_statements, sqlcommenter, Analyzer};

fuzz_target!(|data: &[u8]| {
    let sql = String::from_utf8_lossy(data);
    let (fp, normalized) = fingerprint(&sql);
    // Deterministic, and normalizing the normalized text keeps the fingerprint.
    assert_eq!(fingerprint(&sql).0, fp);
    assert_eq!(fingerprint(&normalized).0, fp, "{sql:?} -> {normalized:?}");
    let analysis = analyze(&sql);
    assert_eq!(analysis.fingerprint, fp);
    assert!(analysis.summary.len() <= 255);
    let cached = Analyzer::new(4).analyze(&sql);
    assert_eq!(cached.fingerprint, fp);
    for statement in split_statements(&sql) {
        assert!(!statement.trim().is_empty());
        let _ = fingerprint(statement);
    }
    let _ = sqlcommenter(&sql);
});
