//! Query-string parameters of the JSON API, parsed strictly: an unknown parameter, a repeated
//! one or a malformed value is a 400 naming it, never silently ignored.

use std::collections::BTreeMap;

use pgscope_exporters::view::{Filter, Query, SortKey, Span};
use pgscope_exporters::WindowConfig;

/// Most rows a list may ask for.
pub const MAX_LIMIT: usize = 100_000;

/// A 400's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRequest(pub String);

/// Decodes `%XX` escapes and `+` (as space), as an HTML form's query string is written; a
/// `%` not followed by two hex digits, or bytes that are not UTF-8 once decoded, are errors.
pub fn percent_decode(text: &str) -> Result<String, BadRequest> {
    let malformed = text.split('%').skip(1).any(|after| {
        !after
            .as_bytes()
            .get(..2)
            .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    if malformed {
        return Err(BadRequest(format!("malformed percent-escape in {text:?}")));
    }
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|_| BadRequest(format!("{text:?} is not UTF-8 once decoded")))
}

/// The parameters of one request, checked against the names `allowed`.
#[derive(Debug, Default)]
pub struct Params {
    values: BTreeMap<String, String>,
}

impl Params {
    /// Parses `query` (the part after `?`), accepting only `allowed` names, each at most once.
    pub fn parse(query: Option<&str>, allowed: &[&str]) -> Result<Params, BadRequest> {
        let mut values = BTreeMap::new();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = percent_decode(name)?;
            if !allowed.contains(&name.as_str()) {
                return Err(BadRequest(format!(
                    "unknown parameter {name:?}; this endpoint takes: {}",
                    allowed.join(", ")
                )));
            }
            let value = percent_decode(value)?;
            if values.insert(name.clone(), value).is_some() {
                return Err(BadRequest(format!("parameter {name:?} given twice")));
            }
        }
        Ok(Params { values })
    }

    /// A parameter's value, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// The `database`, `user` and `application` filter.
    pub fn filter(&self) -> Filter {
        Filter {
            database: self.get("database").map(str::to_owned),
            user: self.get("user").map(str::to_owned),
            application: self.get("application").map(str::to_owned),
        }
    }

    /// The `window` span (`5m`, `1h`, `90s`); cumulative when absent or `all`.
    pub fn span(&self, windows: &WindowConfig) -> Result<Span, BadRequest> {
        match self.get("window") {
            None | Some("all") | Some("") => Ok(Span::Cumulative),
            Some(text) => {
                let duration = humantime::parse_duration(text).map_err(|_| {
                    BadRequest(format!(
                        "bad window {text:?}: expected a duration like 5m, 1h or 90s, or \"all\""
                    ))
                })?;
                let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
                Span::last(ms, windows).map_err(|e| BadRequest(format!("bad window {text:?}: {e}")))
            }
        }
    }

    /// The `sort` key (default total time).
    pub fn sort(&self) -> Result<SortKey, BadRequest> {
        self.get("sort")
            .map_or(Ok(SortKey::TotalTime), SortKey::parse)
            .map_err(|e| BadRequest(e.to_string()))
    }

    /// The `limit` (default `default`, 1 to [`MAX_LIMIT`]).
    pub fn limit(&self, default: usize) -> Result<usize, BadRequest> {
        match self.get("limit") {
            None => Ok(default),
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    BadRequest(format!(
                        "bad limit {text:?}: expected a whole number from 1 to {MAX_LIMIT}"
                    ))
                }),
        }
    }

    /// The full list query.
    pub fn query(&self, windows: &WindowConfig, default_limit: usize) -> Result<Query, BadRequest> {
        Ok(Query {
            sort: self.sort()?,
            limit: self.limit(default_limit)?,
            filter: self.filter(),
            span: self.span(windows)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plus_is_a_space_and_an_escaped_plus_is_a_plus() {
        assert_eq!(percent_decode("a+b%2Bc%C3%A9").unwrap(), "a b+cé");
    }

    #[test]
    fn malformed_escapes_and_non_utf8_are_errors() {
        for text in ["%zz", "100%", "%4", "%%41", "%+1"] {
            assert!(percent_decode(text).is_err(), "{text}");
        }
        assert!(percent_decode("%FF").unwrap_err().0.contains("UTF-8"));
    }
}
