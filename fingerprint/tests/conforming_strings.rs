//! Backslashes in string literals are read as the connection's `standard_conforming_strings`
//! says, and no reading — right, wrong or unknown — ever copies a literal's characters into the
//! normalized text, the tables or the summary.

use pgscope_fingerprint::{
    analyze_with, fingerprint_with, split_statements_with, Analyzer, ConformingStrings,
};

const ON: ConformingStrings = ConformingStrings::On;
const OFF: ConformingStrings = ConformingStrings::Off;
const UNKNOWN: ConformingStrings = ConformingStrings::Unknown;

fn norm(sql: &str, strings: ConformingStrings) -> String {
    fingerprint_with(sql, strings).1
}

#[test]
fn with_off_an_escaped_quote_stays_inside_the_literal() {
    assert_eq!(norm(r"SELECT 'it\'s SECRET_X there'", OFF), "select $1");
    assert_eq!(
        norm(r"SELECT 'a\\' , 'b\'' || x FROM t", OFF),
        "select $1, $2 || x from t"
    );
    assert_eq!(norm(r"SELECT 'it''s' AS a", OFF), "select $1 as a");
}

#[test]
fn with_on_a_literal_written_for_off_is_never_copied() {
    assert_eq!(norm(r"SELECT 'it\'s SECRET_X there'", ON), "select $1");
    assert_eq!(
        norm(r"SELECT 'it\'s SECRET_X, Bob\'s' FROM t", ON),
        "select $1"
    );
}

#[test]
fn with_on_a_trailing_backslash_ends_the_literal_when_only_that_reading_closes_the_text() {
    assert_eq!(
        norm(r"SELECT replace(p, '\', '/') FROM t WHERE a = 1", ON),
        "select replace(p, $1, $2) from t where a = $3"
    );
}

#[test]
fn escape_strings_hide_escaped_quotes_under_every_setting() {
    for strings in [ON, OFF, UNKNOWN] {
        assert_eq!(
            norm(r"SELECT E'it\'s SECRET_X' FROM t", strings),
            "select $1 from t"
        );
        assert_eq!(
            norm(r"SELECT e'a\\', 'b' FROM t", strings),
            "select $1, $2 from t"
        );
    }
}

#[test]
fn an_unknown_setting_copies_nothing_after_a_doubtful_literal() {
    assert_eq!(norm(r"SELECT 'C:\' , x FROM t", UNKNOWN), "select $1");
    assert_eq!(norm(r"SELECT 'C:\' , x FROM t", ON), "select $1, x from t");
}

#[test]
fn a_simple_query_splits_where_the_server_would() {
    let sql = r"SELECT 'a\'; b'; SELECT 2";
    assert_eq!(
        split_statements_with(sql, OFF),
        vec![r"SELECT 'a\'; b'", "SELECT 2"]
    );
}

#[test]
fn analysis_and_cache_follow_the_setting() {
    let sql = r"SELECT * FROM t WHERE a = 'x\' UNION SELECT * FROM secret_tbl --'";
    let off = analyze_with(sql, OFF);
    assert_eq!(off.tables, vec!["t"]);
    assert_eq!(off.normalized, "select * from t where a = $1");
    let analyzer = Analyzer::new(64);
    let on = analyzer.analyze_with(sql, ON);
    assert!(!format!("{on:?}").contains("secret_tbl"), "{on:?}");
    let cached_off = analyzer.analyze_with(sql, OFF);
    assert_eq!(cached_off.normalized, "select * from t where a = $1");
    assert_eq!(cached_off.tables, vec!["t"]);
}

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

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const MARKER: &str = "SECRETzq";

/// Literal content: quotes, backslashes, letters and SQL punctuation around the marker.
fn content(rng: &mut Rng) -> String {
    let pieces = [
        "'", "\\", "\\", "a", "b", " ", ";", "-", "/*", "*/", "\"", "$", ",", ")", "E", "n",
    ];
    let mut text = String::new();
    let marker_at = rng.below(8);
    for i in 0..8 {
        if i == marker_at {
            text.push_str(MARKER);
        }
        if rng.below(3) > 0 {
            text.push_str(rng.pick(&pieces));
        }
    }
    text
}

/// `text` as a literal the server accepts under `strings` (`On` or `Off`).
fn literal(rng: &mut Rng, text: &str, strings: ConformingStrings) -> String {
    let style = rng.below(4);
    let mut out = String::new();
    let (open, escape) = match (style, strings) {
        (0, _) => ("E'", true),
        (1, ConformingStrings::On) => ("U&'", false),
        (2, _) => return format!("$q${text}$q$"),
        (_, ConformingStrings::On) => ("'", false),
        _ => ("'", true),
    };
    out.push_str(if open == "E'" && rng.below(2) == 0 {
        "e'"
    } else {
        open
    });
    for c in text.chars() {
        match c {
            '\'' if escape && rng.below(2) == 0 => out.push_str("\\'"),
            '\'' => out.push_str("''"),
            '\\' if escape || open == "U&'" => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

fn query(rng: &mut Rng, strings: ConformingStrings) -> String {
    let templates = [
        "SELECT {} AS x FROM t WHERE y = {}",
        "INSERT INTO t VALUES ({}, 1), ({}, 2)",
        "SELECT {}\n{} FROM t -- done",
        "SELECT * FROM t WHERE a IN ({}, {}) ORDER BY 1",
        "UPDATE t SET a = {}; SELECT {} FROM u",
        "SELECT f({})::text, {} /* c */ FROM t",
    ];
    let mut sql = rng.pick(&templates).to_owned();
    while let Some(at) = sql.find("{}") {
        let text = content(rng);
        let lit = literal(rng, &text, strings);
        sql.replace_range(at..at + 2, &lit);
    }
    sql
}

fn assert_hidden(sql: &str, strings: ConformingStrings) {
    let marker = MARKER.to_ascii_lowercase();
    let (_, normalized) = fingerprint_with(sql, strings);
    assert!(
        !normalized.to_ascii_lowercase().contains(&marker),
        "{strings:?}: {sql:?} -> {normalized:?}"
    );
    let analysis = analyze_with(sql, strings);
    assert!(
        !format!("{analysis:?}")
            .to_ascii_lowercase()
            .contains(&marker),
        "{strings:?}: {sql:?} -> {analysis:?}"
    );
    for statement in split_statements_with(sql, strings) {
        let (_, part) = fingerprint_with(statement, strings);
        assert!(
            !part.to_ascii_lowercase().contains(&marker),
            "{strings:?}: {statement:?} of {sql:?} -> {part:?}"
        );
    }
}

#[test]
fn no_random_literal_leaks_under_its_setting_or_a_guessed_one() {
    let mut rng = Rng(0x5eed_2222_c0ff_ee01);
    for _ in 0..6_000 {
        let written_for_off = query(&mut rng, OFF);
        assert_hidden(&written_for_off, OFF);
        assert_hidden(&written_for_off, ON);
        assert_hidden(&written_for_off, UNKNOWN);
        let written_for_on = query(&mut rng, ON);
        assert_hidden(&written_for_on, ON);
        assert_hidden(&written_for_on, UNKNOWN);
    }
}
