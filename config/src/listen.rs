//! Where pgscope listens: one or more TCP addresses and Unix-domain sockets.
//!
//! `listen` is a comma-separated list (or a TOML array) of entries. An entry starting with `/`
//! is a Unix socket: either a directory, where pgscope creates `.s.PGSQL.PORT` as PostgreSQL
//! does (so `psql -h /run/pgscope -p PORT` finds it), PORT being the port of the first TCP entry
//! or 6432 when there is none; or the socket file itself when its name is `.s.PGSQL.N`. Any other
//! entry is a TCP address (see [`crate::parse::socket_addr`]).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::parse::{socket_addr, Reason};
use crate::raw::RawValue;

/// The port of a socket directory's file when no TCP address gives one.
pub const DEFAULT_LISTEN_PORT: u16 = 6432;

/// One place clients connect to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ListenAddr {
    /// A TCP address.
    Tcp(SocketAddr),
    /// A Unix-domain socket file.
    Unix(PathBuf),
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Tcp(addr) => write!(f, "{addr}"),
            ListenAddr::Unix(path) => write!(f, "{}", path.display()),
        }
    }
}

/// `listen`: the list of entries.
pub(crate) fn listen(value: &RawValue) -> Result<Vec<ListenAddr>, Reason> {
    const LIST: &str =
        "expected HOST:PORT or a socket directory, or a comma-separated list of them";
    let entries: Vec<String> = match value {
        RawValue::Text(text) => text.split(',').map(|e| e.trim().to_owned()).collect(),
        RawValue::Toml(toml::Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| Reason::from(LIST))
            })
            .collect::<Result<_, _>>()?,
        RawValue::Toml(_) => return Err(Reason::from(LIST)),
    };
    if entries.is_empty() || entries.iter().any(String::is_empty) {
        return Err(Reason::from(LIST));
    }
    let mut tcp_port = None;
    let mut parsed = Vec::with_capacity(entries.len());
    for entry in &entries {
        if entry.starts_with('/') {
            parsed.push(None);
        } else {
            let addr = socket_addr(&RawValue::Text(entry.clone()))?;
            tcp_port.get_or_insert(addr.port());
            parsed.push(Some(ListenAddr::Tcp(addr)));
        }
    }
    let port = tcp_port.filter(|p| *p != 0).unwrap_or(DEFAULT_LISTEN_PORT);
    let mut out: Vec<ListenAddr> = Vec::with_capacity(entries.len());
    for (entry, parsed) in entries.iter().zip(parsed) {
        let addr = match parsed {
            Some(addr) => addr,
            None => ListenAddr::Unix(socket_file(entry, port)),
        };
        if out.contains(&addr) {
            return Err(Reason(format!("{addr} is listed twice")));
        }
        out.push(addr);
    }
    Ok(out)
}

/// The socket file of an entry: the entry itself if named `.s.PGSQL.N`, else `DIR/.s.PGSQL.PORT`.
fn socket_file(entry: &str, port: u16) -> PathBuf {
    let path = PathBuf::from(entry);
    let is_socket_name = path
        .file_name()
        .and_then(|name| name.to_str())
        .and_then(|name| name.strip_prefix(".s.PGSQL."))
        .is_some_and(|n| n.parse::<u16>().is_ok());
    if is_socket_name {
        path
    } else {
        path.join(format!(".s.PGSQL.{port}"))
    }
}
