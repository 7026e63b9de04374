//! Interpreters for raw values, one per kind of key. Each takes a [`RawValue`] from any source
//! and returns the typed value or a [`Reason`] saying what was expected; the caller adds the key
//! and the source to make a [`ConfigError`](crate::ConfigError).

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use crate::raw::RawValue;
use crate::upstream::Upstream;
use crate::{LogFormat, LogLevel, PipelineTiming};

/// Why a value was rejected: the tail of a `ConfigError::InvalidValue` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reason(pub(crate) String);

impl From<&str> for Reason {
    fn from(text: &str) -> Reason {
        Reason(text.to_owned())
    }
}

/// Smallest accepted `max_message_size`.
pub const MIN_MESSAGE_SIZE: u32 = 1 << 10;
/// Largest accepted `max_message_size` (PostgreSQL's own limit on most messages).
pub const MAX_MESSAGE_SIZE: u32 = 1 << 30;

const ADDR: &str =
    "expected HOST:PORT where HOST is an IP address ([IPv6] in brackets) or localhost";
const SIZE: &str =
    "expected a byte size like 65536, \"64MB\" or \"1GiB\" (k, M and G are powers of 1024)";
const DURATION: &str = "expected a duration like \"5s\" or \"250ms\"";
const COUNT: &str = "expected a whole number of at least 1";
const LEVEL: &str = "expected one of error, warn, info, debug, trace";

/// The text of a string value, or `expected` for any other TOML type.
pub(crate) fn text<'a>(value: &'a RawValue, expected: &str) -> Result<&'a str, Reason> {
    match value {
        RawValue::Text(text) => Ok(text),
        RawValue::Toml(_) => Err(Reason::from(expected)),
    }
}

/// A listening address: an IP socket address, or `localhost:PORT` resolved (IPv4 preferred).
pub(crate) fn socket_addr(value: &RawValue) -> Result<SocketAddr, Reason> {
    let text = text(value, ADDR)?;
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let (host, port) = text.rsplit_once(':').ok_or_else(|| Reason::from(ADDR))?;
    if !host.eq_ignore_ascii_case("localhost") {
        return Err(Reason::from(ADDR));
    }
    let port: u16 = port
        .parse()
        .map_err(|_| Reason(format!("port {port:?} is not a number from 0 to 65535")))?;
    let addrs: Vec<SocketAddr> = ("localhost", port)
        .to_socket_addrs()
        .map_err(|err| Reason(format!("cannot resolve localhost: {err}")))?
        .collect();
    addrs
        .iter()
        .find(|addr| addr.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| Reason::from("localhost resolves to no address"))
}

/// The upstream server (see [`Upstream`] for the accepted forms).
pub(crate) fn upstream(value: &RawValue) -> Result<Upstream, Reason> {
    Upstream::parse(text(
        value,
        "expected a string like \"postgres://HOST:PORT\"",
    )?)
}

/// A message size limit in bytes, between [`MIN_MESSAGE_SIZE`] and [`MAX_MESSAGE_SIZE`].
pub(crate) fn message_size(value: &RawValue) -> Result<u32, Reason> {
    let bytes = match value {
        RawValue::Toml(toml::Value::Integer(n)) => {
            u64::try_from(*n).map_err(|_| Reason::from(SIZE))?
        }
        other => byte_size(text(other, SIZE)?).ok_or_else(|| Reason::from(SIZE))?,
    };
    if bytes < u64::from(MIN_MESSAGE_SIZE) {
        return Err(Reason::from("must be at least 1KiB (1024 bytes)"));
    }
    u32::try_from(bytes)
        .ok()
        .filter(|bytes| *bytes <= MAX_MESSAGE_SIZE)
        .ok_or_else(|| Reason::from("must be at most 1GiB (1073741824 bytes)"))
}

/// `DIGITS [UNIT]` with UNIT one of B, k/kB/KiB, M/MB/MiB, G/GB/GiB (any case, binary
/// multiples, as in PostgreSQL's own settings); `None` when malformed or overflowing.
fn byte_size(text: &str) -> Option<u64> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at_checked(split)?;
    let multiplier: u64 = match unit.trim_start().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    digits.parse::<u64>().ok()?.checked_mul(multiplier)
}

/// A duration string such as `"5s"`, `"250ms"` or `"1m 30s"` (bare numbers are ambiguous and
/// rejected, except `"0"`).
pub(crate) fn duration(value: &RawValue) -> Result<Duration, Reason> {
    humantime::parse_duration(text(value, DURATION)?).map_err(|_| Reason::from(DURATION))
}

/// A [`duration`] that must not be zero.
pub(crate) fn nonzero_duration(value: &RawValue) -> Result<Duration, Reason> {
    match duration(value)? {
        Duration::ZERO => Err(Reason::from("must be greater than zero")),
        positive => Ok(positive),
    }
}

/// A whole number ≥ 1, as a TOML integer or a decimal string.
pub(crate) fn count(value: &RawValue) -> Result<usize, Reason> {
    let parsed = match value {
        RawValue::Toml(toml::Value::Integer(n)) => usize::try_from(*n).ok(),
        other => text(other, COUNT)?.parse::<usize>().ok(),
    };
    parsed
        .filter(|n| *n >= 1)
        .ok_or_else(|| Reason::from(COUNT))
}

/// `exact` or `batch`.
pub(crate) fn pipeline_timing(value: &RawValue) -> Result<PipelineTiming, Reason> {
    const MODES: &str = "expected exact or batch";
    match text(value, MODES)?.to_ascii_lowercase().as_str() {
        "exact" => Ok(PipelineTiming::Exact),
        "batch" => Ok(PipelineTiming::Batch),
        _ => Err(Reason::from(MODES)),
    }
}

/// A log level name, in any case.
pub(crate) fn log_level(value: &RawValue) -> Result<LogLevel, Reason> {
    let level = match text(value, LEVEL)?.to_ascii_lowercase().as_str() {
        "error" => LogLevel::Error,
        "warn" => LogLevel::Warn,
        "info" => LogLevel::Info,
        "debug" => LogLevel::Debug,
        "trace" => LogLevel::Trace,
        _ => return Err(Reason::from(LEVEL)),
    };
    Ok(level)
}

const FORMAT: &str = "expected text or json";

/// A log format name, in any case.
pub(crate) fn log_format(value: &RawValue) -> Result<LogFormat, Reason> {
    match text(value, FORMAT)?.to_ascii_lowercase().as_str() {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err(Reason::from(FORMAT)),
    }
}

const BOOLEAN: &str = "expected true or false";
const TEXT_SIZE: &str = "expected a byte size of at least 16, like 4096 or \"4KiB\"";
const WINDOW: &str =
    "expected a duration of whole milliseconds, at least 1ms, like \"1m\" or \"10s\"";

/// Most windows accepted: a day of one-minute windows (each costs memory per entry).
pub(crate) const MAX_WINDOWS: usize = 1440;

/// `true`/`false` as a TOML boolean or a string (`true`, `false`, `1`, `0`, `on`, `off`, `yes`,
/// `no`, any case).
pub(crate) fn boolean(value: &RawValue) -> Result<bool, Reason> {
    if let RawValue::Toml(toml::Value::Boolean(b)) = value {
        return Ok(*b);
    }
    match text(value, BOOLEAN)?.to_ascii_lowercase().as_str() {
        "true" | "1" | "on" | "yes" => Ok(true),
        "false" | "0" | "off" | "no" => Ok(false),
        _ => Err(Reason::from(BOOLEAN)),
    }
}

/// A length limit on stored text, in bytes (at least 16).
pub(crate) fn text_size(value: &RawValue) -> Result<usize, Reason> {
    let bytes = match value {
        RawValue::Toml(toml::Value::Integer(n)) => u64::try_from(*n).ok(),
        other => byte_size(text(other, TEXT_SIZE)?),
    };
    bytes
        .filter(|n| *n >= 16)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| Reason::from(TEXT_SIZE))
}

/// A window width: a nonzero duration of whole milliseconds.
pub(crate) fn window(value: &RawValue) -> Result<Duration, Reason> {
    let width = duration(value).map_err(|_| Reason::from(WINDOW))?;
    if width.as_millis() == 0 || width.subsec_nanos() % 1_000_000 != 0 {
        return Err(Reason::from(WINDOW));
    }
    Ok(width)
}

/// A number of windows, 1 to [`MAX_WINDOWS`].
pub(crate) fn window_count(value: &RawValue) -> Result<usize, Reason> {
    let n = count(value)?;
    if n > MAX_WINDOWS {
        return Err(Reason(format!("must be at most {MAX_WINDOWS}")));
    }
    Ok(n)
}

/// A filesystem path (not checked for existence here).
pub(crate) fn path(value: &RawValue) -> Result<PathBuf, Reason> {
    let text = text(value, "expected a path string")?;
    if text.is_empty() {
        return Err(Reason::from("expected a non-empty path"));
    }
    Ok(PathBuf::from(text))
}

/// A bearer token: printable ASCII without spaces, 1 to 256 characters.
pub(crate) fn token(value: &RawValue) -> Result<String, Reason> {
    const TOKEN: &str = "expected 1 to 256 printable ASCII characters without spaces";
    let text = text(value, TOKEN)?;
    if text.is_empty() || text.len() > 256 || !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Reason::from(TOKEN));
    }
    Ok(text.to_owned())
}
