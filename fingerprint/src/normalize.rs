//! The fast path: one lexer pass that writes the normalized text and yields the fingerprint.
//! The rules it applies are described in the crate documentation.

use crate::emit::{Class, Out};
use crate::keywords;
use crate::lexer::{ConformingStrings, Kind, Lexer, Token};
use crate::lists::skip_constant;

mod names;
mod repeats;

/// How deep `VALUES` row and `CASE` arm collapsing may nest (`VALUES ((VALUES …))`, `CASE`
/// in `CASE`); deeper ones are normalized without collapsing, which keeps the normalizer's own
/// recursion bounded.
const MAX_COLLAPSE_NESTING: u32 = 8;

/// Text shown after a list whose length was folded away.
const LIST_MARK: &str = " /*, ... */";

/// Normalized text and its fingerprint.
pub(crate) struct Normalized {
    pub(crate) text: String,
    pub(crate) fingerprint: u64,
}

/// Normalizes `sql`, reading its strings under `strings` (see the crate documentation for the
/// rules).
pub(crate) fn normalize(sql: &str, strings: ConformingStrings) -> Normalized {
    let mut n = Normalizer {
        lex: Lexer::with(sql, strings),
        out: Out::with_capacity(sql.len().min(4096)),
        depth: 0,
        by_depth: None,
        collapse_nesting: 0,
        after_string: false,
        at_start: true,
    };
    while let Some(token) = n.lex.next_significant() {
        n.step(token);
    }
    let fingerprint = n.out.fingerprint();
    Normalized {
        text: n.out.into_string(),
        fingerprint,
    }
}

struct Normalizer<'a> {
    lex: Lexer<'a>,
    out: Out,
    /// Parenthesis depth.
    depth: u32,
    /// Depth of the `ORDER BY`/`GROUP BY` list being written, if any: a bare integer item
    /// there is a column position, not a constant.
    by_depth: Option<u32>,
    /// How many `VALUES`/`CASE` collapses are open (bounded by [`MAX_COLLAPSE_NESTING`]).
    collapse_nesting: u32,
    /// The previous token was a string constant (adjacent strings are one constant).
    after_string: bool,
    /// The next token is a statement's first.
    at_start: bool,
}

/// Words the normalizer treats specially.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Special {
    In,
    By,
    Asc,
    Null,
    True,
    False,
    Inner,
    Outer,
    Array,
    Values,
    Case,
}

/// Classifies `word` (any case) without copying it: most words are decided by their length.
fn special(word: &str) -> Option<Special> {
    let is = |keyword: &str| word.eq_ignore_ascii_case(keyword);
    let found = match word.len() {
        2 if is("in") => Special::In,
        2 if is("by") => Special::By,
        3 if is("asc") => Special::Asc,
        4 if is("null") => Special::Null,
        4 if is("case") => Special::Case,
        4 if is("true") => Special::True,
        5 if is("false") => Special::False,
        5 if is("inner") => Special::Inner,
        5 if is("outer") => Special::Outer,
        5 if is("array") => Special::Array,
        6 if is("values") => Special::Values,
        _ => return None,
    };
    Some(found)
}

/// Words that end an `ORDER BY`/`GROUP BY` list.
fn ends_by_list(word: &str) -> bool {
    [
        "limit",
        "offset",
        "having",
        "window",
        "for",
        "fetch",
        "union",
        "intersect",
        "except",
        "returning",
    ]
    .iter()
    .any(|k| word.eq_ignore_ascii_case(k))
}

impl<'a> Normalizer<'a> {
    fn next_kind(&self) -> Option<Kind> {
        self.lex.peek_significant().map(|t| t.kind)
    }

    fn step(&mut self, token: Token<'a>) {
        let after_string = std::mem::replace(&mut self.after_string, false);
        let at_start = std::mem::replace(&mut self.at_start, false);
        match token.kind {
            Kind::Word if at_start && self.named_command(token) => {}
            Kind::Word => self.word(token),
            Kind::QuotedIdent => self.quoted_ident(token.text),
            Kind::Number => self.number(token),
            Kind::String => {
                self.after_string = true;
                if !after_string {
                    self.out.placeholder();
                }
            }
            Kind::Param => self.out.placeholder(),
            Kind::Operator => self.operator(token),
            Kind::LParen => {
                self.depth = self.depth.saturating_add(1);
                self.out.push(Class::LParen, "(");
            }
            Kind::RParen => {
                self.depth = self.depth.saturating_sub(1);
                if self.by_depth.is_some_and(|d| d > self.depth) {
                    self.by_depth = None;
                }
                self.out.push(Class::RParen, ")");
            }
            Kind::LBracket => self.out.push(Class::LBracket, "["),
            Kind::RBracket => self.out.push(Class::RBracket, "]"),
            Kind::Comma => self.out.push(Class::Comma, ","),
            Kind::Dot => self.out.push(Class::Dot, "."),
            Kind::DoubleColon => self.out.push(Class::DoubleColon, "::"),
            Kind::Semicolon => {
                self.depth = 0;
                self.by_depth = None;
                self.at_start = true;
                self.out.semicolon();
            }
            Kind::Colon | Kind::Other => self.out.push(Class::Other, token.text),
            Kind::Whitespace | Kind::LineComment | Kind::BlockComment => {
                self.after_string = after_string;
                self.at_start = at_start;
            }
        }
    }

    fn word(&mut self, token: Token<'a>) {
        if self.by_depth == Some(self.depth) && ends_by_list(token.text) {
            self.by_depth = None;
        }
        match special(token.text) {
            Some(Special::Inner | Special::Outer)
                if self
                    .lex
                    .peek_significant()
                    .is_some_and(|t| t.is_word("join")) => {}
            Some(Special::Asc) => {}
            Some(Special::True | Special::False | Special::Null)
                if !self.out.prev_word_is("is") && !self.out.prev_word_is("not") =>
            {
                self.out.placeholder();
            }
            Some(Special::In) if self.next_kind() == Some(Kind::LParen) => {
                self.out.push_word(token.text);
                let mut look = self.lex;
                look.next_significant();
                if look.peek_significant().map(|t| t.kind) != Some(Kind::LParen)
                    || !self.constant_rows()
                {
                    self.constant_list(Kind::RParen);
                }
            }
            Some(Special::Array) if self.next_kind() == Some(Kind::LBracket) => {
                self.out.push_word(token.text);
                self.constant_list(Kind::RBracket);
            }
            Some(Special::Values) if self.next_kind() == Some(Kind::LParen) => {
                self.out.push_word(token.text);
                self.values_rows();
            }
            Some(Special::Case) => {
                self.out.push_word(token.text);
                self.case_arms();
            }
            Some(Special::By)
                if self.out.prev_word_is("order") || self.out.prev_word_is("group") =>
            {
                self.out.push_word(token.text);
                self.by_depth = Some(self.depth);
            }
            _ => self.out.push_word(token.text),
        }
    }

    /// `"users"` is the same name as `users`: drop quotes that change nothing (but keep them on
    /// words this normalizer treats specially, like `"values"`, so the output normalizes to itself).
    fn quoted_ident(&mut self, text: &str) {
        let inner = text
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .filter(|t| !t.is_empty());
        let plain = inner.filter(|t| {
            let mut bytes = t.bytes();
            let first_ok = bytes
                .next()
                .is_some_and(|b| b.is_ascii_lowercase() || b == b'_' || b >= 0x80);
            first_ok
                && bytes.all(|b| {
                    b.is_ascii_lowercase()
                        || b.is_ascii_digit()
                        || b == b'_'
                        || b == b'$'
                        || b >= 0x80
                })
                && !keywords::is_reserved(t.as_bytes())
                && special(t).is_none()
        });
        match plain {
            Some(name) => self.out.push_word(name),
            None => self.out.push(Class::Ident, text),
        }
    }

    fn number(&mut self, token: Token<'a>) {
        let position_item = self.by_depth == Some(self.depth)
            && (self.out.prev_word_is("by") || self.out.prev() == Class::Comma)
            && matches!(
                self.next_kind(),
                None | Some(Kind::Comma | Kind::RParen | Kind::Semicolon | Kind::Word)
            );
        if position_item {
            self.out.push(Class::Value, token.text);
        } else {
            self.out.placeholder();
        }
    }

    fn unary_context(&self) -> bool {
        match self.out.prev() {
            Class::Start
            | Class::Op
            | Class::LParen
            | Class::LBracket
            | Class::Comma
            | Class::Semi
            | Class::Other => true,
            Class::Word => self
                .out
                .prev_word()
                .is_some_and(keywords::starts_expression),
            _ => false,
        }
    }

    fn operator(&mut self, token: Token<'a>) {
        if token.text == "-" && self.next_kind() == Some(Kind::Number) && self.unary_context() {
            self.lex.next_significant();
            self.out.placeholder();
            return;
        }
        let text = if token.text == "!=" { "<>" } else { token.text };
        self.out.push(Class::Op, text);
    }

    /// After `IN` or `ARRAY`: if the `(…)`/`[…]` that follows holds only constants (optionally
    /// signed or cast), writes it as one placeholder with the list mark and consumes it.
    fn constant_list(&mut self, close: Kind) {
        let mut look = self.lex;
        let open = look.next_significant();
        loop {
            let Some(next) = skip_constant(&mut look) else {
                return;
            };
            match next.map(|t| t.kind) {
                Some(Kind::Comma) => {}
                Some(kind) if kind == close => break,
                _ => return,
            }
        }
        let (open_class, open_text, close_class, close_text) = if close == Kind::RParen {
            (Class::LParen, "(", Class::RParen, ")")
        } else {
            (Class::LBracket, "[", Class::RBracket, "]")
        };
        if open.is_some() {
            self.lex = look;
            self.out.push(open_class, open_text);
            self.out.placeholder();
            self.out.push_tail(LIST_MARK);
            self.out.push(close_class, close_text);
        }
    }

    /// Writes one parenthesized row (the lexer is before its `(`); returns its text range.
    fn row(&mut self) -> Option<(usize, usize)> {
        let open = self.lex.next_significant()?;
        let outer = self.depth;
        self.step(open);
        let start = self.out.text.len().saturating_sub(1);
        while self.depth > outer {
            let token = self.lex.next_significant()?;
            self.step(token);
        }
        Some((start, self.out.text.len()))
    }

    fn row_follows(&self) -> bool {
        let mut look = self.lex;
        look.next_significant().map(|t| t.kind) == Some(Kind::Comma)
            && look.next_significant().map(|t| t.kind) == Some(Kind::LParen)
    }

    /// After `VALUES`: writes the rows, dropping each row whose normalized text equals the
    /// previous written row's (numbered from the same placeholder), and marks the drop.
    fn values_rows(&mut self) {
        if self.collapse_nesting >= MAX_COLLAPSE_NESTING {
            return;
        }
        self.collapse_nesting += 1;
        let mut row_params = self.out.params;
        let mut previous = self.row();
        let mut marked = false;
        while previous.is_some() && self.row_follows() {
            let mark = self.out.mark();
            let rewind = self.lex;
            self.out.params = row_params;
            if let Some(comma) = self.lex.next_significant() {
                self.step(comma);
            }
            let current = self.row();
            let same = match (previous, current) {
                (Some(a), Some(b)) => self.out.same_shape(a, b),
                _ => false,
            };
            self.out.reset(mark);
            if same {
                if !marked {
                    self.out.annotate(LIST_MARK);
                    marked = true;
                }
            } else {
                self.lex = rewind;
                row_params = self.out.params;
                if let Some(comma) = self.lex.next_significant() {
                    self.step(comma);
                }
                previous = self.row();
                marked = false;
            }
        }
        self.collapse_nesting -= 1;
    }
}

#[cfg(test)]
mod tests;
