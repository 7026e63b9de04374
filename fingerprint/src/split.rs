//! Splitting a simple-Query string into statements, as the server does.

use crate::lexer::{is_space, ConformingStrings, Kind, Lexer};

/// Splits a simple-Query string into its statements the way the PostgreSQL server does: on
/// top-level `;` outside quotes, dollar quotes, comments and `BEGIN ATOMIC … END` bodies.
/// Statements that are only whitespace and comments are omitted (the server sends no response
/// for them). Each returned slice starts at the statement's first non-whitespace byte (a leading
/// comment is kept, so [`sqlcommenter`](crate::sqlcommenter) still sees it) and ends after its
/// last non-whitespace byte before the `;`.
///
/// ```
/// let parts = pgscope_fingerprint::split_statements("BEGIN; ;SELECT ';' /* ; */ ; -- done\n");
/// assert_eq!(parts, vec!["BEGIN", "SELECT ';' /* ; */"]);
/// ```
///
/// Strings are read as with `standard_conforming_strings = on`; see [`split_statements_with`].
pub fn split_statements(sql: &str) -> Vec<&str> {
    split_statements_with(sql, ConformingStrings::On)
}

/// [`split_statements`] for a connection whose `standard_conforming_strings` is `strings`: with
/// `Off`, `'it\'s; here'` is one string, not a string, a `;` and the start of another.
///
/// ```
/// use pgscope_fingerprint::{split_statements_with, ConformingStrings};
/// let sql = r"SELECT 'a\'; SELECT 2'; SELECT 3";
/// assert_eq!(split_statements_with(sql, ConformingStrings::Off).len(), 2);
/// ```
pub fn split_statements_with(sql: &str, strings: ConformingStrings) -> Vec<&str> {
    if let Some(statements) = split_plain(sql) {
        return statements;
    }
    split_lexed(sql, strings)
}

/// The same split without the lexer, for text where every `;` is a separator: no quote, no
/// dollar sign, no comment opener, and no `ATOMIC` where there is a `;`.
/// `None` otherwise. Most simple-protocol queries qualify (`SELECT … WHERE id = 42;`), and a
/// byte scan costs a tenth of lexing them (`benches/README.md`).
fn split_plain(sql: &str) -> Option<Vec<&str>> {
    let bytes = sql.as_bytes();
    if memchr::memchr3(b'\'', b'"', b'$', bytes).is_some()
        || memchr::memchr2_iter(b'-', b'/', bytes)
            .any(|i| matches!(bytes.get(i..i + 2), Some(b"--" | b"/*")))
    {
        return None;
    }
    // Inside `BEGIN ATOMIC … END` a `;` does not end the statement, not even the last one.
    if memchr::memchr(b';', bytes).is_some()
        && memchr::memchr2_iter(b'a', b'A', bytes).any(|i| {
            bytes
                .get(i + 1..i + 6)
                .is_some_and(|rest| rest.eq_ignore_ascii_case(b"tomic"))
        })
    {
        return None;
    }
    let mut statements = Vec::with_capacity(1);
    let mut start = 0;
    for end in memchr::memchr_iter(b';', bytes).chain(std::iter::once(bytes.len())) {
        let part = sql
            .get(start..end)
            .unwrap_or_default()
            .trim_matches(|c: char| c.is_ascii() && is_space(c as u8));
        if !part.is_empty() {
            statements.push(part);
        }
        start = end + 1;
    }
    Some(statements)
}

/// The general split, token by token.
fn split_lexed(sql: &str, strings: ConformingStrings) -> Vec<&str> {
    let mut statements = Vec::new();
    let mut start: Option<usize> = None;
    let mut end = 0;
    let mut has_code = false;
    let mut atomic_depth = 0u32;
    let mut case_depth = 0u32;
    let mut previous_was_begin = false;
    for token in Lexer::with(sql, strings) {
        if token.kind == Kind::Whitespace {
            continue;
        }
        if token.kind == Kind::Semicolon && atomic_depth == 0 {
            if let (true, Some(s)) = (has_code, start) {
                statements.push(sql.get(s..end).unwrap_or(""));
            }
            start = None;
            has_code = false;
            previous_was_begin = false;
            continue;
        }
        start.get_or_insert(token.start);
        end = token.start + token.text.len();
        if token.kind.is_trivia() {
            continue;
        }
        has_code = true;
        if token.kind == Kind::Word {
            if previous_was_begin && token.is_word("atomic") {
                atomic_depth += 1;
            } else if atomic_depth > 0 && token.is_word("case") {
                case_depth += 1;
            } else if atomic_depth > 0 && token.is_word("end") {
                if case_depth > 0 {
                    case_depth -= 1;
                } else {
                    atomic_depth -= 1;
                }
            }
            previous_was_begin = token.is_word("begin");
        } else {
            previous_was_begin = false;
        }
    }
    if let (true, Some(s)) = (has_code, start) {
        statements.push(sql.get(s..end).unwrap_or(""));
    }
    statements
}

#[cfg(test)]
mod tests {
    use super::{split_plain, split_statements};
    use crate::lexer::ConformingStrings;

    fn split_lexed(sql: &str) -> Vec<&str> {
        super::split_lexed(sql, ConformingStrings::On)
    }

    #[test]
    fn the_byte_scan_agrees_with_the_lexer_whenever_it_answers() {
        // Every string of up to four pieces from this alphabet, the fast path's corner cases
        // included: separators, whitespace of every kind, words, operators, comment openers.
        let pieces = [
            ";", " ", "\t", "\n", "\x0b", "\x0c", "\r", "select 1", "begin", "atomic", "end",
            "a-b", "a/b", "-", "/", "*", "'x'", "\"q\"", "$1", "ü",
        ];
        let mut answered = 0;
        let mut texts = vec![String::new()];
        for _ in 0..4 {
            texts = texts
                .iter()
                .flat_map(|text| pieces.iter().map(move |piece| format!("{text}{piece}")))
                .collect();
            for sql in &texts {
                if let Some(fast) = split_plain(sql) {
                    answered += 1;
                    assert_eq!(fast, split_lexed(sql), "{sql:?}");
                }
            }
        }
        assert!(answered > 1000, "{answered}");
    }

    #[test]
    fn the_byte_scan_leaves_quotes_comments_and_atomic_bodies_to_the_lexer() {
        for sql in [
            "select ';'",
            "select 1 -- ;",
            "select 1 /* ; */",
            "select $$;$$",
            "select \";\"",
            "begin atomic select 1; end",
        ] {
            assert_eq!(split_plain(sql), None, "{sql:?}");
        }
        assert_eq!(
            split_plain("SELECT abalance FROM t WHERE aid = 7;"),
            Some(vec!["SELECT abalance FROM t WHERE aid = 7"])
        );
        assert_eq!(
            split_plain("select 1 - -2; select 4/2"),
            Some(vec!["select 1 - -2", "select 4/2"])
        );
    }

    #[test]
    fn semicolons_inside_literals_and_comments_do_not_split() {
        let sql = "select ';', $$;$$, E'\\';', \";\" -- ;\n; /* ; */ select 2";
        assert_eq!(
            split_statements(sql),
            vec!["select ';', $$;$$, E'\\';', \";\" -- ;", "/* ; */ select 2"]
        );
    }

    #[test]
    fn empty_and_comment_only_statements_are_omitted() {
        assert!(split_statements("").is_empty());
        assert!(split_statements(" ; ;\n-- nothing\n; /* x */").is_empty());
        assert_eq!(split_statements(";;select 1;;"), vec!["select 1"]);
    }

    #[test]
    fn begin_atomic_bodies_are_one_statement() {
        let sql = "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC \
                   SELECT CASE WHEN true THEN 1 ELSE 2 END; SELECT 3; END; SELECT 4";
        let parts = split_statements(sql);
        assert_eq!(parts.len(), 2, "{parts:?}");
        assert!(parts[0].ends_with("END"));
        assert_eq!(parts[1], "SELECT 4");
    }

    #[test]
    fn plain_begin_and_end_still_split() {
        assert_eq!(
            split_statements("BEGIN; UPDATE t SET a = 1; END;"),
            vec!["BEGIN", "UPDATE t SET a = 1", "END"]
        );
    }

    #[test]
    fn unterminated_quote_swallows_the_rest() {
        assert_eq!(
            split_statements("select 'a; select 2"),
            vec!["select 'a; select 2"]
        );
    }
}
