//! The upstream PostgreSQL server's address, and the parser for the forms users write it in.
//!
//! Accepted: `postgres://HOST[:PORT]`, `postgresql://HOST[:PORT]` (optionally with a trailing
//! `/`), or bare `HOST[:PORT]`. HOST is a DNS name, an IPv4 address or a bracketed IPv6 address;
//! PORT defaults to 5432. Everything else a libpq URL may carry (user, password, database,
//! query parameters) is rejected with its own message: pgscope passes the client's startup and
//! authentication through untouched, so such settings would be silently ignored.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::parse::Reason;

/// PostgreSQL's default port, used when the upstream address names none.
pub const DEFAULT_PG_PORT: u16 = 5432;

/// The PostgreSQL server pgscope forwards to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// A DNS name, or an IP address (IPv6 without brackets).
    pub host: String,
    /// The TCP port.
    pub port: u16,
}

impl fmt::Display for Upstream {
    /// `host:port`, with an IPv6 host in brackets (`[::1]:5432`), so the result can be handed to
    /// a resolver such as `tokio::net::lookup_host` as is.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

const FORMS: &str = "expected postgres://HOST:PORT, postgresql://HOST:PORT or HOST:PORT";

impl Upstream {
    /// Parses any accepted form; the error says what was wrong.
    pub(crate) fn parse(text: &str) -> Result<Upstream, Reason> {
        let Some((scheme, rest)) = text.split_once("://") else {
            return parse_authority(text);
        };
        if !scheme.eq_ignore_ascii_case("postgres") && !scheme.eq_ignore_ascii_case("postgresql") {
            return Err(Reason(format!("unsupported scheme {scheme:?}; {FORMS}")));
        }
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at_checked(end).unwrap_or((rest, ""));
        if authority.contains('@') {
            return Err(Reason::from(
                "a user name or password is not allowed: pgscope passes authentication through, \
                 so each client sends its own",
            ));
        }
        check_tail(tail)?;
        parse_authority(authority)
    }
}

/// What may follow `HOST:PORT` in a URL: nothing, or a lone `/`.
fn check_tail(tail: &str) -> Result<(), Reason> {
    if tail.is_empty() || tail == "/" {
        Ok(())
    } else if tail.contains('?') {
        Err(Reason::from(
            "query parameters are not allowed: each client negotiates its own connection options",
        ))
    } else if tail.starts_with('/') {
        Err(Reason::from(
            "a database name is not allowed: each client chooses its own database",
        ))
    } else {
        Err(Reason(format!("unexpected text after HOST:PORT; {FORMS}")))
    }
}

/// Parses `HOST[:PORT]` with HOST a name, IPv4 address or `[IPv6]` address.
fn parse_authority(authority: &str) -> Result<Upstream, Reason> {
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (v6, after) = bracketed
            .split_once(']')
            .ok_or_else(|| Reason::from("an IPv6 address must be closed with ']'"))?;
        v6.parse::<Ipv6Addr>()
            .map_err(|_| Reason(format!("{v6:?} is not an IPv6 address")))?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or_else(|| Reason::from(FORMS))?),
        };
        (v6, port)
    } else {
        match authority.split_once(':') {
            Some((_, port)) if port.contains(':') => {
                return Err(Reason::from(
                    "an IPv6 address must be written in brackets, e.g. [::1]:5432",
                ))
            }
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(Reason(format!("the host is missing; {FORMS}")));
    }
    if !host.contains(':') {
        check_host_name(host)?;
    }
    let port = match port {
        None => DEFAULT_PG_PORT,
        Some(port) => match port.parse::<u16>() {
            Ok(port) if port > 0 => port,
            _ => {
                return Err(Reason(format!(
                    "port {port:?} is not a number from 1 to 65535"
                )))
            }
        },
    };
    Ok(Upstream {
        host: host.to_owned(),
        port,
    })
}

/// A DNS name or an IPv4 address.
fn check_host_name(host: &str) -> Result<(), Reason> {
    let name_chars = host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    if !name_chars {
        return Err(Reason(format!(
            "{host:?} is not a host name or IP address; {FORMS}"
        )));
    }
    let looks_numeric = host.chars().all(|c| c.is_ascii_digit() || c == '.');
    if looks_numeric && host.parse::<Ipv4Addr>().is_err() {
        return Err(Reason(format!("{host:?} is not an IPv4 address")));
    }
    Ok(())
}
