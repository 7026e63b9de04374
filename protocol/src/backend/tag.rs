//! Reading CommandComplete tags: the verb, and how many rows the command touched.

/// Verbs whose tag is `VERB rows`.
const COUNTING_VERBS: [&[u8]; 7] = [
    b"SELECT", b"UPDATE", b"DELETE", b"MERGE", b"COPY", b"FETCH", b"MOVE",
];

/// A CommandComplete tag read once: its verb and, for a counting verb, its row count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandTag<'a> {
    /// "INSERT 0 5" → "INSERT", "SELECT 5" → "SELECT", "CREATE TABLE" → "CREATE TABLE" (a tag
    /// without a row count is its own verb).
    pub verb: &'a [u8],
    /// "SELECT 5" → 5, "INSERT 0 5" → 5, "UPDATE 3", "DELETE 3", "MERGE 2", "COPY 10",
    /// "FETCH 4", "MOVE 4" → `Some`; "CREATE TABLE", "BEGIN" → `None`.
    pub rows: Option<u64>,
}

/// Reads `tag` (see [`CommandTag`]) in one pass.
pub fn command_tag(tag: &[u8]) -> CommandTag<'_> {
    let counted = split_verb(tag).and_then(|(verb, rest)| {
        let rows = if verb == b"INSERT" {
            // "INSERT oid rows": the oid is always 0 since PostgreSQL 12, but may be any number.
            let (oid, rows) = split_once(rest, b' ')?;
            parse_u64(oid)?;
            parse_u64(rows)
        } else if COUNTING_VERBS.contains(&verb) {
            parse_u64(rest)
        } else {
            None
        }?;
        Some((verb, rows))
    });
    match counted {
        Some((verb, rows)) => CommandTag {
            verb,
            rows: Some(rows),
        },
        None => CommandTag {
            verb: tag,
            rows: None,
        },
    }
}

fn split_verb(tag: &[u8]) -> Option<(&[u8], &[u8])> {
    split_once(tag, b' ')
}

fn split_once(s: &[u8], sep: u8) -> Option<(&[u8], &[u8])> {
    let pos = s.iter().position(|&b| b == sep)?;
    let (head, tail) = s.split_at(pos);
    Some((head, tail.get(1..).unwrap_or_default()))
}

/// A non-empty run of ASCII digits that fits in a u64.
fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &b| {
        let digit = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        acc.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

#[cfg(test)]
mod tests {
    use super::{command_tag, CommandTag};

    #[test]
    fn counting_tags_give_rows() {
        for (tag, rows) in [
            (&b"SELECT 5"[..], 5),
            (b"INSERT 0 5", 5),
            (b"UPDATE 3", 3),
            (b"DELETE 3", 3),
            (b"MERGE 2", 2),
            (b"COPY 10", 10),
            (b"FETCH 4", 4),
            (b"MOVE 4", 4),
            (b"SELECT 18446744073709551615", u64::MAX),
        ] {
            assert_eq!(command_tag(tag).rows, Some(rows), "{tag:?}");
        }
    }

    #[test]
    fn other_tags_give_no_rows() {
        for tag in [
            &b"CREATE TABLE"[..],
            b"BEGIN",
            b"SELECT",
            b"SELECT x",
            b"SELECT 18446744073709551616",
            b"INSERT 5",
            b"INSERT 0 ",
            b"CREATE TABLE 5",
            b"",
        ] {
            assert_eq!(command_tag(tag).rows, None, "{tag:?}");
        }
    }

    #[test]
    fn verb_drops_counts_only() {
        assert_eq!(command_tag(b"INSERT 0 5").verb, b"INSERT");
        assert_eq!(command_tag(b"SELECT 5").verb, b"SELECT");
        assert_eq!(command_tag(b"CREATE TABLE").verb, b"CREATE TABLE");
        assert_eq!(command_tag(b"BEGIN").verb, b"BEGIN");
        assert_eq!(command_tag(b"").verb, b"");
    }

    #[test]
    fn one_pass_gives_verb_and_rows_together() {
        assert_eq!(
            command_tag(b"INSERT 0 5"),
            CommandTag {
                verb: b"INSERT",
                rows: Some(5)
            }
        );
        assert_eq!(
            command_tag(b"CREATE TABLE 5"),
            CommandTag {
                verb: b"CREATE TABLE 5",
                rows: None
            }
        );
    }
}
