//! One analysis per query shape: [`Shape`], made once per fingerprint and shared by every
//! observer.
//!
//! # Design
//!
//! A statement's text is fingerprinted on the fast path (one lexer pass); the first time a
//! fingerprint is seen, the full analysis (sqlparser: operation, tables, summary) runs and
//! [`Shape::of`] derives from it, once, everything the observers take from a shape:
//!
//! - the recorder's entry, [`QueryInfo`]: the normalized text, summary and tables cut to the
//!   one text limit (`recorder.max_query_text`) by the one cutting rule, [`cut`];
//! - the span's part that depends only on the shape — its name and the `db.*` attributes —
//!   with the same shared strings ([`crate::spans::SpanShape`]);
//! - the full normalized text, for the debug log and the span's row-count rules.
//!
//! The strings are `Arc<str>`: an entry of the recorder, a span's attribute and the shape
//! itself hold the same text, so a sampled span or a new recorder entry copies pointers.
//!
//! [`Shapes`] is the process's one cache of them: the fingerprint crate's [`Analyzer`] (exact
//! texts → shape, fingerprint → shape, both bounded) deriving [`Shape`]s, so there is no
//! second cache keyed by fingerprint beside it. A statement memoises its shape
//! ([`Statement::shape`]): a prepared statement is looked up once however often it runs, and
//! whichever observer comes first (the recorder) pays for it.

use std::borrow::Cow;
use std::sync::Arc;

use pgscope_exporters::QueryInfo;
use pgscope_fingerprint::{
    Analysis, Analyzer, ConformingStrings, Fingerprint, Operation, DEFAULT_MAX_CACHED_TEXT,
};

use crate::observer::Statement;
use crate::spans::SpanShape;

/// `text` cut to at most `max` bytes at a character boundary, the cut marked with `…` (which
/// counts towards `max`). The one rule for every text pgscope stores or exports — the
/// recorder's query texts and the spans' `db.query.text`, both bounded by
/// `recorder.max_query_text` — applied once per shape ([`Shape::of`]).
pub fn cut(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}…", &text[..end]))
}

/// Most tables kept per shape.
const MAX_TABLES: usize = 32;

/// Everything derived from one query shape's analysis.
#[derive(Debug)]
pub struct Shape {
    /// The shape's stable id.
    pub fingerprint: Fingerprint,
    /// What the (first) statement does.
    pub operation: Operation,
    /// The whole normalized text (`info.query` is it cut to the limit).
    pub normalized: Arc<str>,
    /// What the recorder's entries of this shape say about it (texts cut to the limit).
    pub info: QueryInfo,
    /// What every span of this shape shares.
    pub(crate) span: SpanShape,
}

impl Shape {
    /// The shape of `analysis`, its stored texts cut to `max_text` bytes.
    pub fn of(mut analysis: Analysis, max_text: usize) -> Shape {
        let normalized: Arc<str> = std::mem::take(&mut analysis.normalized).into();
        let shared = |text: &str| match cut(text, max_text) {
            std::borrow::Cow::Borrowed(_) => Arc::<str>::from(text),
            std::borrow::Cow::Owned(cut) => Arc::from(cut),
        };
        let query = if normalized.len() <= max_text {
            Arc::clone(&normalized)
        } else {
            shared(&normalized)
        };
        let info = QueryInfo {
            query,
            summary: shared(&analysis.summary),
            operation: analysis.operation.as_str().into(),
            tables: analysis
                .tables
                .iter()
                .take(MAX_TABLES)
                .map(|table| shared(table))
                .collect(),
        };
        let span = SpanShape::of(&analysis, &info);
        Shape {
            fingerprint: analysis.fingerprint,
            operation: analysis.operation,
            normalized,
            info,
            span,
        }
    }
}

/// The process's shapes, by exact text and by fingerprint (bounded).
#[derive(Debug)]
pub struct Shapes {
    analyzer: Analyzer<Shape>,
    max_text: usize,
}

impl Shapes {
    /// A cache of about `capacity` shapes whose stored texts are cut to `max_text` bytes
    /// (`recorder.max_query_text`).
    pub fn new(capacity: usize, max_text: usize) -> Shapes {
        Shapes {
            analyzer: Analyzer::shaping(capacity, DEFAULT_MAX_CACHED_TEXT, move |analysis| {
                Shape::of(analysis, max_text)
            }),
            max_text,
        }
    }

    /// The longest stored text, bytes.
    pub fn max_text(&self) -> usize {
        self.max_text
    }

    /// The statement's shape, looked up on first use (and then memoised in the statement),
    /// its literals read under the statement's `standard_conforming_strings`.
    pub fn of(&self, statement: &Statement) -> Arc<Shape> {
        Arc::clone(statement.shape.get_or_init(|| {
            self.analyzer
                .analyze_with(&statement.text, statement.strings)
        }))
    }

    /// The shape of `sql` (read with `standard_conforming_strings` on).
    pub fn analyze(&self, sql: &str) -> Arc<Shape> {
        self.analyzer.analyze(sql)
    }

    /// The shape of `sql` read under `strings`.
    pub fn analyze_with(&self, sql: &str, strings: ConformingStrings) -> Arc<Shape> {
        self.analyzer.analyze_with(sql, strings)
    }

    /// Shapes cached.
    pub fn len(&self) -> usize {
        self.analyzer.len()
    }

    /// Whether no shape is cached.
    pub fn is_empty(&self) -> bool {
        self.analyzer.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shape_is_made_once_and_shared_by_every_statement_of_it() {
        let shapes = Shapes::new(100, 4096);
        let one = Statement::new("SELECT name FROM users WHERE id = 1");
        let two = Statement::new("select name from users where id = 2");
        let first = shapes.of(&one);
        assert!(Arc::ptr_eq(&first, &shapes.of(&one)));
        assert!(Arc::ptr_eq(&first, &shapes.of(&two)));
        assert_eq!(shapes.len(), 1);
    }

    #[test]
    fn an_uncut_text_is_the_normalized_text_itself() {
        let shape = Shapes::new(10, 4096).analyze("SELECT name FROM users WHERE id = 1");
        assert!(Arc::ptr_eq(&shape.info.query, &shape.normalized));
        assert_eq!(&*shape.info.query, "select name from users where id = $1");
        assert_eq!(&*shape.info.summary, "SELECT users");
        assert_eq!(&*shape.info.operation, "SELECT");
        assert_eq!(shape.info.tables, vec![Arc::<str>::from("users")]);
    }

    #[test]
    fn stored_texts_are_cut_by_the_one_rule_to_the_one_limit() {
        let sql = format!("SELECT {} FROM users", "a, ".repeat(100) + "b");
        let shape = Shapes::new(10, 64).analyze(&sql);
        assert_eq!(&*shape.info.query, cut(&shape.normalized, 64));
        assert!(shape.info.query.len() <= 64 && shape.info.query.ends_with('…'));
        assert!(
            shape.normalized.len() > 64,
            "the whole text is kept beside it"
        );
    }

    #[test]
    fn short_texts_are_kept_whole() {
        assert_eq!(cut("select 1", 8), "select 1");
    }

    #[test]
    fn long_texts_are_cut_at_a_character_boundary_with_an_ellipsis_within_the_limit() {
        let text = "ä".repeat(10);
        for max in 3..20 {
            let cut = cut(&text, max);
            assert!(cut.len() <= max, "{max}: {cut}");
            assert!(cut.ends_with('…'), "{max}: {cut}");
            assert!(cut.len() + 2 > max, "{max}: {cut} wastes room");
        }
    }
}
