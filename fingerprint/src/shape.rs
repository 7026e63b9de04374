//! Tables and `db.query.summary` of one statement, built from names found either in the
//! sqlparser AST ([`crate::ast`]) or by the token heuristic ([`crate::heuristic`]).

use crate::keywords;
use crate::operation::Operation;

/// `db.query.summary` is cut (at a word boundary) to this many bytes, as the OpenTelemetry
/// database conventions recommend.
pub(crate) const MAX_SUMMARY: usize = 255;

/// A name as PostgreSQL sees it: unquoted names fold to lower case; a quoted name keeps its
/// quotes only if it needs them (upper case, odd characters, reserved word).
pub(crate) fn display_ident(value: &str, quoted: bool) -> String {
    if !quoted {
        return value.to_ascii_lowercase();
    }
    let mut bytes = value.bytes();
    let plain = bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_' || b >= 0x80)
        && bytes.all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'$' || b >= 0x80
        })
        && !keywords::is_reserved(value.as_bytes());
    if plain {
        value.to_owned()
    } else {
        format!("\"{}\"", value.replace('"', "\"\""))
    }
}

/// Collects one statement's operation words and tables in the order they appear.
#[derive(Debug)]
pub(crate) struct Shape {
    /// Summary words after the operation (`users`, `SELECT`, `orders`, …).
    words: Vec<String>,
    /// Index in `words` where the current operation's segment starts (for de-duplication).
    segment: usize,
    /// Distinct tables in order of first appearance.
    pub(crate) tables: Vec<String>,
    operation: Operation,
}

impl Shape {
    /// An empty shape for a statement doing `operation`.
    pub(crate) fn new(operation: Operation) -> Self {
        Shape {
            words: Vec::new(),
            segment: 0,
            tables: Vec::new(),
            operation,
        }
    }

    /// Records a table reference.
    pub(crate) fn table(&mut self, name: String) {
        if !self
            .words
            .get(self.segment..)
            .unwrap_or(&[])
            .contains(&name)
        {
            self.words.push(name.clone());
        }
        if !self.tables.contains(&name) {
            self.tables.push(name);
        }
    }

    /// Opens a nested query segment (`INSERT t SELECT u`); returns a token for [`Shape::end_select`].
    pub(crate) fn begin_select(&mut self) -> (usize, usize) {
        let token = (self.words.len(), self.segment);
        self.words.push("SELECT".to_owned());
        self.segment = self.words.len();
        token
    }

    /// Closes a nested query segment; drops its `SELECT` if it named no table.
    pub(crate) fn end_select(&mut self, (at, segment): (usize, usize)) {
        if self.words.len() == at + 1 {
            self.words.truncate(at);
        }
        self.segment = segment;
    }

    /// The summary: operation, then the words, cut to [`MAX_SUMMARY`] bytes.
    pub(crate) fn summary(&self) -> String {
        let mut summary = self.operation.as_str().to_owned();
        for word in &self.words {
            if summary.len() + 1 + word.len() > MAX_SUMMARY {
                break;
            }
            summary.push(' ');
            summary.push_str(word);
        }
        summary
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_names_keep_quotes_only_when_needed() {
        assert_eq!(display_ident("Users", false), "users");
        assert_eq!(display_ident("users", true), "users");
        assert_eq!(display_ident("Users", true), "\"Users\"");
        assert_eq!(display_ident("user", true), "\"user\"");
        assert_eq!(display_ident("a\"b", true), "\"a\"\"b\"");
    }

    #[test]
    fn nested_select_without_tables_leaves_no_trace() {
        let mut shape = Shape::new(Operation::Select);
        shape.table("users".into());
        let token = shape.begin_select();
        shape.end_select(token);
        assert_eq!(shape.summary(), "SELECT users");
        let token = shape.begin_select();
        shape.table("orders".into());
        shape.table("users".into());
        shape.end_select(token);
        shape.table("users".into());
        assert_eq!(shape.summary(), "SELECT users SELECT orders users");
        assert_eq!(shape.tables, vec!["users", "orders"]);
    }

    #[test]
    fn summary_is_cut_at_a_word_boundary() {
        let mut shape = Shape::new(Operation::Select);
        for i in 0..100 {
            shape.table(format!("table_{i}"));
        }
        let summary = shape.summary();
        assert!(summary.len() <= MAX_SUMMARY);
        assert!(summary.ends_with(|c: char| c.is_ascii_digit()));
    }
}
