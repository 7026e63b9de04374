//! Lists whose length is the batch size: row-value IN lists and `CASE` arms.
//!
//! * `(a, b) IN ((1, 'x'), (2, 'y'))` is written `(a, b) in (($1, $2) /*, ... */)` whatever the
//!   number of rows, when every row holds only constants and all rows have one arity (the
//!   arity stays in the text: it is the left side's).
//! * A `CASE` arm (`WHEN … THEN …`) that normalizes to the same text as the arm before it
//!   (numbered from the same placeholder) is dropped and the drop annotated, as `VALUES` rows
//!   are: Django's `bulk_update` writes `CASE WHEN (id = $1) THEN $2 WHEN (id = $3) THEN $4 …
//!   END`, one arm per row, and every batch size is one shape. Arms of other shapes are kept.

use super::{Normalizer, LIST_MARK, MAX_COLLAPSE_NESTING};
use crate::emit::Class;
use crate::lexer::{Kind, Lexer, Token};
use crate::lists::skip_constant;

/// Text shown after a `CASE` arm whose repeats were folded away (an annotation).
const ARM_MARK: &str = " /* ... */";

/// Skips `(const, …), (const, …) )` — the rows of a row-value IN list after its `(` — and
/// returns their arity, or `None` if it is not such a list.
fn skip_constant_rows(look: &mut Lexer<'_>) -> Option<u32> {
    let mut arity = None;
    loop {
        if look.next_significant()?.kind != Kind::LParen {
            return None;
        }
        let mut count = 0u32;
        loop {
            count = count.saturating_add(1);
            match skip_constant(look)?.map(|t| t.kind) {
                Some(Kind::Comma) => {}
                Some(Kind::RParen) => break,
                _ => return None,
            }
        }
        if arity.replace(count).is_some_and(|a| a != count) {
            return None;
        }
        match look.next_significant().map(|t| t.kind) {
            Some(Kind::Comma) => {}
            Some(Kind::RParen) => return arity,
            _ => return None,
        }
    }
}

impl<'a> Normalizer<'a> {
    /// After `IN`, when `(` `(` follows: if the list holds rows of constants, writes it as one
    /// row of placeholders with the list mark, consumes it and returns `true`.
    pub(super) fn constant_rows(&mut self) -> bool {
        let mut look = self.lex;
        look.next_significant();
        let Some(arity) = skip_constant_rows(&mut look) else {
            return false;
        };
        self.lex = look;
        self.out.push(Class::LParen, "(");
        self.out.push(Class::LParen, "(");
        for i in 0..arity {
            if i > 0 {
                self.out.push(Class::Comma, ",");
            }
            self.out.placeholder();
        }
        self.out.push(Class::RParen, ")");
        self.out.push_tail(LIST_MARK);
        self.out.push(Class::RParen, ")");
        true
    }

    /// Whether `token` ends the current part of a `CASE` opened at parenthesis depth `depth`.
    fn ends_case_part(&self, token: Token<'_>, depth: u32) -> bool {
        let is = |keyword: &str| token.text.eq_ignore_ascii_case(keyword);
        match token.kind {
            Kind::Semicolon => true,
            Kind::RParen => self.depth <= depth,
            Kind::Word if self.depth == depth => match token.text.len() {
                3 => is("end"),
                4 => is("when") || is("else"),
                _ => false,
            },
            _ => false,
        }
    }

    /// Writes tokens up to the end of the current `CASE` part and returns the token that ends
    /// it with the lexer after that token, without consuming it: each token is lexed once.
    fn case_part(&mut self, depth: u32) -> Option<(Token<'a>, Lexer<'a>)> {
        loop {
            let mut look = self.lex;
            let token = look.next_significant()?;
            if self.ends_case_part(token, depth) {
                return Some((token, look));
            }
            self.lex = look;
            self.step(token);
        }
    }

    /// Writes one `WHEN … THEN …` arm if `next` (the token that ended the previous part) is a
    /// `WHEN`; returns the arm's text range and leaves the token that ends it in `next`.
    fn case_arm(
        &mut self,
        next: &mut Option<(Token<'a>, Lexer<'a>)>,
        depth: u32,
    ) -> Option<(usize, usize)> {
        let (when, after) = next.filter(|(t, _)| t.is_word("when"))?;
        self.lex = after;
        self.step(when);
        let start = self.out.text.len().saturating_sub(when.text.len());
        *next = self.case_part(depth);
        Some((start, self.out.text.len()))
    }

    /// After `CASE` (written): writes the rest of the expression through its `END`, dropping
    /// each arm whose text equals the previous written arm's.
    pub(super) fn case_arms(&mut self) {
        if self.collapse_nesting >= MAX_COLLAPSE_NESTING {
            return;
        }
        self.collapse_nesting += 1;
        let depth = self.depth;
        let mut next = self.case_part(depth);
        let mut arm_params = self.out.params;
        let mut previous = self.case_arm(&mut next, depth);
        let mut marked = false;
        while let Some(written) = previous {
            let mark = self.out.mark();
            let rewind = (self.lex, next);
            self.out.params = arm_params;
            let Some(current) = self.case_arm(&mut next, depth) else {
                self.out.reset(mark);
                break;
            };
            let same = self.out.same_shape(written, current);
            self.out.reset(mark);
            if same {
                if !marked {
                    self.out.annotate(ARM_MARK);
                    marked = true;
                }
            } else {
                (self.lex, next) = rewind;
                arm_params = self.out.params;
                previous = self.case_arm(&mut next, depth);
                marked = false;
            }
        }
        if let Some((token, after)) = next.filter(|(t, _)| t.is_word("else")) {
            self.lex = after;
            self.step(token);
            next = self.case_part(depth);
        }
        if let Some((token, after)) = next.filter(|(t, _)| t.is_word("end")) {
            self.lex = after;
            self.step(token);
        }
        self.collapse_nesting -= 1;
    }
}

#[cfg(test)]
mod tests {
    use crate::lexer::ConformingStrings;

    fn norm(sql: &str) -> String {
        super::super::normalize(sql, ConformingStrings::On).text
    }

    #[test]
    fn row_value_in_lists_collapse_to_one_row() {
        assert_eq!(
            norm("select * from t where (a, b) in ((1, 'x'), (2, 'y'), ($5::int, -3))"),
            "select * from t where (a, b) in (($1, $2) /*, ... */)"
        );
        assert_eq!(
            norm("select * from t where (a, b) in ((1, 2))"),
            "select * from t where (a, b) in (($1, $2) /*, ... */)"
        );
    }

    #[test]
    fn row_lists_of_mixed_arity_or_expressions_are_kept() {
        assert_eq!(
            norm("select * from t where (a, b) in ((1, 2), (3))"),
            "select * from t where (a, b) in (($1, $2), ($3))"
        );
        assert_eq!(
            norm("select * from t where (a, b) in ((1, c), (2, d))"),
            "select * from t where (a, b) in (($1, c), ($2, d))"
        );
        assert_eq!(
            norm("select * from t where a in ((select 1))"),
            "select * from t where a in ((select $1))"
        );
    }

    #[test]
    fn case_arms_of_one_shape_collapse_to_one_annotated_arm() {
        assert_eq!(
            norm("update t set v = case when (id = 1) then 'a' when (id = 2) then 'b' else null end where id in (1, 2)"),
            "update t set v = case when (id = $1) then $2 /* ... */ else $3 end where id in ($4 /*, ... */)"
        );
    }

    #[test]
    fn case_arms_of_different_shapes_are_kept() {
        assert_eq!(
            norm("select case when a > 1 then 'x' when a < 0 then 'y' when a < 0 then 'z' end"),
            "select case when a > $1 then $2 when a < $3 then $4 /* ... */ end"
        );
        assert_eq!(
            norm("select case a when 1 then 'x' else 'y' end, 2"),
            "select case a when $1 then $2 else $3 end, $4"
        );
    }

    #[test]
    fn nested_case_expressions_collapse_inside_out() {
        assert_eq!(
            norm("select case when a = 1 then case when b = 1 then 1 when b = 2 then 2 end when a = 2 then case when b = 3 then 3 end end"),
            "select case when a = $1 then case when b = $2 then $3 /* ... */ end /* ... */ end"
        );
    }

    #[test]
    fn unterminated_case_is_written_as_it_is() {
        assert_eq!(
            norm("select (case when a then b"),
            "select (case when a then b"
        );
        assert_eq!(
            norm("select case when a then b) x"),
            "select case when a then b) x"
        );
    }
}
