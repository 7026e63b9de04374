//! Keyword sets the normalizer consults. All lists are lower case and sorted (binary search).

/// PostgreSQL's reserved keywords plus the "type/function name" ones: as identifiers they need
/// quotes, so `"user"` keeps its quotes while `"users"` loses them.
const RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "binary",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "group",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "intersect",
    "into",
    "is",
    "isnull",
    "join",
    "lateral",
    "leading",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "natural",
    "not",
    "notnull",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "outer",
    "overlaps",
    "placing",
    "primary",
    "references",
    "returning",
    "right",
    "select",
    "session_user",
    "similar",
    "some",
    "symmetric",
    "system_user",
    "table",
    "tablesample",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
];

/// Words after which an expression starts, so a following `-` is unary (`LIMIT -1`, `THEN -2`)
/// rather than binary (`price -1`).
const EXPRESSION_START: &[&str] = &[
    "all",
    "and",
    "any",
    "between",
    "by",
    "case",
    "distinct",
    "else",
    "escape",
    "having",
    "ilike",
    "like",
    "limit",
    "not",
    "offset",
    "on",
    "or",
    "return",
    "returning",
    "select",
    "similar",
    "some",
    "then",
    "using",
    "when",
    "where",
    "with",
];

/// Words that open a clause rather than call a function: the normalizer writes a space between
/// them and a following `(` (`IN (`, `VALUES (`, `AS (`), and none after other words (`count(`).
const CLAUSE: &[&str] = &[
    "and",
    "as",
    "between",
    "by",
    "case",
    "check",
    "conflict",
    "distinct",
    "do",
    "else",
    "except",
    "exists",
    "filter",
    "from",
    "group",
    "having",
    "ilike",
    "in",
    "include",
    "intersect",
    "into",
    "is",
    "join",
    "key",
    "lateral",
    "like",
    "materialized",
    "not",
    "on",
    "or",
    "over",
    "partition",
    "recursive",
    "returning",
    "select",
    "set",
    "similar",
    "then",
    "union",
    "unique",
    "using",
    "values",
    "when",
    "where",
    "window",
    "with",
];

fn find(list: &[&str], word: &[u8]) -> bool {
    list.binary_search_by(|k| k.as_bytes().cmp(word)).is_ok()
}

/// Whether a (lower-case) word is reserved and needs quotes to be an identifier.
pub(crate) fn is_reserved(word: &[u8]) -> bool {
    find(RESERVED, word)
}

/// Whether a (lower-case) word starts an expression (makes a following `-` unary).
pub(crate) fn starts_expression(word: &[u8]) -> bool {
    find(EXPRESSION_START, word)
}

/// Whether a (lower-case) word opens a clause rather than naming a function.
pub(crate) fn is_clause(word: &[u8]) -> bool {
    find(CLAUSE, word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyword_lists_are_sorted_and_lower_case() {
        for list in [RESERVED, EXPRESSION_START, CLAUSE] {
            assert!(list.windows(2).all(|w| w[0] < w[1]), "{list:?}");
            assert!(list.iter().all(|w| *w == w.to_ascii_lowercase()));
        }
    }

    #[test]
    fn reserved_words_are_found() {
        assert!(is_reserved(b"user"));
        assert!(is_reserved(b"select"));
        assert!(!is_reserved(b"users"));
    }
}
