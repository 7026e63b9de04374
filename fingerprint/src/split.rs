//! Splitting a simple-Query string into statements, as the server does.

use crate::lexer::{Kind, Lexer};

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
pub fn split_statements(sql: &str) -> Vec<&str> {
    let mut statements = Vec::new();
    let mut start: Option<usize> = None;
    let mut end = 0;
    let mut has_code = false;
    let mut atomic_depth = 0u32;
    let mut case_depth = 0u32;
    let mut previous_was_begin = false;
    for token in Lexer::new(sql) {
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
    use super::split_statements;

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
