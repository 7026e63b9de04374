//! Text fields of messages (SQL, parameter values) as Rust strings.
//!
//! PostgreSQL sends text in the connection's client encoding, almost always UTF-8. pgscope only
//! reads such text to label and fingerprint it, so anything that is not UTF-8 is replaced
//! (U+FFFD) rather than refused — the bytes forwarded are never touched.

use std::borrow::Cow;

/// `bytes` as text: borrowed when it is valid UTF-8, else a copy with each invalid sequence
/// replaced by U+FFFD.
///
/// Same result as [`String::from_utf8_lossy`], faster on the valid text that nearly every
/// message carries: `from_utf8_lossy` walks the bytes one by one, `str::from_utf8` validates
/// ASCII a word at a time (≈ 400 of pgscope's instructions per `Parse` of a 60-byte query,
/// `benches/README.md`).
pub fn lossy(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::lossy;
    use std::borrow::Cow;

    #[test]
    fn valid_text_is_borrowed() {
        assert!(matches!(
            lossy("SELECT 'ä'".as_bytes()),
            Cow::Borrowed("SELECT 'ä'")
        ));
    }

    #[test]
    fn invalid_sequences_are_replaced_as_from_utf8_lossy_does() {
        for bytes in [&b"SELECT '\xff'"[..], b"\xc3", b"a\xe2\x82b", b""] {
            assert_eq!(lossy(bytes), String::from_utf8_lossy(bytes), "{bytes:?}");
        }
    }
}
