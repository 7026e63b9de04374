//! Redaction: no literal of the workload survives, while every value keeps its type and size so
//! that the server plans a replayed statement as it planned the original.
//!
//! What is rewritten, message by message:
//!
//! * `Query` and `Parse` texts: every constant the fingerprint lexer finds
//!   ([`pgscope_fingerprint::literals_with`], under the session's
//!   `standard_conforming_strings`) and every comment. Numbers keep their length and form (digits
//!   become other digits, a non-zero leading digit stays non-zero, `.`, `e`, `x`, `_` stay);
//!   strings keep their prefix, quotes, escapes and byte length (letters become letters of the
//!   same case, digits digits, everything else stays: `'2024-01-31'` stays date-shaped, `'a@b.c'`
//!   mail-shaped); `B''` strings stay bits and `X''` strings hex. `TRUE`, `FALSE` and `NULL` stay.
//! * `Bind` and `FunctionCall` parameter values: text-format values as strings above, binary
//!   values byte by byte (same length), `NULL`s stay `NULL`; formats, names and counts stay.
//! * `CopyData` and `CopyFail` bodies: as text (delimiters, newlines and `\N` stay).
//!
//! The same value maps to the same replacement throughout one capture, so equalities, joins and
//! uniqueness mostly survive. The replacement is drawn from HMAC-SHA-256 of the value under a
//! 256-bit key from the operating system's random source, made for each capture and never
//! written: without the key, a replacement says nothing of the value (guessing candidate
//! values, or the key, is hopeless), and a capture's replacements say nothing of another's. A
//! message that does not parse is rewritten as text whole.
//!
//! What it costs (the README says it too): values lose their distribution (a `LIKE 'abc%'` or a
//! range predicate selects other rows, so plans that depend on selectivity can differ), values
//! that must be valid for their type may not be (a date such as `'2024-02-30'`, a checksum, a
//! UUID's version nibble, JSON keys are rewritten too, binary `numeric`, arrays and binary COPY
//! become garbage of the right length and are rejected by the server), dollar-quoted bodies (`DO`
//! blocks, function definitions) no longer compile, and generated keys can collide with existing
//! rows. Statements that fail on replay because of redaction are reported as replay-only
//! errors.

use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use pgscope_fingerprint::{literals_with, ConformingStrings, LiteralKind};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Rewrites message bodies (see the module documentation). One per capture: its key decides
/// the replacements.
#[derive(Clone)]
pub struct Redactor {
    key: HmacSha256,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redactor { key: <secret> }")
    }
}

/// The pseudo-random bytes a literal's replacement is drawn from: HMAC-SHA-256 of the value
/// under the capture's key gives a 32-byte pseudo-random key for this value, expanded in
/// counter mode (HMAC of the counter under it, as HKDF-Expand does) for values longer than
/// one block.
struct Stream {
    prk: HmacSha256,
    block: [u8; 32],
    used: usize,
    counter: u64,
}

impl Stream {
    fn new(prk: [u8; 32]) -> Self {
        Stream {
            prk: <HmacSha256 as KeyInit>::new_from_slice(&prk).expect("HMAC takes any key length"),
            block: prk,
            used: 0,
            counter: 0,
        }
    }

    fn byte(&mut self) -> u8 {
        if self.used == self.block.len() {
            self.counter += 1;
            let mut mac = self.prk.clone();
            mac.update(&self.counter.to_be_bytes());
            self.block = mac.finalize().into_bytes().into();
            self.used = 0;
        }
        self.used += 1;
        self.block[self.used - 1]
    }

    fn next(&mut self) -> u64 {
        u64::from_be_bytes(std::array::from_fn(|_| self.byte()))
    }

    fn below(&mut self, n: u8) -> u8 {
        // Two bytes per draw: the modulo bias is below 1/256 for n <= 26.
        (u16::from_be_bytes([self.byte(), self.byte()]) % u16::from(n)) as u8
    }
}

/// How the characters of one literal are rewritten.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Alphabet {
    /// Letters, digits and non-ASCII bytes are rewritten; backslash escapes kept.
    Text,
    /// Digits only.
    Number,
    /// `0`/`1` only.
    Bits,
    /// Hex digits only.
    Hex,
}

impl Redactor {
    /// A redactor with a fresh random key from the operating system; an error if it has no
    /// random source to give (redaction is then impossible).
    pub fn new() -> Result<Self, crate::Error> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| crate::Error::NoRandomKey(e.to_string()))?;
        Ok(Redactor {
            key: <HmacSha256 as KeyInit>::new_from_slice(&key).expect("HMAC takes any key length"),
        })
    }

    fn stream(&self, value: &[u8]) -> Stream {
        let mut mac = self.key.clone();
        mac.update(value);
        Stream::new(mac.finalize().into_bytes().into())
    }

    /// The body of a frontend message of type `tag`, redacted; `strings` is the session's
    /// `standard_conforming_strings`.
    pub fn message(&self, tag: u8, body: &Bytes, strings: ConformingStrings) -> Bytes {
        let redacted = match tag {
            b'Q' => self.cstr_sql(body, 0, strings),
            b'P' => body
                .iter()
                .position(|&b| b == 0)
                .and_then(|end| self.cstr_sql(body, end + 1, strings)),
            b'B' => self.bind(body),
            b'F' => self.function_call(body),
            b'd' | b'f' => Some(self.text(body, Alphabet::Text)),
            _ => return body.clone(),
        };
        Bytes::from(redacted.unwrap_or_else(|| self.text(body, Alphabet::Text)))
    }

    /// `body` with the NUL-terminated SQL text starting at `at` redacted.
    fn cstr_sql(&self, body: &[u8], at: usize, strings: ConformingStrings) -> Option<Vec<u8>> {
        let len = body.get(at..)?.iter().position(|&b| b == 0)?;
        let sql = std::str::from_utf8(&body[at..at + len]).ok()?;
        let redacted = self.sql(sql, strings);
        if redacted.len() != len {
            return None;
        }
        let mut out = body.to_vec();
        out[at..at + len].copy_from_slice(redacted.as_bytes());
        Some(out)
    }

    /// `sql` with its constants and comments rewritten (same byte length).
    pub fn sql(&self, sql: &str, strings: ConformingStrings) -> String {
        let mut out = sql.as_bytes().to_vec();
        for literal in literals_with(sql, strings) {
            let range = literal.range;
            let text = &sql.as_bytes()[range.clone()];
            let replaced = match literal.kind {
                LiteralKind::Number => self.text(text, Alphabet::Number),
                LiteralKind::Comment => self.comment(text),
                LiteralKind::String => self.string(text),
            };
            out[range].copy_from_slice(&replaced);
        }
        // Only ASCII is replaced by ASCII and whole UTF-8 sequences by ASCII letters, so `out`
        // is UTF-8; should it not be, every non-ASCII byte becomes `x`, keeping the length.
        String::from_utf8(out).unwrap_or_else(|e| {
            e.into_bytes()
                .into_iter()
                .map(|b| if b.is_ascii() { char::from(b) } else { 'x' })
                .collect()
        })
    }

    fn comment(&self, text: &[u8]) -> Vec<u8> {
        let (open, close) = if text.starts_with(b"--") {
            (2, 0)
        } else {
            (
                2,
                if text.ends_with(b"*/") && text.len() >= 4 {
                    2
                } else {
                    0
                },
            )
        };
        let mut out = text.to_vec();
        let inner = open..text.len() - close;
        out[inner.clone()].copy_from_slice(&self.text(&text[inner], Alphabet::Text));
        out
    }

    fn string(&self, text: &[u8]) -> Vec<u8> {
        if text.first() == Some(&b'$') {
            // $tag$body$tag$
            let tag_end = text[1..]
                .iter()
                .position(|&b| b == b'$')
                .map_or(text.len(), |p| p + 2);
            let tag_len = tag_end;
            let mut out = text.to_vec();
            if text.len() >= 2 * tag_len {
                let inner = tag_len..text.len() - tag_len;
                out[inner.clone()].copy_from_slice(&self.text(&text[inner], Alphabet::Text));
            } else if text.len() > tag_len {
                let inner = tag_len..text.len();
                out[inner.clone()].copy_from_slice(&self.text(&text[inner], Alphabet::Text));
            }
            return out;
        }
        let quote = text.iter().position(|&b| b == b'\'').unwrap_or(0);
        let alphabet = match text.first().map(u8::to_ascii_uppercase) {
            Some(b'B') if quote == 1 => Alphabet::Bits,
            Some(b'X') if quote == 1 => Alphabet::Hex,
            _ => Alphabet::Text,
        };
        let mut out = text.to_vec();
        let inner = (quote + 1).min(text.len())..text.len();
        out[inner.clone()].copy_from_slice(&self.text(&text[inner], alphabet));
        out
    }

    /// Rewrites letters, digits and non-ASCII bytes of `value` per `alphabet`, keeping every
    /// other byte and the byte after a backslash (escapes, COPY's `\N`).
    fn text(&self, value: &[u8], alphabet: Alphabet) -> Vec<u8> {
        let mut stream = self.stream(value);
        let mut out = Vec::with_capacity(value.len());
        let mut escaped = false;
        let mut previous_digit = false;
        for &b in value {
            // The byte after a backslash is kept only when it is ASCII: keeping the first byte
            // of a UTF-8 sequence while its continuation bytes are rewritten would make the
            // text invalid UTF-8 (and leak part of the character).
            if escaped && b.is_ascii() {
                out.push(b);
                escaped = false;
                previous_digit = false;
                continue;
            }
            let replaced = match (alphabet, b) {
                (_, b'\\') if alphabet == Alphabet::Text => {
                    escaped = true;
                    b
                }
                (Alphabet::Bits, b'0' | b'1') => b'0' + stream.below(2),
                (Alphabet::Hex, b'0'..=b'9' | b'a'..=b'f' | b'A'..=b'F') => {
                    b"0123456789abcdef"[usize::from(stream.below(16))]
                }
                (Alphabet::Text | Alphabet::Number, b'0'..=b'9') => {
                    if previous_digit || b == b'0' {
                        b'0' + stream.below(10)
                    } else {
                        b'1' + stream.below(9)
                    }
                }
                (Alphabet::Text, b'a'..=b'z') => b'a' + stream.below(26),
                (Alphabet::Text, b'A'..=b'Z') => b'A' + stream.below(26),
                (Alphabet::Text, 0x80..=0xFF) => b'a' + stream.below(26),
                _ => b,
            };
            previous_digit = b.is_ascii_digit();
            out.push(replaced);
        }
        out
    }

    fn binary(&self, value: &[u8]) -> Vec<u8> {
        let mut stream = self.stream(value);
        value.iter().map(|_| stream.next() as u8).collect()
    }

    /// Redacts the values of a `Bind` body; `None` if it does not parse.
    fn bind(&self, body: &[u8]) -> Option<Vec<u8>> {
        let mut at = body.iter().position(|&b| b == 0)? + 1;
        at += body.get(at..)?.iter().position(|&b| b == 0)? + 1;
        let mut out = body.to_vec();
        self.values(body, &mut out, at)?;
        Some(out)
    }

    /// Redacts the arguments of a `FunctionCall` body; `None` if it does not parse.
    fn function_call(&self, body: &[u8]) -> Option<Vec<u8>> {
        let mut out = body.to_vec();
        self.values(body, &mut out, 4)?;
        Some(out)
    }

    /// At `at`: formats (i16 count, i16 each), values (i16 count, then i32 length and bytes, -1
    /// for NULL); rewrites the values in `out`.
    fn values(&self, body: &[u8], out: &mut [u8], mut at: usize) -> Option<()> {
        let i16_at = |at: usize| -> Option<i16> {
            Some(i16::from_be_bytes(body.get(at..at + 2)?.try_into().ok()?))
        };
        let formats = usize::try_from(i16_at(at)?).ok()?;
        let formats_at = at + 2;
        let format_of = |i: usize| -> Option<i16> {
            match formats {
                0 => Some(0),
                1 => i16_at(formats_at),
                _ => i16_at(formats_at + 2 * i),
            }
        };
        let values_at = formats_at + 2 * formats;
        let count = usize::try_from(i16_at(values_at)?).ok()?;
        at = values_at + 2;
        for i in 0..count {
            let len = i32::from_be_bytes(body.get(at..at + 4)?.try_into().ok()?);
            at += 4;
            let Ok(len) = usize::try_from(len) else {
                continue; // NULL
            };
            let value = body.get(at..at + len)?;
            let replaced = match format_of(i)? {
                1 => self.binary(value),
                _ => self.text(value, Alphabet::Text),
            };
            out[at..at + len].copy_from_slice(&replaced);
            at += len;
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(sql: &str) -> Bytes {
        let mut b = sql.as_bytes().to_vec();
        b.push(0);
        Bytes::from(b)
    }

    #[test]
    fn query_literals_are_replaced_by_values_of_the_same_kind_and_length() {
        let r = Redactor::new().unwrap();
        // Values long enough that a random replacement equal to them is out of the question
        // (a 4-bit B'1010' came back as itself one run in 16).
        let sql = "SELECT * FROM users WHERE email = 'alice@example.com' AND id = 4821397 \
                   AND score > 1.52839e31 AND flags = B'10100111010011100101101001110010' \
                   AND h = X'DEADBEEFCAFE' /* secret */";
        let out = r.message(b'Q', &q(sql), ConformingStrings::On);
        let text = std::str::from_utf8(&out[..out.len() - 1]).unwrap();
        assert_eq!(text.len(), sql.len());
        for secret in [
            "alice",
            "example",
            "4821397",
            "1.52839e31",
            "10100111010011100101101001110010",
            "DEADBEEFCAFE",
            "secret",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(
            text.starts_with("SELECT * FROM users WHERE email = '"),
            "{text}"
        );
        // The shape survives: the same fingerprint, mail-shaped, numeric.
        assert_eq!(
            pgscope_fingerprint::fingerprint(sql).0,
            pgscope_fingerprint::fingerprint(text).0
        );
        let score = text.split("score > ").nth(1).unwrap().as_bytes();
        assert!(text.contains('@'), "{text}");
        assert!(
            score[0].is_ascii_digit() && score[1] == b'.' && score[7] == b'e',
            "{text}"
        );
    }

    #[test]
    fn the_same_value_gets_the_same_replacement_within_a_capture() {
        let r = Redactor::new().unwrap();
        let a = r.sql("SELECT 'bob', 'bob', 'eve'", ConformingStrings::On);
        let parts: Vec<&str> = a.split(", ").collect();
        assert_eq!(parts[0].trim_start_matches("SELECT "), parts[1]);
        assert_ne!(parts[1], parts[2]);
    }

    #[test]
    fn escapes_and_backslash_strings_never_leak_under_any_setting() {
        let r = Redactor::new().unwrap();
        for strings in [
            ConformingStrings::On,
            ConformingStrings::Off,
            ConformingStrings::Unknown,
        ] {
            let sql = r"SELECT E'it\'s hidden', 'plain\' tail secret'";
            let out = r.sql(sql, strings);
            assert!(
                !out.contains("hidden") && !out.contains("secret"),
                "{strings:?}: {out}"
            );
            assert_eq!(out.len(), sql.len());
        }
    }

    #[test]
    fn a_backslash_before_a_non_ascii_character_keeps_the_text_valid_and_its_length() {
        let redactor = Redactor::new().unwrap();
        for strings in [
            ConformingStrings::On,
            ConformingStrings::Off,
            ConformingStrings::Unknown,
        ] {
            for sql in ["SELECT '\\é'", "SELECT E'\\é\\ß'", "SELECT '\\€' -- \\é"] {
                // The redacted text itself, before any guard: the same length and valid UTF-8.
                let text = redactor.text(sql.as_bytes(), Alphabet::Text);
                assert_eq!(text.len(), sql.len());
                assert!(std::str::from_utf8(&text).is_ok(), "{text:?}");
                let redacted = redactor.sql(sql, strings);
                assert_eq!(redacted.len(), sql.len(), "{sql:?} under {strings:?}");
                assert!(!redacted.contains(['é', 'ß', '€']), "{redacted:?}");
                let body = redactor.message(b'Q', &q(sql), strings);
                assert_eq!(body.len(), sql.len() + 1);
            }
        }
    }

    #[test]
    fn parse_keeps_its_name_and_parameter_types() {
        let r = Redactor::new().unwrap();
        let mut body = b"stmt1\0SELECT 'x' || $1\0".to_vec();
        body.extend_from_slice(&[0, 1, 0, 0, 0, 25]);
        let out = r.message(b'P', &Bytes::from(body.clone()), ConformingStrings::On);
        assert_eq!(&out[..6], b"stmt1\0");
        assert_eq!(&out[out.len() - 6..], &body[body.len() - 6..]);
        assert!(std::str::from_utf8(&out[6..]).unwrap().contains("|| $1"));
    }

    #[test]
    fn bind_values_keep_format_length_and_nulls() {
        let r = Redactor::new().unwrap();
        let mut body = b"\0s\0".to_vec();
        body.extend_from_slice(&[0, 2, 0, 0, 0, 1]); // formats: text, binary
        body.extend_from_slice(&[0, 3]); // three values
        body.extend_from_slice(&5i32.to_be_bytes());
        body.extend_from_slice(b"12345");
        body.extend_from_slice(&4i32.to_be_bytes());
        body.extend_from_slice(&[0, 0, 0x30, 0x39]);
        body.extend_from_slice(&(-1i32).to_be_bytes());
        body.extend_from_slice(&[0, 0]);
        let out = r.message(b'B', &Bytes::from(body.clone()), ConformingStrings::On);
        assert_eq!(out.len(), body.len());
        assert_eq!(&out[..15], &body[..15]);
        let text = &out[15..20];
        assert!(
            text.iter().all(u8::is_ascii_digit) && text != b"12345",
            "{text:?}"
        );
        assert_eq!(&out[20..24], &body[20..24]);
        assert_ne!(&out[24..28], &body[24..28]);
        assert_eq!(&out[28..], &body[28..]);
    }

    #[test]
    fn copy_data_keeps_delimiters_and_null_markers() {
        let r = Redactor::new().unwrap();
        let out = r.message(
            b'd',
            &Bytes::from_static(b"42\tsecret\t\\N\n"),
            ConformingStrings::On,
        );
        assert_eq!(out.len(), 13);
        assert_eq!(out[2], b'\t');
        assert_eq!(&out[9..], b"\t\\N\n");
        assert!(!out.windows(6).any(|w| w == b"secret"));
    }

    #[test]
    fn malformed_messages_are_rewritten_whole() {
        let r = Redactor::new().unwrap();
        let out = r.message(
            b'B',
            &Bytes::from_static(b"no-nul secret"),
            ConformingStrings::On,
        );
        assert_eq!(out.len(), 13);
        assert!(!out.windows(6).any(|w| w == b"secret"));
    }
}
