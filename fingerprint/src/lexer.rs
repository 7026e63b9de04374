//! A zero-allocation PostgreSQL lexer: splits SQL text into [`Token`]s that borrow from the input.
//!
//! It follows the server's scanner (`scan.l`) closely enough to group queries: nested block
//! comments, standard and `E''` strings, `B''`/`X''`/`N''`/`U&''` prefixes, dollar quotes with
//! tags, `$n` parameters, numbers in every radix, quoted identifiers and the rule that a
//! multi-character operator may not end in `+` or `-` unless it contains one of `~!@#%^&|`?`.
//! Unterminated strings, quoted identifiers and comments run to the end of the input: a
//! best-effort token, never an error. How backslashes in `'…'` are read follows the
//! connection's `standard_conforming_strings` ([`ConformingStrings`], `strings.rs`).

mod strings;

pub use strings::ConformingStrings;

/// What a token is. Comments and whitespace are reported so that callers who care (the
/// sqlcommenter parser, the statement splitter) can see them; the normalizer skips them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Spaces, tabs, newlines.
    Whitespace,
    /// `-- …` up to the end of the line.
    LineComment,
    /// `/* … */`, possibly nested.
    BlockComment,
    /// An unquoted identifier or keyword (case not yet folded).
    Word,
    /// A `"quoted"` or `U&"quoted"` identifier, quotes included.
    QuotedIdent,
    /// A numeric literal.
    Number,
    /// A string literal of any kind (`'…'`, `E'…'`, `B'…'`, `X'…'`, `N'…'`, `U&'…'`, `$tag$…$tag$`).
    String,
    /// A positional parameter `$n`.
    Param,
    /// An operator such as `=`, `<>`, `->>`, `||`, `*`.
    Operator,
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
    Semicolon,
    /// `.`
    Dot,
    /// `::`
    DoubleColon,
    /// `:` (array slices, psql variables)
    Colon,
    /// Any other byte (`\`, `{`, control characters …).
    Other,
}

impl Kind {
    /// Whether the token carries no meaning for the statement (whitespace or comment).
    pub(crate) fn is_trivia(self) -> bool {
        matches!(
            self,
            Kind::Whitespace | Kind::LineComment | Kind::BlockComment
        )
    }
}

/// One token: its kind, its text (a slice of the input) and its byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token<'a> {
    pub(crate) kind: Kind,
    pub(crate) text: &'a str,
    pub(crate) start: usize,
}

impl Token<'_> {
    /// Whether this is an unquoted word equal (ASCII case-insensitively) to `keyword`.
    pub(crate) fn is_word(&self, keyword: &str) -> bool {
        self.kind == Kind::Word && self.text.eq_ignore_ascii_case(keyword)
    }
}

/// The lexer: an iterator over all tokens, trivia included. It is `Copy`, so a caller can look
/// ahead by copying it and rewind by restoring the copy.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    policy: Policy,
}

/// How plain `'…'` strings are read (see `strings.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Policy {
    /// Backslashes are ordinary characters (`standard_conforming_strings = on`, settled).
    Standard,
    /// Backslashes escape (`standard_conforming_strings = off`).
    Escape,
    /// `on`, until the first string whose meaning depends on the setting settles it.
    Guarded,
    /// Setting unknown: every string whose meaning depends on it swallows the rest.
    Strict,
}

/// Byte classes, as lookup tables (one load instead of a chain of comparisons).
const IDENT_START: u8 = 1;
const IDENT_CONT: u8 = 2;
const OP_CHAR: u8 = 4;
const SPACE: u8 = 8;

const CLASSES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let start = c.is_ascii_alphabetic() || c == b'_' || c >= 0x80;
        if start {
            table[b] |= IDENT_START | IDENT_CONT;
        }
        if c.is_ascii_digit() || c == b'$' {
            table[b] |= IDENT_CONT;
        }
        if matches!(
            c,
            b'~' | b'!'
                | b'@'
                | b'#'
                | b'^'
                | b'&'
                | b'|'
                | b'`'
                | b'?'
                | b'+'
                | b'-'
                | b'*'
                | b'/'
                | b'%'
                | b'<'
                | b'>'
                | b'='
        ) {
            table[b] |= OP_CHAR;
        }
        if matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c') {
            table[b] |= SPACE;
        }
        b += 1;
    }
    table
};

fn class(b: u8) -> u8 {
    CLASSES[usize::from(b)]
}

fn is_ident_start(b: u8) -> bool {
    class(b) & IDENT_START != 0
}

fn is_ident_cont(b: u8) -> bool {
    class(b) & IDENT_CONT != 0
}

fn is_op_char(b: u8) -> bool {
    class(b) & OP_CHAR != 0
}

pub(crate) fn is_space(b: u8) -> bool {
    class(b) & SPACE != 0
}

impl<'a> Lexer<'a> {
    /// A lexer positioned at the start of `src`, reading strings as with
    /// `standard_conforming_strings = on` (fail-safe, see [`ConformingStrings::On`]).
    pub(crate) fn new(src: &'a str) -> Self {
        Self::with(src, ConformingStrings::On)
    }

    /// A lexer positioned at the start of `src`, reading strings under `strings`.
    pub(crate) fn with(src: &'a str, strings: ConformingStrings) -> Self {
        Lexer {
            src,
            pos: 0,
            policy: strings.policy(),
        }
    }

    /// The byte at `i`, or 0 past the end.
    fn at(&self, i: usize) -> u8 {
        self.src.as_bytes().get(i).copied().unwrap_or(0)
    }

    fn len(&self) -> usize {
        self.src.len()
    }

    /// The next token that is not whitespace or a comment.
    pub(crate) fn next_significant(&mut self) -> Option<Token<'a>> {
        loop {
            let bytes = self.src.as_bytes();
            if let Some(rest) = bytes.get(self.pos..) {
                self.pos += rest
                    .iter()
                    .position(|&b| !is_space(b))
                    .unwrap_or(rest.len());
            }
            let token = self.next()?;
            if !token.kind.is_trivia() {
                return Some(token);
            }
        }
    }

    /// The next significant token without consuming it.
    pub(crate) fn peek_significant(&self) -> Option<Token<'a>> {
        let mut copy = *self;
        copy.next_significant()
    }

    /// Consumes bytes while `pred` holds, starting at `i`; returns the first index where it fails.
    fn scan_while(&self, i: usize, pred: impl Fn(u8) -> bool) -> usize {
        match self.src.as_bytes().get(i..) {
            Some(rest) => i + rest.iter().position(|&b| !pred(b)).unwrap_or(rest.len()),
            None => i,
        }
    }

    /// End of a quoted run that starts after the opening quote at `i`: `quote` doubled is an
    /// escape, and so is a backslash when `backslash` is set. Unterminated runs end at the input
    /// end; the flag says whether the run was closed.
    fn scan_quoted(&self, mut i: usize, quote: u8, backslash: bool) -> (usize, bool) {
        while i < self.len() {
            let b = self.at(i);
            if backslash && b == b'\\' {
                i += 2;
            } else if b == quote {
                if self.at(i + 1) == quote {
                    i += 2;
                } else {
                    return (i + 1, true);
                }
            } else {
                i += 1;
            }
        }
        (self.len(), false)
    }

    /// End of a block comment starting at `i` (which points at `/*`), honouring nesting, and
    /// whether it was closed.
    fn scan_block_comment(&self, mut i: usize) -> (usize, bool) {
        let mut depth = 0usize;
        while i < self.len() {
            if self.at(i) == b'/' && self.at(i + 1) == b'*' {
                depth += 1;
                i += 2;
            } else if self.at(i) == b'*' && self.at(i + 1) == b'/' {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return (i, true);
                }
            } else {
                i += 1;
            }
        }
        (self.len(), false)
    }

    /// If a dollar-quote opening tag starts at `i`, the index just past it.
    fn dollar_tag_end(&self, i: usize) -> Option<usize> {
        let mut j = i + 1;
        if is_ident_start(self.at(j)) {
            j = self.scan_while(j, |b| is_ident_start(b) || b.is_ascii_digit());
        }
        (self.at(j) == b'$').then_some(j + 1)
    }

    /// End of a dollar-quoted string whose tag is `src[start..body]`, and whether it was closed.
    fn scan_dollar_body(&self, start: usize, body: usize) -> (usize, bool) {
        let tag = self.src.get(start..body).unwrap_or("$$");
        match self.src.get(body..).and_then(|rest| rest.find(tag)) {
            Some(offset) => (body + offset + tag.len(), true),
            None => (self.len(), false),
        }
    }

    /// End of a numeric literal starting at `i`.
    fn scan_number(&self, i: usize) -> usize {
        let radix_digit = |b: u8| b.is_ascii_hexdigit() || b == b'_';
        if self.at(i) == b'0' && matches!(self.at(i + 1), b'x' | b'X' | b'o' | b'O' | b'b' | b'B') {
            let j = self.scan_while(i + 2, radix_digit);
            if j > i + 2 {
                return j;
            }
        }
        let digits = |b: u8| b.is_ascii_digit() || b == b'_';
        let mut j = self.scan_while(i, digits);
        // A `..` after digits is a range (PL/pgSQL), not a decimal point.
        if self.at(j) == b'.' && self.at(j + 1) != b'.' {
            j = self.scan_while(j + 1, digits);
        }
        if matches!(self.at(j), b'e' | b'E') {
            let mut k = j + 1;
            if matches!(self.at(k), b'+' | b'-') {
                k += 1;
            }
            if self.at(k).is_ascii_digit() {
                j = self.scan_while(k, digits);
            }
        }
        j
    }

    /// End of an operator starting at `i`, following the server's trailing `+`/`-` rule and
    /// stopping before an embedded comment start.
    fn scan_operator(&self, i: usize) -> usize {
        let mut j = i;
        while j < self.len() && is_op_char(self.at(j)) {
            let comment = (self.at(j) == b'/' && self.at(j + 1) == b'*')
                || (self.at(j) == b'-' && self.at(j + 1) == b'-');
            if comment && j > i {
                break;
            }
            j += 1;
        }
        if j - i > 1 {
            let text = self.src.as_bytes().get(i..j).unwrap_or(&[]);
            let special = text.iter().any(|b| {
                matches!(
                    b,
                    b'~' | b'!' | b'@' | b'#' | b'%' | b'^' | b'&' | b'|' | b'`' | b'?'
                )
            });
            if !special {
                while j - i > 1 && matches!(self.at(j - 1), b'+' | b'-') {
                    j -= 1;
                }
            }
        }
        j
    }

    /// Kind and end of the token starting at the current position (which is before the end),
    /// and whether it is closed (false for an unterminated or swallowed quote or comment).
    fn scan_token(&mut self) -> (Kind, usize, bool) {
        let i = self.pos;
        let b = self.at(i);
        let next = self.at(i + 1);
        let (kind, (end, closed)) = match b {
            _ if is_space(b) => (Kind::Whitespace, (self.scan_while(i, is_space), true)),
            b'-' if next == b'-' => (
                Kind::LineComment,
                (self.scan_while(i, |b| b != b'\n'), true),
            ),
            b'/' if next == b'*' => (Kind::BlockComment, self.scan_block_comment(i)),
            b'\'' => (Kind::String, self.scan_plain_string(i, i + 1, false)),
            b'"' => (Kind::QuotedIdent, self.scan_quoted(i + 1, b'"', false)),
            b'e' | b'E' if next == b'\'' => (Kind::String, self.scan_quoted(i + 2, b'\'', true)),
            b'n' | b'N' if next == b'\'' => (Kind::String, self.scan_plain_string(i, i + 2, false)),
            b'b' | b'B' | b'x' | b'X' if next == b'\'' => {
                (Kind::String, self.scan_quoted(i + 2, b'\'', false))
            }
            b'u' | b'U' if next == b'&' && self.at(i + 2) == b'\'' => {
                (Kind::String, self.scan_plain_string(i, i + 3, true))
            }
            b'u' | b'U' if next == b'&' && self.at(i + 2) == b'"' => {
                (Kind::QuotedIdent, self.scan_quoted(i + 3, b'"', false))
            }
            b'$' if next.is_ascii_digit() => (
                Kind::Param,
                (self.scan_while(i + 1, |b| b.is_ascii_digit()), true),
            ),
            b'$' => match self.dollar_tag_end(i) {
                Some(body) => (Kind::String, self.scan_dollar_body(i, body)),
                None => (Kind::Other, (i + 1, true)),
            },
            _ => {
                let (kind, end) = self.scan_simple(i, b, next);
                (kind, (end, true))
            }
        };
        (kind, end, closed)
    }

    /// Kind and end of a token that cannot be left open.
    fn scan_simple(&self, i: usize, b: u8, next: u8) -> (Kind, usize) {
        match b {
            b'0'..=b'9' => (Kind::Number, self.scan_number(i)),
            b'.' if next.is_ascii_digit() => (Kind::Number, self.scan_number(i)),
            b'.' => (Kind::Dot, i + 1),
            b':' if next == b':' => (Kind::DoubleColon, i + 2),
            b':' if next == b'=' => (Kind::Operator, i + 2),
            b':' => (Kind::Colon, i + 1),
            b'(' => (Kind::LParen, i + 1),
            b')' => (Kind::RParen, i + 1),
            b'[' => (Kind::LBracket, i + 1),
            b']' => (Kind::RBracket, i + 1),
            b',' => (Kind::Comma, i + 1),
            b';' => (Kind::Semicolon, i + 1),
            _ if is_ident_start(b) => (Kind::Word, self.scan_while(i, is_ident_cont)),
            _ if is_op_char(b) => (Kind::Operator, self.scan_operator(i)),
            _ => (Kind::Other, i + 1),
        }
    }
}

impl<'a> Iterator for Lexer<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        if self.pos >= self.len() {
            return None;
        }
        let start = self.pos;
        let (kind, end, _) = self.scan_token();
        // Every scanner stops on an ASCII byte or at the end, so `end` is a char boundary; the
        // loop below only guards against a scanner bug ever producing a non-boundary.
        let mut end = end.clamp(start + 1, self.len());
        while !self.src.is_char_boundary(end) {
            end += 1;
        }
        self.pos = end;
        let text = self.src.get(start..end).unwrap_or("");
        Some(Token { kind, text, start })
    }
}

#[cfg(test)]
mod tests;
