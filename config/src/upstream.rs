//! The upstream PostgreSQL server's address, and the parser for the forms users write it in.
//!
//! Accepted: `postgres://HOST[:PORT][/][?PARAMS]`, `postgresql://…` likewise, bare
//! `HOST[:PORT]`, or a bare socket directory `/DIR`. HOST is a DNS name, an IPv4 address, a
//! bracketed IPv6 address or, as in libpq, a Unix-socket directory: a host starting with `/`,
//! written percent-encoded in the URL (`postgres://%2Fvar%2Frun%2Fpostgresql`) or as the `host`
//! parameter (`postgres:///?host=/var/run/postgresql`). PORT defaults to 5432; for a socket
//! directory it picks the socket file `.s.PGSQL.PORT`. PARAMS are libpq's `host`, `port` and the
//! TLS parameters of [`UpstreamTls`]. What else a libpq URL may carry (user, password, database,
//! other options) is rejected with its own message: pgscope passes the client's startup and
//! authentication through untouched, so such settings would be silently ignored.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use crate::parse::Reason;
use crate::upstream_tls::{SslParams, UpstreamTls};

/// PostgreSQL's default port, used when the upstream address names none.
pub const DEFAULT_PG_PORT: u16 = 5432;

/// The PostgreSQL server pgscope forwards to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// A DNS name, an IP address (IPv6 without brackets), or a Unix-socket directory (starting
    /// with `/`).
    pub host: String,
    /// The TCP port, or the number in the socket file's name `.s.PGSQL.PORT`.
    pub port: u16,
    /// How the connection is secured (never TLS over a Unix socket, as in libpq).
    pub tls: UpstreamTls,
}

impl Upstream {
    /// A TCP upstream with libpq's default TLS settings (`sslmode=prefer`).
    pub fn tcp(host: &str, port: u16) -> Upstream {
        Upstream {
            host: host.to_owned(),
            port,
            tls: UpstreamTls::default(),
        }
    }

    /// The socket file when the host is a Unix-socket directory: `HOST/.s.PGSQL.PORT`.
    pub fn socket_path(&self) -> Option<PathBuf> {
        self.host
            .starts_with('/')
            .then(|| PathBuf::from(&self.host).join(format!(".s.PGSQL.{}", self.port)))
    }
}

impl fmt::Display for Upstream {
    /// `host:port`, with an IPv6 host in brackets (`[::1]:5432`), so the result can be handed to
    /// a resolver such as `tokio::net::lookup_host` as is; a socket's path for a socket
    /// directory (`/var/run/postgresql/.s.PGSQL.5432`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = self.socket_path() {
            write!(f, "{}", path.display())
        } else if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

const FORMS: &str =
    "expected postgres://HOST:PORT[?PARAMS], postgresql://HOST:PORT, HOST:PORT or a socket directory";

/// The URL parameters pgscope takes, for error messages.
const PARAMS: &str = "host, port, sslmode, sslrootcert, sslcert, sslkey, sslsni and sslnegotiation";

impl Upstream {
    /// Parses any accepted form; the error says what was wrong.
    pub(crate) fn parse(text: &str) -> Result<Upstream, Reason> {
        let Some((scheme, rest)) = text.split_once("://") else {
            if text.starts_with('/') {
                return socket_dir(text, None, UpstreamTls::default());
            }
            return parse_authority(text).map(|(host, port)| Upstream {
                host,
                port: port.unwrap_or(DEFAULT_PG_PORT),
                tls: UpstreamTls::default(),
            });
        };
        if !scheme.eq_ignore_ascii_case("postgres") && !scheme.eq_ignore_ascii_case("postgresql") {
            return Err(Reason(format!("unsupported scheme {scheme:?}; {FORMS}")));
        }
        let (rest, _fragment) = rest.split_once('#').unwrap_or((rest, ""));
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = match rest.find('/') {
            Some(slash) => rest.split_at(slash),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(Reason::from(
                "a user name or password is not allowed: pgscope passes authentication through, \
                 so each client sends its own",
            ));
        }
        if !path.is_empty() && path != "/" {
            return Err(Reason::from(
                "a database name is not allowed: each client chooses its own database",
            ));
        }
        let mut host_param = None;
        let mut port_param = None;
        let mut ssl = SslParams::default();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = decode(name)?;
            let value = decode(value)?;
            match name.as_str() {
                "host" => host_param = Some(value),
                "port" => port_param = Some(parse_port(&value)?),
                _ if ssl.take(&name, value) => {}
                "user" | "password" | "dbname" | "options" | "application_name" => {
                    return Err(Reason(format!(
                        "parameter {name:?} is not allowed: each client sends its own; \
                         pgscope takes {PARAMS}"
                    )))
                }
                _ => {
                    return Err(Reason(format!(
                        "unsupported parameter {name:?}; pgscope takes {PARAMS}"
                    )))
                }
            }
        }
        let tls = ssl.validate()?;
        let (authority, authority_port) = split_encoded_socket_port(authority)?;
        let authority = decode(authority)?;
        let (host, port) = match host_param {
            // As in libpq, the parameter wins over the URL's host.
            Some(host) => (host, None),
            None if authority.starts_with('/') => (authority, authority_port),
            None if authority.is_empty() => {
                return Err(Reason(format!("the host is missing; {FORMS}")))
            }
            None => parse_authority(&authority)?,
        };
        let port = port_param.or(port).unwrap_or(DEFAULT_PG_PORT);
        if host.starts_with('/') {
            return socket_dir(&host, Some(port), tls);
        }
        if host.is_empty() {
            return Err(Reason(format!("the host is missing; {FORMS}")));
        }
        if !host.contains(':') {
            check_host_name(&host)?;
        }
        Ok(Upstream { host, port, tls })
    }
}

/// A socket directory as the host (libpq: a host starting with `/`).
fn socket_dir(dir: &str, port: Option<u16>, tls: UpstreamTls) -> Result<Upstream, Reason> {
    if dir.contains('\0') {
        return Err(Reason::from("a socket directory must not contain NUL"));
    }
    Ok(Upstream {
        host: match dir.trim_end_matches('/') {
            "" => "/".to_owned(),
            trimmed => trimmed.to_owned(),
        },
        port: port.unwrap_or(DEFAULT_PG_PORT),
        tls,
    })
}

/// Splits `%2Fdir:PORT` (a percent-encoded socket directory and a port) into its two parts;
/// other authorities are returned whole.
fn split_encoded_socket_port(authority: &str) -> Result<(&str, Option<u16>), Reason> {
    let encoded_path = authority
        .get(..3)
        .is_some_and(|start| start.eq_ignore_ascii_case("%2F"));
    match authority.rsplit_once(':') {
        Some((dir, port)) if encoded_path => Ok((dir, Some(parse_port(port)?))),
        _ => Ok((authority, None)),
    }
}

/// Percent-decodes a URL component; the result must be UTF-8.
fn decode(text: &str) -> Result<String, Reason> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map(|text| text.into_owned())
        .map_err(|_| Reason(format!("{text:?} is not UTF-8 once percent-decoded")))
}

fn parse_port(port: &str) -> Result<u16, Reason> {
    match port.parse::<u16>() {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(Reason(format!(
            "port {port:?} is not a number from 1 to 65535"
        ))),
    }
}

/// Parses `HOST[:PORT]` with HOST a name, IPv4 address or `[IPv6]` address; the port is
/// `None` when absent.
fn parse_authority(authority: &str) -> Result<(String, Option<u16>), Reason> {
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
    let port = port.map(parse_port).transpose()?;
    Ok((host.to_owned(), port))
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
