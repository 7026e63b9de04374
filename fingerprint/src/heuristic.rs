//! Tables of a statement sqlparser cannot parse (`CREATE INDEX CONCURRENTLY`, `VACUUM`, `COPY …
//! FROM STDIN`, vendor syntax), read from the token stream: names that follow `FROM`, `JOIN`,
//! `INTO`, `UPDATE`, `TABLE`, `TRUNCATE`, `LOCK`, `VACUUM`, `ANALYZE`, `COPY` and, in DDL, `ON`.
//! Best effort by design; it never fails.

use crate::lexer::{Kind, Lexer, Token};
use crate::operation::Operation;
use crate::shape::{display_ident, Shape};

/// Words that may stand between a marker and the name it introduces.
const SKIP: &[&str] = &[
    "analyze",
    "concurrently",
    "exists",
    "freeze",
    "full",
    "if",
    "not",
    "only",
    "table",
    "verbose",
];

/// Words that end a table list or are never table names.
const STOP: &[&str] = &[
    "cascade",
    "conflict",
    "cross",
    "default",
    "delete",
    "do",
    "except",
    "fetch",
    "for",
    "from",
    "full",
    "group",
    "having",
    "in",
    "inner",
    "intersect",
    "join",
    "lateral",
    "left",
    "limit",
    "natural",
    "nothing",
    "nowait",
    "of",
    "offset",
    "on",
    "order",
    "restrict",
    "returning",
    "right",
    "select",
    "set",
    "share",
    "skip",
    "stdin",
    "stdout",
    "tablesample",
    "to",
    "union",
    "using",
    "values",
    "where",
    "window",
    "with",
];

fn lower(token: &Token<'_>) -> String {
    token.text.to_ascii_lowercase()
}

fn is_stop(token: Option<&Token<'_>>) -> bool {
    token.is_none_or(|t| t.kind == Kind::Word && STOP.contains(&lower(t).as_str()))
}

fn name_part(token: &Token<'_>) -> Option<String> {
    match token.kind {
        Kind::Word => Some(display_ident(token.text, false)),
        Kind::QuotedIdent => {
            let inner = token.text.strip_prefix('"')?.strip_suffix('"')?;
            Some(display_ident(&inner.replace("\"\"", "\""), true))
        }
        _ => None,
    }
}

/// The shape of `sql` (one statement) from its tokens.
pub(crate) fn shape(sql: &str, operation: Operation) -> Shape {
    let tokens: Vec<Token<'_>> = Lexer::new(sql).filter(|t| !t.kind.is_trivia()).collect();
    let first = tokens.first().map(lower).unwrap_or_default();
    let ddl = matches!(first.as_str(), "create" | "drop" | "alter");
    let ctes = cte_names(&tokens);
    let mut shape = Shape::new(operation);
    let mut i = 0;
    while let Some(token) = tokens.get(i) {
        i += 1;
        if token.kind != Kind::Word {
            continue;
        }
        let word = lower(token);
        let previous = i.checked_sub(2).and_then(|p| tokens.get(p));
        let statement_start =
            previous.is_none_or(|p| matches!(p.kind, Kind::LParen | Kind::Semicolon));
        let (marker, list, call_allowed) = match word.as_str() {
            "from" | "vacuum" | "analyze" | "analyse" | "truncate" | "lock" => (true, true, false),
            "table" => (true, true, true),
            "join" => (true, false, false),
            "into" | "copy" => (true, false, true),
            "update" => (statement_start, false, true),
            "on" => (ddl, false, true),
            _ => (false, false, false),
        };
        if marker {
            if matches!(word.as_str(), "vacuum" | "analyze" | "analyse") {
                i = skip_group(&tokens, i);
            }
            i = read_names(&tokens, i, list, call_allowed, &ctes, &mut shape);
        }
    }
    shape
}

/// Skips a parenthesized option list (`VACUUM (VERBOSE, ANALYZE)`) starting at `i`, if any.
fn skip_group(tokens: &[Token<'_>], mut i: usize) -> usize {
    if tokens.get(i).map(|t| t.kind) != Some(Kind::LParen) {
        return i;
    }
    let mut depth = 0usize;
    while let Some(token) = tokens.get(i) {
        i += 1;
        match token.kind {
            Kind::LParen => depth += 1,
            Kind::RParen => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    break;
                }
            }
            _ => {}
        }
    }
    i
}

/// Reads the name list starting at `i`; returns the index after it.
fn read_names(
    tokens: &[Token<'_>],
    mut i: usize,
    list: bool,
    call_allowed: bool,
    ctes: &[String],
    shape: &mut Shape,
) -> usize {
    loop {
        while tokens
            .get(i)
            .is_some_and(|t| t.kind == Kind::Word && SKIP.contains(&lower(t).as_str()))
        {
            i += 1;
        }
        if is_stop(tokens.get(i)) {
            return i;
        }
        let mut parts = Vec::new();
        while let Some(part) = tokens.get(i).and_then(name_part) {
            parts.push(part);
            i += 1;
            if tokens.get(i).map(|t| t.kind) != Some(Kind::Dot) {
                break;
            }
            i += 1;
        }
        let is_call = tokens.get(i).map(|t| t.kind) == Some(Kind::LParen) && !call_allowed;
        let is_cte = parts.len() == 1 && parts.first().is_some_and(|p| ctes.contains(p));
        if !parts.is_empty() && !is_call && !is_cte {
            shape.table(parts.join("."));
        }
        if !list || parts.is_empty() {
            return i;
        }
        // Optional alias, then a comma continues the list.
        if tokens.get(i).is_some_and(|t| t.is_word("as")) {
            i += 1;
        }
        if tokens.get(i).is_some_and(|t| t.kind == Kind::Word) && !is_stop(tokens.get(i)) {
            i += 1;
        }
        if tokens.get(i).map(|t| t.kind) != Some(Kind::Comma) {
            return i;
        }
        i += 1;
    }
}

/// Names defined by `name AS (` or `name AS [NOT] MATERIALIZED (` (common table expressions).
fn cte_names(tokens: &[Token<'_>]) -> Vec<String> {
    let mut names = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        if !token.is_word("as") {
            continue;
        }
        let mut j = i + 1;
        while tokens
            .get(j)
            .is_some_and(|t| t.is_word("not") || t.is_word("materialized"))
        {
            j += 1;
        }
        if tokens.get(j).map(|t| t.kind) != Some(Kind::LParen) {
            continue;
        }
        // `name (cols) AS (`: step back over the column list.
        let mut k = i.checked_sub(1);
        if k.and_then(|k| tokens.get(k)).map(|t| t.kind) == Some(Kind::RParen) {
            while let Some(kk) = k {
                if tokens.get(kk).map(|t| t.kind) == Some(Kind::LParen) {
                    break;
                }
                k = kk.checked_sub(1);
            }
            k = k.and_then(|kk| kk.checked_sub(1));
        }
        if let Some(name) = k.and_then(|k| tokens.get(k)).and_then(name_part) {
            names.push(name);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operation::detect;

    fn tables(sql: &str) -> Vec<String> {
        shape(sql, detect(sql)).tables
    }

    #[test]
    fn utility_statements_name_their_tables() {
        assert_eq!(
            tables("CREATE INDEX CONCURRENTLY idx ON public.t (a)"),
            vec!["public.t"]
        );
        assert_eq!(tables("VACUUM (VERBOSE, ANALYZE) t1, t2"), vec!["t1", "t2"]);
        assert_eq!(
            tables("COPY t (a, b) FROM STDIN WITH (FORMAT csv)"),
            vec!["t"]
        );
        assert_eq!(
            tables("LOCK TABLE ONLY a IN ACCESS EXCLUSIVE MODE"),
            vec!["a"]
        );
    }

    #[test]
    fn queries_with_unusual_syntax() {
        assert_eq!(
            tables(
                "SELECT * FROM jobs j, LATERAL unnest(j.tags) WHERE id = 1 FOR UPDATE SKIP LOCKED"
            ),
            vec!["jobs"]
        );
        assert_eq!(
            tables("INSERT INTO t (a) VALUES (1) ON CONFLICT (a) DO UPDATE SET a = excluded.a"),
            vec!["t"]
        );
        assert_eq!(
            tables("UPDATE \"Accounts\" SET x = 1"),
            vec!["\"Accounts\""]
        );
    }

    #[test]
    fn ctes_and_functions_are_not_tables() {
        assert_eq!(
            tables("WITH x (a) AS (SELECT a FROM src), y AS MATERIALIZED (SELECT 1) SELECT * FROM x, y, generate_series(1, 2)"),
            vec!["src"]
        );
    }
}
