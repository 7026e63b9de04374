//! SQL normalization, fingerprinting and analysis for pgscope.
//!
//! pgscope reports by *query shape*: `SELECT … FROM users WHERE id = $1` is one line whatever
//! the id. This crate turns SQL text into that shape — pure functions, no IO — and caches the
//! result so that the proxy pays almost nothing per query.
//!
//! # Two paths
//!
//! * **Fast path** ([`fingerprint`]): one pass of a hand-written, zero-copy PostgreSQL lexer
//!   (`lexer.rs`) writes the *normalized text* (`normalize.rs`, `emit.rs`) and hashes it into
//!   a [`Fingerprint`]. No AST, one allocation (the output string). Anything the lexer can
//!   tokenize — which is every byte string: unknown syntax, unterminated strings and comments
//!   included — gets a fingerprint.
//! * **Slow path** ([`analyze`]): additionally splits the text into statements, reads each
//!   statement's [`Operation`] from its leading keywords, and parses it with sqlparser
//!   (`=0.63.0`, PostgreSQL dialect, recursion limit 48) to find the tables it names and
//!   build `db.query.summary`. When sqlparser cannot parse a statement (`CREATE INDEX
//!   CONCURRENTLY`, `VACUUM`, `COPY … FROM STDIN`, `DO`, newer syntax) a token heuristic
//!   (`heuristic.rs`) finds the tables instead. Grouping never depends on sqlparser.
//! * **Cache** ([`Analyzer`]): exact text → analysis, then fingerprint → analysis, so the
//!   slow path runs once per new fingerprint and repeated texts skip even the lexer.
//!
//! # Normalization rules
//!
//! The normalized text is canonical: two statements group together exactly when their
//! normalized texts are equal (up to display-only annotations, below).
//!
//! * Constants of every kind become placeholders `$1, $2, …` numbered left to right: numbers
//!   (`42`, `1.5e3`, `0x1F`, `1_000`), strings (`'…'`, `E'…'`, `N'…'`, `U&'…'`, `B'…'`,
//!   `X'…'`, adjacent string continuations, `$tag$…$tag$` — including `DO` and function
//!   bodies), `TRUE`, `FALSE` and `NULL` (but not in `IS [NOT] NULL/TRUE/FALSE` or `NOT
//!   NULL`), and existing parameters `$n` (renumbered). Typed literals keep their type:
//!   `DATE '2024-01-01'` → `date $1`, `'1'::int` → `$1::int`.
//! * A unary minus before a number is part of the constant (`= -5` → `= $1`), as in the server's
//!   grammar; a binary minus is an operator (`a - 5` → `a - $1`). Unary means: at the start,
//!   after an operator, `(`, `[`, `,`, `:` or a word that starts an expression (`SELECT`,
//!   `WHERE`, `AND`, `THEN`, `LIMIT`, …).
//! * Whitespace and comments (`--`, nested `/* */`) vanish; tokens are re-joined with
//!   deterministic spacing (`emit.rs`). Unquoted words fold to lower case (keywords and
//!   identifiers alike, as the server folds identifiers); quotes that change nothing are
//!   dropped (`"users"` → `users`, but `"Users"` and `"user"` keep theirs). `!=` is written
//!   `<>`; `INNER`/`OUTER` before `JOIN` and `ASC` are dropped (the parser erases them too).
//!   Trailing and repeated `;` vanish.
//! * Lists of constants after `IN` or inside `ARRAY[…]` collapse to one placeholder whatever
//!   their length: `IN (1, 2, 3)` → `in ($1 /*, ... */)` (elements may be signed or cast; the
//!   mark is written for any length, so the text stays canonical).
//! * Rows of a multi-row `VALUES` collapse when they normalize to the same text as the row
//!   before: `VALUES (1,'a'), (2,'b')` → `values ($1, $2) /*, ... */`. Here the ` /*, ... */`
//!   mark is an *annotation*: it is shown, but left out of the fingerprint, so a one-row and
//!   a thousand-row insert of the same shape share one fingerprint (and the cache keeps the
//!   text of whichever came first).
//! * Row-value IN lists of constants collapse the same way, to one row of the list's arity:
//!   `(a, b) IN ((1, 'x'), (2, 'y'))` → `(a, b) in (($1, $2) /*, ... */)`.
//! * A `CASE` arm that normalizes to the same text as the arm before it is dropped, and the drop
//!   annotated (` /* ... */`), as for `VALUES` rows: the one-arm-per-row `CASE WHEN id = $1
//!   THEN $2 WHEN …` of a bulk update is one shape whatever the batch size; arms of different
//!   shapes are all kept (`normalize/repeats.rs`).
//! * Names that clients generate per call are placeholders (`normalize/names.rs`):
//!   `SAVEPOINT $1`, `RELEASE [SAVEPOINT]` and `ROLLBACK [WORK|TRANSACTION] TO [SAVEPOINT]`
//!   (each written one way), cursors in `DECLARE $1 … FOR <query>`, `FETCH`/`MOVE … FROM $n`
//!   and `CLOSE $1`, prepared statements in `PREPARE $1 … AS <query>`, `EXECUTE $1(…)` and
//!   `DEALLOCATE $1`. `CLOSE ALL` and `DEALLOCATE ALL` stay as they are; two-phase-commit ids
//!   are strings, hence constants.
//! * Integers that are whole items of an `ORDER BY`/`GROUP BY` list are column positions,
//!   not constants, and stay literal: `ORDER BY 2` and `ORDER BY 1` differ.
//!
//! Anything else — a column, a table, an operator, a function, a `LIMIT` present or absent, an
//! alias, redundant parentheses — keeps statements apart.
//!
//! # Backslashes: `standard_conforming_strings`
//!
//! Where a `'…'` literal ends depends on the connection: with `standard_conforming_strings =
//! off` a backslash escapes (`'it\'s'` is one literal), with `on` (the default) it does not;
//! `E'…'` always escapes, dollar quotes never do. The `_with` functions take the connection's
//! setting ([`ConformingStrings`], from the server's `ParameterStatus`); the others assume `on`.
//! A wrong reading would copy a literal's text into the output, so readings fail safe
//! (`lexer/strings.rs`): at the first literal whose end depends on the setting, `On` keeps its
//! reading only if the rest of the text then closes every quote and the `off` reading would
//! not, `Unknown` never does; otherwise that literal and everything after it are one constant.
//!
//! # Where pgscope differs from pg_stat_statements, deliberately
//!
//! pg_stat_statements hashes the post-analysis tree, so it sees through names and syntax that
//! a lexer cannot, and it cannot see what the tree has erased. The oracle test
//! (`tests/tests/fingerprint_oracle.rs`) counts each of these:
//!
//! * **IN-lists and `ARRAY[…]`** of constants: merged whatever their length (pg_stat_statements
//!   splits them by length before PostgreSQL 18).
//! * **Multi-row `VALUES`**: merged whatever the row count (pg_stat_statements splits them).
//! * **Bulk-update `CASE` arms** of one shape: merged whatever their number.
//! * **Savepoint, cursor and prepared-statement names**: placeholders on every server version
//!   (PostgreSQL 17's pg_stat_statements made savepoint names, two-phase ids and `DEALLOCATE`
//!   names constants; older servers key these utility statements by their text).
//! * **Utility statements** (DDL, `SET`, `BEGIN`, `VACUUM`, `COPY` …): normalized like any
//!   statement; PostgreSQL 15 and older key them by their exact text.
//! * **Parameters** `$n` are placeholders like constants, and renumbered: `= $2` and `= 5`
//!   group together (pg_stat_statements keys parameters by number and constants by type).
//! * **What only the parser and catalog know**: pg_stat_statements merges `users` with
//!   `public.users`, `int` with `integer`, `x::int` with `CAST(x AS int)`, `'1 day'::interval`
//!   with `interval '1 day'`, `FETCH FIRST n ROWS ONLY` with `LIMIT n`, `GROUP BY 1` with the
//!   column it names, `SELECT *` with the column list it expands to, and statements differing
//!   only in column or table aliases or redundant parentheses; it splits constants of different
//!   types (`SELECT 1` / `SELECT 'a'`, `VALUES (99)` / `VALUES (10.5)` into a numeric column).
//!   pgscope sees text, so it does the opposite in each case.
//!
//! libpg_query's fingerprint also ignores IN-list and VALUES lengths; where it and
//! pg_stat_statements disagree, pgscope follows libpg_query for lists (reports would otherwise
//! drown in ORM batch shapes) and pg_stat_statements elsewhere.
//!
//! # The fingerprint
//!
//! [`Fingerprint`] is `fp64` (`hash.rs`) of the normalized text's UTF-8 bytes with annotations
//! left out: a fixed, seedless 64-bit hash (folded 128-bit multiplies over little-endian
//! words, the byte length, and the SplitMix64 finalizer). The same query gets the same id in
//! every process, on every machine, in every release; `tests/vectors.rs` pins known values so
//! a change to the normalizer or the hash cannot go unnoticed.
//!
//! # Raw literals
//!
//! No literal value leaves this crate: [`Analysis`] holds the normalized text, names of tables
//! and an operation; [`sqlcommenter`] returns the key/value pairs of comments, which callers
//! ask for explicitly and per query.

mod ast;
mod cache;
mod commenter;
mod emit;
mod hash;
mod heuristic;
mod keywords;
mod lexer;
mod lists;
mod literals;
mod normalize;
mod operation;
mod shape;
mod split;

use std::fmt;
use std::str::FromStr;

pub use cache::{Analyzer, DEFAULT_MAX_CACHED_TEXT};
pub use commenter::{sqlcommenter, sqlcommenter_with};
pub use lexer::ConformingStrings;
pub use literals::{literals_with, Literal, LiteralKind};
pub use operation::{ObjectKind, Operation};
pub use split::{split_statements, split_statements_with};

/// Stable 64-bit fingerprint of a query shape. `Display` prints 16 lowercase hex digits (what
/// `pgscope fingerprint` prints and the admin API shows); `FromStr` reads them back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub u64);

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Error parsing a [`Fingerprint`] from text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a fingerprint is 16 hexadecimal digits, got {0:?}")]
pub struct ParseFingerprintError(String);

impl FromStr for Fingerprint {
    type Err = ParseFingerprintError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ParseFingerprintError(s.chars().take(40).collect()));
        }
        u64::from_str_radix(s, 16)
            .map(Fingerprint)
            .map_err(|_| ParseFingerprintError(s.to_owned()))
    }
}

/// What the proxy stores per query shape (shared, cached per fingerprint). It holds no raw
/// literal anywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    /// The shape's stable id.
    pub fingerprint: Fingerprint,
    /// The normalized text, with `$1, $2, …` placeholders.
    pub normalized: String,
    /// What the (first) statement does.
    pub operation: Operation,
    /// Tables named, in order of first appearance: schema-qualified when written so, CTE
    /// names and table functions excluded.
    pub tables: Vec<String>,
    /// `db.query.summary` as the OpenTelemetry database conventions define it: each
    /// operation and the tables it names, in order (`SELECT users orders`, `INSERT
    /// shipping_details SELECT orders`); statements joined by `; `; at most 255 bytes.
    pub summary: String,
}

/// The fast path: fingerprint and normalized text, from one lexer pass.
///
/// ```
/// use pgscope_fingerprint::fingerprint;
/// let (a, text) = fingerprint("SELECT abalance FROM pgbench_accounts WHERE aid = 48213;");
/// let (b, _) = fingerprint("select abalance\n  from pgbench_accounts where aid=7 -- hot");
/// assert_eq!(a, b);
/// assert_eq!(text, "select abalance from pgbench_accounts where aid = $1");
/// ```
pub fn fingerprint(sql: &str) -> (Fingerprint, String) {
    fingerprint_with(sql, ConformingStrings::On)
}

/// [`fingerprint`] for a connection whose `standard_conforming_strings` is `strings`.
///
/// ```
/// use pgscope_fingerprint::{fingerprint_with, ConformingStrings};
/// let sql = r"SELECT 'it\'s SECRET' FROM t";
/// let (_, off) = fingerprint_with(sql, ConformingStrings::Off);
/// assert_eq!(off, "select $1 from t");
/// // Read with `on`, the text does not close its last quote: nothing of it is copied.
/// let (_, on) = fingerprint_with(sql, ConformingStrings::On);
/// assert_eq!(on, "select $1");
/// ```
pub fn fingerprint_with(sql: &str, strings: ConformingStrings) -> (Fingerprint, String) {
    let normalized = normalize::normalize(sql, strings);
    (Fingerprint(normalized.fingerprint), normalized.text)
}

/// The full, uncached analysis of `sql`.
///
/// ```
/// use pgscope_fingerprint::{analyze, Operation};
/// let a = analyze("SELECT o.id FROM users u JOIN orders o ON o.user_id = u.id WHERE u.email = 'a@b.c'");
/// assert_eq!(a.operation, Operation::Select);
/// assert_eq!(a.tables, vec!["users", "orders"]);
/// assert_eq!(a.summary, "SELECT users orders");
/// assert!(!a.normalized.contains("a@b.c"));
/// ```
pub fn analyze(sql: &str) -> Analysis {
    analyze_with(sql, ConformingStrings::On)
}

/// [`analyze`] for a connection whose `standard_conforming_strings` is `strings`.
pub fn analyze_with(sql: &str, strings: ConformingStrings) -> Analysis {
    let normalized = normalize::normalize(sql, strings);
    build_analysis(
        sql,
        strings,
        Fingerprint(normalized.fingerprint),
        normalized.text,
    )
}

/// The slow part of [`analyze`], given the fast path's result.
///
/// sqlparser and the token heuristic read strings as with `standard_conforming_strings = on`,
/// so a text with a backslash is first rewritten with every string that holds one (as
/// `strings` reads it, a swallowed rest included) replaced by `''`: their reading can then not
/// put literal text where a table name is looked for.
pub(crate) fn build_analysis(
    sql: &str,
    strings: ConformingStrings,
    fingerprint: Fingerprint,
    normalized: String,
) -> Analysis {
    let rewritten;
    let sql = if memchr::memchr(b'\\', sql.as_bytes()).is_some() {
        rewritten = without_backslash_strings(sql, strings);
        rewritten.as_str()
    } else {
        sql
    };
    let mut operation = None;
    let mut tables: Vec<String> = Vec::new();
    let mut summary = String::new();
    for statement in split_statements(sql) {
        let op = operation::detect(statement);
        operation.get_or_insert(op);
        let shape = ast::shape(statement, op).unwrap_or_else(|| heuristic::shape(statement, op));
        let part = shape.summary();
        if summary.is_empty() {
            summary = part;
        } else if summary.len() + 2 + part.len() <= shape::MAX_SUMMARY {
            summary.push_str("; ");
            summary.push_str(&part);
        }
        for table in shape.tables {
            if !tables.contains(&table) {
                tables.push(table);
            }
        }
    }
    let operation = operation.unwrap_or(Operation::Other);
    if summary.is_empty() {
        summary = operation.as_str().to_owned();
    }
    Analysis {
        fingerprint,
        normalized,
        operation,
        tables,
        summary,
    }
}

/// `sql` with each string token that holds a backslash replaced by `''`.
fn without_backslash_strings(sql: &str, strings: ConformingStrings) -> String {
    let mut out = String::with_capacity(sql.len());
    for token in lexer::Lexer::with(sql, strings) {
        if token.kind == lexer::Kind::String && token.text.contains('\\') {
            out.push_str(" '' ");
        } else {
            out.push_str(token.text);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_displays_as_sixteen_hex_digits_and_parses_back() {
        let fp = Fingerprint(0xab);
        assert_eq!(fp.to_string(), "00000000000000ab");
        assert_eq!("00000000000000ab".parse::<Fingerprint>(), Ok(fp));
        assert!("xyz".parse::<Fingerprint>().is_err());
        assert!("+000000000000000".parse::<Fingerprint>().is_err());
    }

    #[test]
    fn multi_statement_text_summarizes_each_statement() {
        let a = analyze("BEGIN; UPDATE accounts SET b = b + 1 WHERE id = 3; COMMIT;");
        assert_eq!(a.operation, Operation::Begin);
        assert_eq!(a.summary, "BEGIN; UPDATE accounts; COMMIT");
        assert_eq!(a.tables, vec!["accounts"]);
    }

    #[test]
    fn unparsable_statements_fall_back_to_tokens() {
        let a = analyze("CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON events (created_at)");
        assert_eq!(a.operation, Operation::Create(ObjectKind::Index));
        assert_eq!(a.tables, vec!["events"]);
        assert_eq!(a.summary, "CREATE INDEX events");
    }

    #[test]
    fn empty_input_is_other() {
        let a = analyze("  -- nothing\n");
        assert_eq!(a.operation, Operation::Other);
        assert_eq!(a.normalized, "");
        assert_eq!(a.summary, "OTHER");
    }
}
