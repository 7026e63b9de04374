//! sqlcommenter: `key='value'` pairs that ORMs and tracing libraries put in a `/* … */`
//! comment (`/*traceparent='00-…-01',route='%2Fusers'*/`). Values are URL-encoded and a `'`
//! inside them is escaped as `\'`. Some writers leave plain values unquoted — OpenTelemetry's
//! Python DB-API instrumentation writes `dbapi_threadsafety=2,libpq_version=180006,
//! traceparent='00-…'` — so a value without quotes is read up to the next `,`. The comment
//! never affects the fingerprint (comments are dropped by normalization); this module reads it
//! per query.

use crate::lexer::{ConformingStrings, Kind, Lexer};

/// The sqlcommenter key/value pairs in `sql`'s block comments, URL-decoded, in the order they
/// appear. A comment that is not entirely a sqlcommenter list contributes nothing. Returns an
/// empty vector at once when `sql` has no `/*`.
///
/// ```
/// let sql = "SELECT 1 /*route='%2Fusers%2F%3Aid',traceparent='00-0af7-b7ad-01'*/";
/// assert_eq!(
///     pgscope_fingerprint::sqlcommenter(sql),
///     vec![
///         ("route".to_string(), "/users/:id".to_string()),
///         ("traceparent".to_string(), "00-0af7-b7ad-01".to_string()),
///     ]
/// );
/// ```
pub fn sqlcommenter(sql: &str) -> Vec<(String, String)> {
    sqlcommenter_with(sql, ConformingStrings::On)
}

/// [`sqlcommenter`] for a connection whose `standard_conforming_strings` is `strings`, so that a
/// `/* … */` inside a string literal is never read as a comment.
pub fn sqlcommenter_with(sql: &str, strings: ConformingStrings) -> Vec<(String, String)> {
    if !sql.contains("/*") {
        return Vec::new();
    }
    let mut pairs = Vec::new();
    for token in Lexer::with(sql, strings).filter(|t| t.kind == Kind::BlockComment) {
        let body = token
            .text
            .strip_prefix("/*")
            .and_then(|b| b.strip_suffix("*/"));
        if let Some(found) = body.and_then(parse_pairs) {
            pairs.extend(found);
        }
    }
    pairs
}

/// Parses `key='value',key2='value2'` (surrounding spaces allowed; a value may also be a bare
/// word without spaces or quotes, `key2=2`); `None` if malformed.
fn parse_pairs(body: &str) -> Option<Vec<(String, String)>> {
    let body = body.trim();
    if body.is_empty() {
        return None;
    }
    let mut pairs = Vec::new();
    let mut rest = body;
    loop {
        let (key, after_key) = rest.split_once('=')?;
        let key = key.trim();
        if key.is_empty() || key.contains(|c: char| c.is_whitespace() || c == '\'' || c == ',') {
            return None;
        }
        let value = after_key.trim_start();
        let (raw, after_value) = match value.strip_prefix('\'') {
            Some(quoted) => split_quoted(quoted)?,
            None => split_bare(value)?,
        };
        pairs.push((url_decode(key), url_decode(&raw)));
        let after_value = after_value.trim_start();
        if after_value.is_empty() {
            return Some(pairs);
        }
        rest = after_value.strip_prefix(',')?;
    }
}

/// Splits `value'rest` at the closing quote, unescaping `\'`.
fn split_quoted(text: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, escaped)) = chars.next() {
                    value.push(escaped);
                }
            }
            '\'' => return Some((value, text.get(i + 1..).unwrap_or(""))),
            _ => value.push(c),
        }
    }
    None
}

/// Splits an unquoted `value,rest` (or `value` at the end) at the comma; `None` when the
/// value is empty or holds a space or a quote, which no sqlcommenter writer produces.
fn split_bare(text: &str) -> Option<(String, &str)> {
    let end = text.find(',').unwrap_or(text.len());
    let (value, rest) = text.split_at(end);
    let value = value.trim_end();
    let plain = !value.is_empty() && !value.contains(|c: char| c.is_whitespace() || c == '\'');
    plain.then(|| (value.to_owned(), rest))
}

/// Decodes `%XX` escapes; malformed escapes are kept as written, invalid UTF-8 is replaced.
fn url_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn typical_rails_comment_is_read() {
        let sql = "SELECT * FROM users /*action='show',application='shop',controller='users',\
                   framework='rails%3Av7.1',traceparent='00-5bd66ef5095369c7b0d1f8f4bd33716a-c532cb4098ac3dd2-01'*/";
        assert_eq!(
            sqlcommenter(sql),
            pairs(&[
                ("action", "show"),
                ("application", "shop"),
                ("controller", "users"),
                ("framework", "rails:v7.1"),
                (
                    "traceparent",
                    "00-5bd66ef5095369c7b0d1f8f4bd33716a-c532cb4098ac3dd2-01"
                ),
            ])
        );
    }

    #[test]
    fn escaped_quotes_and_spaces_are_handled() {
        assert_eq!(
            sqlcommenter(r"select 1 /* a = 'it\'s' , b='x%20y' */"),
            pairs(&[("a", "it's"), ("b", "x y")])
        );
    }

    #[test]
    fn ordinary_comments_and_quoted_lookalikes_are_ignored() {
        assert!(sqlcommenter("select 1 /* just a note */").is_empty());
        assert!(sqlcommenter("select '/*a=''b''*/'").is_empty());
        assert!(sqlcommenter("select 1 -- a='b'").is_empty());
        assert!(sqlcommenter("select 1 /*a='b',*/").is_empty());
        assert!(sqlcommenter("select 1 /*a='unterminated*/").is_empty());
    }

    #[test]
    fn unquoted_values_as_the_python_instrumentation_writes_them_are_read() {
        let sql = "SELECT 1 /*db_driver='psycopg%3A3.2.3',dbapi_level='2.0',\
                   dbapi_threadsafety=2,libpq_version=180006,\
                   traceparent='00-5bd66ef5095369c7b0d1f8f4bd33716a-c532cb4098ac3dd2-01'*/";
        assert_eq!(
            sqlcommenter(sql),
            pairs(&[
                ("db_driver", "psycopg:3.2.3"),
                ("dbapi_level", "2.0"),
                ("dbapi_threadsafety", "2"),
                ("libpq_version", "180006"),
                (
                    "traceparent",
                    "00-5bd66ef5095369c7b0d1f8f4bd33716a-c532cb4098ac3dd2-01"
                ),
            ])
        );
        assert_eq!(
            sqlcommenter("select 1 /* a = 1 , b='x' */"),
            pairs(&[("a", "1"), ("b", "x")])
        );
        // Prose is still not a list: a bare value ends at a comma and holds no spaces.
        assert!(sqlcommenter("select 1 /* a = b c */").is_empty());
        assert!(sqlcommenter("select 1 /* a=,b='x' */").is_empty());
        assert!(sqlcommenter("select 1 /* a=b' */").is_empty());
    }

    #[test]
    fn malformed_percent_escapes_are_kept() {
        assert_eq!(url_decode("100%"), "100%");
        assert_eq!(url_decode("%zz%41"), "%zzA");
        assert_eq!(url_decode("%C3%A9"), "é");
    }
}
