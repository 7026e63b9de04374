//! The field list shared by ErrorResponse and NoticeResponse.

use crate::read::{split_cstr, Reader};
use crate::ProtocolError;

/// The fields of an ErrorResponse or NoticeResponse: pairs of a one-byte code (`S`, `V`, `C`,
/// `M`, `D`, `H`, `P`, ...) and a NUL-terminated value. The list was validated when parsed, so
/// reading it cannot fail. The SQLSTATE and the severity, which pgscope reads of every error,
/// are picked up by that same validating pass: the list is scanned once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorFields<'a> {
    /// The validated list, up to but not including its final NUL.
    raw: &'a [u8],
    /// The first `C` field, when 5 bytes long.
    sqlstate: Option<[u8; 5]>,
    /// The first `V` field, else the first `S` field.
    severity: Option<&'a [u8]>,
}

impl<'a> ErrorFields<'a> {
    /// Validates the field list at the reader's position and consumes it.
    pub(crate) fn parse(r: &mut Reader<'a>) -> Result<Self, ProtocolError> {
        let body = r.remaining();
        let mut used = 0;
        let mut code_c = None;
        let (mut code_v, mut code_s) = (None, None);
        loop {
            let code = r.u8("field list lacks its final NUL")?;
            if code == 0 {
                break;
            }
            let value = r.cstr("field value has no NUL terminator")?;
            used += 1 + value.len() + 1;
            let slot = match code {
                b'C' => &mut code_c,
                b'V' => &mut code_v,
                b'S' => &mut code_s,
                _ => continue,
            };
            slot.get_or_insert(value);
        }
        Ok(ErrorFields {
            raw: body.get(..used).unwrap_or_default(),
            sqlstate: code_c.and_then(|v: &[u8]| v.try_into().ok()),
            severity: code_v.or(code_s),
        })
    }

    /// Every field as (code, value), in the order the server sent them.
    pub fn iter(&self) -> impl Iterator<Item = (u8, &'a [u8])> {
        let mut rest = self.raw;
        std::iter::from_fn(move || {
            let (&code, after_code) = rest.split_first()?;
            let (value, after_value) = split_cstr(after_code)?;
            rest = after_value;
            Some((code, value))
        })
    }

    /// The value of the first field with this code.
    pub fn field(&self, code: u8) -> Option<&'a [u8]> {
        self.iter().find(|(c, _)| *c == code).map(|(_, v)| v)
    }

    /// The SQLSTATE code (field `C`), when present and 5 bytes long.
    pub fn sqlstate(&self) -> Option<[u8; 5]> {
        self.sqlstate
    }

    /// The severity: the never-localized field `V` when present (PostgreSQL 9.6+), else `S`.
    pub fn severity(&self) -> Option<&'a [u8]> {
        self.severity
    }

    /// The primary human-readable message (field `M`).
    pub fn message(&self) -> Option<&'a [u8]> {
        self.field(b'M')
    }
}
