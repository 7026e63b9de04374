//! Where the literals of a text are: the byte ranges of its constants and comments, for callers
//! that rewrite them (the capture's redaction) rather than normalize them away.

use std::ops::Range;

use crate::lexer::{ConformingStrings, Kind, Lexer};

/// What a [`Literal`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiteralKind {
    /// A numeric constant (`42`, `1.5e3`, `0x1F`).
    Number,
    /// A string constant of any kind, quotes and prefix included (`'…'`, `E'…'`, `B'…'`,
    /// `X'…'`, `N'…'`, `U&'…'`, `$tag$…$tag$`).
    String,
    /// A comment (`-- …`, `/* … */`), which may quote values too.
    Comment,
}

/// One literal's place in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Literal {
    /// Its byte range.
    pub range: Range<usize>,
    /// What it is.
    pub kind: LiteralKind,
}

/// The literals of `sql`, in order, read as the fingerprint lexer reads them under the
/// connection's `standard_conforming_strings` (a string whose end depends on an unknown setting
/// runs to the end of the text, so nothing after it escapes).
///
/// ```
/// use pgscope_fingerprint::{literals_with, ConformingStrings, LiteralKind};
/// let sql = "SELECT * FROM t WHERE a = 42 AND b = 'x' -- hi";
/// let found = literals_with(sql, ConformingStrings::On);
/// let kinds: Vec<_> = found.iter().map(|l| (&sql[l.range.clone()], l.kind)).collect();
/// assert_eq!(kinds, [("42", LiteralKind::Number), ("'x'", LiteralKind::String), ("-- hi", LiteralKind::Comment)]);
/// ```
pub fn literals_with(sql: &str, strings: ConformingStrings) -> Vec<Literal> {
    let mut found = Vec::new();
    for token in Lexer::with(sql, strings) {
        let kind = match token.kind {
            Kind::Number => LiteralKind::Number,
            Kind::String => LiteralKind::String,
            Kind::LineComment | Kind::BlockComment => LiteralKind::Comment,
            _ => continue,
        };
        found.push(Literal {
            range: token.start..token.start + token.text.len(),
            kind,
        });
    }
    found
}
