//! Lookahead helpers for collapsing constant lists: recognizing, without writing anything,
//! whether the tokens after `IN (` or `ARRAY[` are constants only.

use crate::lexer::{Kind, Lexer, Token};

/// Skips one constant list element, `[+|-] constant [::type]*`, and returns the token after
/// it (`Some(None)` at the end of input), or `None` if the next tokens are not a constant.
/// Each token is lexed once: the lookahead runs over every element of long IN-lists.
pub(crate) fn skip_constant<'a>(look: &mut Lexer<'a>) -> Option<Option<Token<'a>>> {
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
        return None;
    }
    let mut next = look.next_significant();
    while next.is_some_and(|t| t.kind == Kind::String) {
        next = look.next_significant();
    }
    while next.is_some_and(|t| t.kind == Kind::DoubleColon) {
        next = skip_type_name(look)?;
    }
    Some(next)
}

fn kind(token: Option<Token<'_>>) -> Option<Kind> {
    token.map(|t| t.kind)
}

/// Skips a type name after `::` (words and dots, an optional `(n, …)` modifier, `[]`
/// suffixes) and returns the token after it, or `None` if there is no type name.
fn skip_type_name<'a>(look: &mut Lexer<'a>) -> Option<Option<Token<'a>>> {
    let mut next = look.next_significant();
    let mut words = 0;
    while let Some(t) =
        next.filter(|t| matches!(t.kind, Kind::Word | Kind::QuotedIdent | Kind::Dot))
    {
        words += usize::from(t.kind != Kind::Dot);
        next = look.next_significant();
    }
    if words == 0 {
        return None;
    }
    if kind(next) == Some(Kind::LParen) {
        loop {
            match kind(look.next_significant()) {
                Some(Kind::Number | Kind::Comma) => {}
                Some(Kind::RParen) => break,
                _ => return None,
            }
        }
        next = look.next_significant();
    }
    while kind(next) == Some(Kind::LBracket) {
        let mut t = look.next_significant();
        if kind(t) == Some(Kind::Number) {
            t = look.next_significant();
        }
        if kind(t) != Some(Kind::RBracket) {
            return None;
        }
        next = look.next_significant();
    }
    Some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn constant(sql: &str) -> bool {
        let mut lex = Lexer::new(sql);
        skip_constant(&mut lex) == Some(None)
    }

    #[test]
    fn signed_and_cast_constants_are_constants() {
        for sql in [
            "1",
            "-1.5",
            "+2",
            "'a'",
            "$3",
            "true",
            "null",
            "'x'::text",
            "'{1}'::int[]",
            "'1'::numeric(10, 2)",
            "'a'::public.t",
            "'x' 'y'",
        ] {
            assert!(constant(sql), "{sql}");
        }
    }

    #[test]
    fn expressions_are_not_constants() {
        for sql in [
            "a",
            "-a",
            "- 'x'",
            "(1)",
            "1::",
            "f(1)",
            "'x'::int[",
            "default",
        ] {
            assert!(!constant(sql), "{sql}");
        }
    }
}
