//! Nothing panics, whatever the input: random bytes, random token soups, hostile nesting.

use pgscope_fingerprint::{analyze, fingerprint, split_statements, sqlcommenter, Analyzer};

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const PIECES: &[&str] = &[
    "select", "insert", "into", "values", "(", ")", "[", "]", ",", ";", "'", "''", "\"", "$$",
    "$a$", "$1", "-", "--", "/*", "*/", "in", "array", "order", "by", "1", "e'", "\\", "::", " ",
    "\n", "é", "begin", "atomic", "end", "case", "with", "as", "from", "t", "=", "null", "is",
    "not", "u&'", "x'", "0x", ".", "1.5e", "group", "update", "set", "join", "on",
];

fn exercise(sql: &str) {
    let (fp, normalized) = fingerprint(sql);
    let analysis = analyze(sql);
    assert_eq!(analysis.fingerprint, fp);
    assert_eq!(analysis.normalized, normalized);
    assert!(analysis.summary.len() <= 255);
    for part in split_statements(sql) {
        assert!(!part.is_empty());
    }
    let _ = sqlcommenter(sql);
}

#[test]
fn random_token_soup_never_panics_and_is_deterministic() {
    let mut rng = Rng(0x1234_5678_9abc_def0);
    for _ in 0..3000 {
        let len = rng.below(40);
        let sql: String = (0..len)
            .map(|_| PIECES[rng.below(PIECES.len())])
            .collect::<Vec<_>>()
            .join(if rng.below(2) == 0 { " " } else { "" });
        exercise(&sql);
        assert_eq!(fingerprint(&sql), fingerprint(&sql));
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(42);
    for _ in 0..2000 {
        let bytes: Vec<u8> = (0..rng.below(64))
            .map(|_| (rng.next() & 0x7f) as u8)
            .collect();
        exercise(&String::from_utf8_lossy(&bytes));
    }
}

#[test]
fn hostile_nesting_is_handled() {
    for open in ["(", "[", "/*", "values (", "array[", "in (", "case when "] {
        let sql = format!("select {}", open.repeat(20_000));
        exercise(&sql);
    }
    let deep = format!("select {}1{}", "(".repeat(3000), ")".repeat(3000));
    exercise(&deep);
}

#[test]
fn analyzer_agrees_with_uncached_analysis() {
    let analyzer = Analyzer::new(16);
    for sql in [
        "SELECT * FROM t WHERE id = 1",
        "select * from t where id = 2",
        "UPDATE t SET a = 1 WHERE id = 2",
        "BEGIN",
        "",
    ] {
        let cached = analyzer.analyze(sql);
        let fresh = analyze(sql);
        assert_eq!(cached.fingerprint, fresh.fingerprint);
        assert_eq!(cached.operation, fresh.operation);
        assert_eq!(cached.tables, fresh.tables);
    }
}
