//! The fast path: one lexer pass that writes the normalized text and yields the fingerprint.
//! The rules it applies are described in the crate documentation.

use crate::emit::{Class, Out};
use crate::keywords;
use crate::lexer::{Kind, Lexer, Token};

/// How deep `VALUES` row collapsing may nest (`VALUES ((VALUES …))`); deeper lists are
/// normalized without collapsing, which keeps the normalizer's own recursion bounded.
const MAX_VALUES_NESTING: u32 = 8;

/// Text shown after a list whose length was folded away.
const LIST_MARK: &str = " /*, ... */";

/// Normalized text and its fingerprint.
pub(crate) struct Normalized {
    pub(crate) text: String,
    pub(crate) fingerprint: u64,
}

/// Normalizes `sql` (see the crate documentation for the rules).
pub(crate) fn normalize(sql: &str) -> Normalized {
    let mut n = Normalizer {
        lex: Lexer::new(sql),
        out: Out::with_capacity(sql.len().min(4096)),
        depth: 0,
        by_depth: None,
        values_nesting: 0,
        after_string: false,
    };
    while let Some(token) = n.lex.next_significant() {
        n.step(token);
    }
    let fingerprint = n.out.fingerprint();
    Normalized {
        text: n.out.text,
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
    values_nesting: u32,
    /// The previous token was a string constant (adjacent strings are one constant).
    after_string: bool,
}

/// Lower-cases a short word into `buf` for keyword matching; longer words match nothing.
fn small_lower<'b>(word: &str, buf: &'b mut [u8; 10]) -> &'b [u8] {
    let bytes = word.as_bytes();
    match buf.get_mut(..bytes.len()) {
        Some(dst) => {
            dst.copy_from_slice(bytes);
            dst.make_ascii_lowercase();
            dst
        }
        None => &[],
    }
}

impl<'a> Normalizer<'a> {
    fn next_kind(&self) -> Option<Kind> {
        self.lex.peek_significant().map(|t| t.kind)
    }

    fn step(&mut self, token: Token<'a>) {
        let after_string = std::mem::replace(&mut self.after_string, false);
        match token.kind {
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
                self.out.semicolon();
            }
            Kind::Colon | Kind::Other => self.out.push(Class::Other, token.text),
            Kind::Whitespace | Kind::LineComment | Kind::BlockComment => {
                self.after_string = after_string;
            }
        }
    }

    fn word(&mut self, token: Token<'a>) {
        let mut buf = [0u8; 10];
        let key = small_lower(token.text, &mut buf);
        if self.by_depth == Some(self.depth)
            && matches!(
                key,
                b"limit"
                    | b"offset"
                    | b"having"
                    | b"window"
                    | b"for"
                    | b"fetch"
                    | b"union"
                    | b"intersect"
                    | b"except"
                    | b"returning"
            )
        {
            self.by_depth = None;
        }
        match key {
            b"inner" | b"outer"
                if self.lex.peek_significant().is_some_and(|t| t.is_word("join")) =>
            {
                return;
            }
            b"asc" => return,
            b"true" | b"false" | b"null"
                if !self.out.prev_word_is("is") && !self.out.prev_word_is("not") =>
            {
                self.out.placeholder();
                return;
            }
            b"in" if self.next_kind() == Some(Kind::LParen) => {
                self.out.push_word(token.text);
                self.constant_list(Kind::RParen);
                return;
            }
            b"array" if self.next_kind() == Some(Kind::LBracket) => {
                self.out.push_word(token.text);
                self.constant_list(Kind::RBracket);
                return;
            }
            b"values" if self.next_kind() == Some(Kind::LParen) => {
                self.out.push_word(token.text);
                self.values_rows();
                return;
            }
            b"by" if self.out.prev_word_is("order") || self.out.prev_word_is("group") => {
                self.out.push_word(token.text);
                self.by_depth = Some(self.depth);
                return;
            }
            _ => {}
        }
        self.out.push_word(token.text);
    }

    /// `"users"` is the same name as `users`: drop quotes that change nothing.
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
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'$' || b >= 0x80
                })
                && !keywords::is_reserved(t)
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
            Class::Word => self.out.prev_word().is_some_and(keywords::starts_expression),
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
            if !skip_constant(&mut look) {
                return;
            }
            match look.next_significant().map(|t| t.kind) {
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
        if self.values_nesting >= MAX_VALUES_NESTING {
            return;
        }
        self.values_nesting += 1;
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
            let text = &self.out.text;
            let same = match (previous, current) {
                (Some((a, b)), Some((c, d))) => text.get(a..b) == text.get(c..d),
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
        self.values_nesting -= 1;
    }
}

/// Skips one constant list element: `[+|-] constant [::type]*`. Returns false if the next
/// tokens are not one.
fn skip_constant(look: &mut Lexer<'_>) -> bool {
    let mut token = look.next_significant();
    if let Some(t) = token {
        if t.kind == Kind::Operator && (t.text == "-" || t.text == "+") {
            token = look.next_significant().filter(|t| t.kind == Kind::Number);
        }
    }
    let is_constant = token.is_some_and(|t| {
        matches!(t.kind, Kind::Number | Kind::String | Kind::Param)
            || t.is_word("true")
            || t.is_word("false")
            || t.is_word("null")
    });
    if !is_constant {
        return false;
    }
    while look.peek_significant().map(|t| t.kind) == Some(Kind::String) {
        look.next_significant();
    }
    while look.peek_significant().map(|t| t.kind) == Some(Kind::DoubleColon) {
        look.next_significant();
        if !skip_type_name(look) {
            return false;
        }
    }
    true
}

/// Skips a type name after `::`: words and dots, an optional `(n, …)` modifier, `[]` suffixes.
fn skip_type_name(look: &mut Lexer<'_>) -> bool {
    let mut words = 0;
    while let Some(t) = look.peek_significant() {
        match t.kind {
            Kind::Word | Kind::QuotedIdent | Kind::Dot => {
                words += usize::from(t.kind != Kind::Dot);
                look.next_significant();
            }
            _ => break,
        }
    }
    if words == 0 {
        return false;
    }
    if look.peek_significant().map(|t| t.kind) == Some(Kind::LParen) {
        look.next_significant();
        loop {
            match look.next_significant().map(|t| t.kind) {
                Some(Kind::Number | Kind::Comma) => {}
                Some(Kind::RParen) => break,
                _ => return false,
            }
        }
    }
    while look.peek_significant().map(|t| t.kind) == Some(Kind::LBracket) {
        look.next_significant();
        if look.peek_significant().map(|t| t.kind) == Some(Kind::Number) {
            look.next_significant();
        }
        if look.next_significant().map(|t| t.kind) != Some(Kind::RBracket) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::normalize;

    fn norm(sql: &str) -> String {
        normalize(sql).text
    }

    #[test]
    fn pgbench_select_normalizes_to_one_placeholder() {
        assert_eq!(
            norm("SELECT abalance FROM pgbench_accounts WHERE aid = 48213;"),
            "select abalance from pgbench_accounts where aid = $1"
        );
    }

    #[test]
    fn spacing_is_canonical() {
        assert_eq!(
            norm("select  count( * ),t.a,x[1] from t where a::int=-1 and b in( select 1 )"),
            "select count(*), t.a, x[$1] from t where a::int = $2 and b in (select $3)"
        );
    }

    #[test]
    fn binary_minus_is_kept_and_unary_minus_folds() {
        assert_eq!(norm("select a -1, -2, a - -3"), "select a - $1, $2, a - $3");
        assert_eq!(norm("select x from t limit -1"), "select x from t limit $1");
    }

    #[test]
    fn in_list_and_array_render_one_marked_placeholder() {
        assert_eq!(
            norm("select * from t where id in (1, 2, -3) and a = any(array['x'::text, 'y'])"),
            "select * from t where id in ($1 /*, ... */) and a = any(array[$2 /*, ... */])"
        );
    }

    #[test]
    fn values_rows_with_one_shape_collapse() {
        assert_eq!(
            norm("insert into t (a, b) values (1, 'x'), (2, 'y'), (3, 'z')"),
            "insert into t(a, b) values ($1, $2) /*, ... */"
        );
    }

    #[test]
    fn values_rows_with_different_shapes_are_kept() {
        assert_eq!(
            norm("insert into t values (1, 2), (3, default), (4, default)"),
            "insert into t values ($1, $2), ($3, default) /*, ... */"
        );
    }

    #[test]
    fn order_by_positions_stay_literal() {
        assert_eq!(
            norm("select a, b from t order by 2 desc, 1 limit 10"),
            "select a, b from t order by 2 desc, 1 limit $1"
        );
        assert_eq!(
            norm("select a from t group by 1 having count(*) > 1"),
            "select a from t group by 1 having count(*) > $1"
        );
        assert_eq!(norm("select a from t order by a + 1"), "select a from t order by a + $1");
    }

    #[test]
    fn quotes_that_change_nothing_are_dropped() {
        assert_eq!(
            norm(r#"select "id", "Name", "user" from "public"."users""#),
            r#"select id, "Name", "user" from public.users"#
        );
    }

    #[test]
    fn boolean_and_null_constants_but_not_is_null() {
        assert_eq!(
            norm("select * from t where a = true and b is null and c is not true and d = null"),
            "select * from t where a = $1 and b is null and c is not true and d = $2"
        );
    }

    #[test]
    fn adjacent_string_literals_are_one_constant() {
        assert_eq!(norm("select 'a'\n'b', 'c'"), "select $1, $2");
    }

    #[test]
    fn trailing_and_repeated_semicolons_vanish() {
        assert_eq!(norm(";select 1;; select 2;;"), "select $1; select $2");
    }

    #[test]
    fn deeply_nested_values_do_not_recurse_without_bound() {
        let sql = "values (".repeat(10_000) + &")".repeat(10_000);
        assert!(norm(&sql).starts_with("values (values"));
    }
}
