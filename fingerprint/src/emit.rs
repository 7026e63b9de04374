//! The output side of normalization: writes canonical text with deterministic spacing,
//! numbers placeholders, and hashes the result.
//!
//! Spacing depends only on the kinds of neighbouring tokens, never on the input's whitespace:
//! one space between tokens, none after `(` `[` `.` `::`, none before `)` `]` `,` `;` `.` `::`,
//! `:` and other stray punctuation always stand alone; none between a function name and its
//! `(` (a word that opens a clause, like `IN` or `VALUES`, keeps its space), none before a
//! subscript `[`.

use crate::hash::Fp64;
use crate::keywords;

/// Class of the last thing written, which decides the separator before the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// Nothing written yet.
    Start,
    /// An unquoted word (keyword or identifier), lower case.
    Word,
    /// A quoted identifier that keeps its quotes.
    Ident,
    /// A placeholder or a kept literal.
    Value,
    /// An operator.
    Op,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `[`
    LBracket,
    /// `]`
    RBracket,
    /// `,`
    Comma,
    /// `;`
    Semi,
    /// `.`
    Dot,
    /// `::`
    DoubleColon,
    /// `:` or any other punctuation.
    Other,
}

/// A point to rewind the output to (see [`Out::mark`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark {
    len: usize,
    prev: Class,
    word: (usize, usize),
    pending_semi: bool,
    params: u32,
    annotations: usize,
}

/// The canonical text being built.
#[derive(Debug, Default)]
pub(crate) struct Out {
    pub(crate) text: Vec<u8>,
    prev: Option<Class>,
    /// Byte range in `text` of the last word written (valid when `prev` is `Word`).
    word: (usize, usize),
    pending_semi: bool,
    /// Placeholders written so far (the next one is `$params+1`).
    pub(crate) params: u32,
    /// Ranges of `text` that are display-only annotations, left out of the fingerprint.
    annotations: Vec<(usize, usize)>,
}

impl Out {
    /// An empty output with room for `capacity` bytes.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Out {
            text: Vec::with_capacity(capacity),
            ..Out::default()
        }
    }

    /// The class of the last token written.
    pub(crate) fn prev(&self) -> Class {
        self.prev.unwrap_or(Class::Start)
    }

    /// The last word written, if the last token was a word.
    pub(crate) fn prev_word(&self) -> Option<&[u8]> {
        if self.prev() == Class::Word {
            self.text.get(self.word.0..self.word.1)
        } else {
            None
        }
    }

    /// Whether the last token written is the word `word`.
    pub(crate) fn prev_word_is(&self, word: &str) -> bool {
        self.prev_word() == Some(word.as_bytes())
    }

    fn separate(&mut self, next: Class) {
        if self.pending_semi {
            self.pending_semi = false;
            self.text.push(b';');
            self.prev = Some(Class::Semi);
        }
        let space = match (self.prev(), next) {
            (Class::Start, _) => false,
            // `:` next to `::` would re-lex differently (`:::` is `::` `:`), so stray
            // punctuation always stands alone.
            (Class::Other, _) | (_, Class::Other) => true,
            (
                _,
                Class::RParen
                | Class::RBracket
                | Class::Comma
                | Class::Semi
                | Class::Dot
                | Class::DoubleColon,
            ) => false,
            (Class::LParen | Class::LBracket | Class::Dot | Class::DoubleColon, _) => false,
            (Class::Word, Class::LParen) => self.prev_word().is_some_and(keywords::is_clause),
            (Class::Ident, Class::LParen) => false,
            (Class::Word | Class::Ident | Class::RParen | Class::RBracket, Class::LBracket) => {
                false
            }
            _ => true,
        };
        if space {
            self.text.push(b' ');
        }
    }

    /// Writes a token of class `class` verbatim.
    pub(crate) fn push(&mut self, class: Class, text: &str) {
        self.separate(class);
        self.text.extend_from_slice(text.as_bytes());
        self.prev = Some(class);
    }

    /// Writes an unquoted word, folded to lower case.
    pub(crate) fn push_word(&mut self, word: &str) {
        self.separate(Class::Word);
        let start = self.text.len();
        self.text
            .extend(word.as_bytes().iter().map(u8::to_ascii_lowercase));
        self.word = (start, self.text.len());
        self.prev = Some(Class::Word);
    }

    /// Writes the next placeholder, `$1`, `$2`, …
    pub(crate) fn placeholder(&mut self) {
        self.separate(Class::Value);
        self.params = self.params.saturating_add(1);
        self.text.push(b'$');
        let mut digits = [0u8; 10];
        let mut n = self.params;
        let mut i = digits.len();
        loop {
            i -= 1;
            if let Some(slot) = digits.get_mut(i) {
                *slot = b'0' + (n % 10) as u8;
            }
            n /= 10;
            if n == 0 || i == 0 {
                break;
            }
        }
        self.text.extend_from_slice(digits.get(i..).unwrap_or(&[]));
        self.prev = Some(Class::Value);
    }

    /// Appends text that belongs to the previous token (no separator, class unchanged).
    pub(crate) fn push_tail(&mut self, text: &str) {
        self.text.extend_from_slice(text.as_bytes());
    }

    /// Appends a display-only annotation: shown in the text, left out of the fingerprint.
    pub(crate) fn annotate(&mut self, text: &str) {
        let start = self.text.len();
        self.text.extend_from_slice(text.as_bytes());
        self.annotations.push((start, self.text.len()));
    }

    /// Records a `;`: written only if another token follows, so trailing and repeated
    /// semicolons never matter.
    pub(crate) fn semicolon(&mut self) {
        if !matches!(self.prev(), Class::Start | Class::Semi) {
            self.pending_semi = true;
        }
    }

    /// A point to rewind to.
    pub(crate) fn mark(&self) -> Mark {
        Mark {
            len: self.text.len(),
            prev: self.prev(),
            word: self.word,
            pending_semi: self.pending_semi,
            params: self.params,
            annotations: self.annotations.len(),
        }
    }

    /// Rewinds to `mark`, forgetting everything written since.
    pub(crate) fn reset(&mut self, mark: Mark) {
        self.text.truncate(mark.len);
        self.prev = Some(mark.prev);
        self.word = mark.word;
        self.pending_semi = mark.pending_semi;
        self.params = mark.params;
        self.annotations.truncate(mark.annotations);
    }

    /// The text as a `String`. Tokens are copied whole and only ASCII letters are changed, so
    /// the bytes are always UTF-8; the lossy branch exists only to avoid a panic path.
    pub(crate) fn into_string(self) -> String {
        String::from_utf8(self.text)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }

    /// Whether two ranges of the text are equal once annotations are left out (as the
    /// fingerprint sees them).
    pub(crate) fn same_shape(&self, a: (usize, usize), b: (usize, usize)) -> bool {
        match (self.text.get(a.0..a.1), self.text.get(b.0..b.1)) {
            (Some(x), Some(y))
                if self
                    .annotations
                    .last()
                    .is_none_or(|&(_, e)| e <= a.0.min(b.0)) =>
            {
                x == y
            }
            _ => self.shape_bytes(a).eq(self.shape_bytes(b)),
        }
    }

    /// The bytes of `start..end` outside annotations.
    fn shape_bytes(&self, (start, end): (usize, usize)) -> impl Iterator<Item = &u8> + '_ {
        let from = self.annotations.partition_point(|&(s, _)| s < start);
        let to = self.annotations.partition_point(|&(s, _)| s < end);
        let inner = self.annotations.get(from..to.max(from)).unwrap_or(&[]);
        let starts = std::iter::once(start).chain(inner.iter().map(|&(_, e)| e));
        let ends = inner.iter().map(|&(s, _)| s).chain(std::iter::once(end));
        starts
            .zip(ends)
            .flat_map(move |(s, e)| self.text.get(s..e).unwrap_or(&[]))
    }

    /// The fingerprint: `fp64` of the text with annotations left out.
    pub(crate) fn fingerprint(&self) -> u64 {
        let mut hasher = Fp64::default();
        let bytes = self.text.as_slice();
        let mut at = 0;
        for &(start, end) in &self.annotations {
            hasher.update(bytes.get(at..start).unwrap_or(&[]));
            at = end;
        }
        hasher.update(bytes.get(at..).unwrap_or(&[]));
        hasher.value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_count_up_across_digit_boundaries() {
        let mut out = Out::default();
        for _ in 0..11 {
            out.push(Class::Comma, ",");
            out.placeholder();
        }
        assert!(out.into_string().ends_with(", $9, $10, $11"));
    }

    #[test]
    fn annotations_do_not_change_the_fingerprint() {
        let mut a = Out::default();
        a.push_word("x");
        let mut b = Out::default();
        b.push_word("x");
        b.annotate(" /*, ... */");
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.text, b.text);
    }

    #[test]
    fn reset_forgets_text_params_and_annotations() {
        let mut out = Out::default();
        out.push_word("values");
        let mark = out.mark();
        out.placeholder();
        out.annotate("x");
        out.reset(mark);
        assert_eq!(out.text, b"values");
        assert_eq!(out.params, 0);
        assert_eq!(out.fingerprint(), {
            let mut o = Out::default();
            o.push_word("values");
            o.fingerprint()
        });
    }
}
