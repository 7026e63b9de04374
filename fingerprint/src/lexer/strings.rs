//! Plain `'…'` strings and `standard_conforming_strings`.
//!
//! The server reads a backslash inside `'…'` (and `N'…'`) as an escape only while
//! `standard_conforming_strings` is `off`; `E'…'` always escapes, `B'…'`, `X'…'` and dollar
//! quotes never do, and `U&'…'` is read without escapes (the server refuses it while the setting
//! is `off`). Two readings of one text differ only at a plain string that holds a backslash: the
//! string ends at a different quote, and what follows is read differently. A wrong reading can
//! put a client's literal outside any string, where the normalizer would copy it, so a string
//! whose two readings differ is read as [`ConformingStrings`] says and otherwise **swallowed**:
//! it becomes one string token running to the end of the text (one placeholder, nothing of it
//! copied).

use super::{Lexer, Policy};

/// The connection's `standard_conforming_strings`, as the server reported it in
/// `ParameterStatus` (or not), which decides how backslashes in `'…'` strings are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ConformingStrings {
    /// `on`, PostgreSQL's default since 9.1: a backslash in `'…'` is an ordinary character.
    ///
    /// Fail-safe: a string whose meaning depends on the setting (`'it\'s …'`) is read this way
    /// only when the rest of the text then closes every quote and reading it with backslash
    /// escapes would not; otherwise (the client wrote for `off`, or the text is broken either
    /// way) it swallows the rest of the text.
    #[default]
    On,
    /// `off`: a backslash in `'…'` escapes the next character (`\'` does not end the string,
    /// `\\` is one backslash), as the server reads it.
    Off,
    /// Not known for sure (a change may be in flight): every string whose meaning depends on
    /// the setting swallows the rest of the text.
    Unknown,
}

impl ConformingStrings {
    /// The setting for a `ParameterStatus` value: `on` or `off` (any case), else `Unknown`.
    pub fn from_parameter(value: &[u8]) -> Self {
        if value.eq_ignore_ascii_case(b"on") {
            ConformingStrings::On
        } else if value.eq_ignore_ascii_case(b"off") {
            ConformingStrings::Off
        } else {
            ConformingStrings::Unknown
        }
    }

    pub(super) fn policy(self) -> Policy {
        match self {
            ConformingStrings::On => Policy::Guarded,
            ConformingStrings::Off => Policy::Escape,
            ConformingStrings::Unknown => Policy::Strict,
        }
    }
}

impl Lexer<'_> {
    /// End of the plain (`unicode`: `U&`) string whose token starts at `start` and whose body
    /// starts at `body`, and whether it is closed; may settle the policy (see the module
    /// documentation).
    pub(super) fn scan_plain_string(
        &mut self,
        start: usize,
        body: usize,
        unicode: bool,
    ) -> (usize, bool) {
        match self.policy {
            Policy::Standard => return self.scan_quoted(body, b'\'', false),
            Policy::Escape if !unicode => return self.scan_quoted(body, b'\'', true),
            _ => {}
        }
        let standard = self.scan_quoted(body, b'\'', false);
        let has_backslash = self
            .src
            .as_bytes()
            .get(body..standard.0)
            .is_some_and(|b| memchr::memchr(b'\\', b).is_some());
        if !has_backslash {
            return standard;
        }
        let escaped = self.scan_quoted(body, b'\'', true);
        if escaped.0 == standard.0 {
            return (standard.0, standard.1 && escaped.1);
        }
        if self.policy == Policy::Guarded
            && self.closes(start, Policy::Standard)
            && !self.closes(start, Policy::Escape)
        {
            // Only the standard reading makes sense of the rest, and it is the server's.
            self.policy = Policy::Standard;
            return standard;
        }
        (self.len(), false)
    }

    /// Whether the text from `from` on, read under `policy` (`Standard` or `Escape`), closes
    /// every string, quoted identifier and comment it opens.
    fn closes(&self, from: usize, policy: Policy) -> bool {
        let mut lex = Lexer {
            src: self.src,
            pos: from,
            policy,
        };
        while lex.pos < lex.len() {
            let start = lex.pos;
            let (_, end, closed) = lex.scan_token();
            if !closed {
                return false;
            }
            lex.pos = end.max(start + 1);
        }
        true
    }
}
