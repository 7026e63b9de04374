//! The server a capture is replayed against (`pgscope replay --target URL`): a libpq URL that,
//! unlike the proxy's upstream, may carry the client's own settings.
//!
//! The proxy's [`Upstream`] refuses a user, password or database because it passes each
//! client's own through; a replay *is* the client, so its target takes them. What it accepts
//! beyond [`Upstream`]'s forms: `user[:password]@` before the host, a `/database` path, and the
//! `user`, `password`, `dbname` and `application_name` parameters. The rest of the URL (host,
//! port, socket directory, the `ssl*` parameters) is read by [`Upstream`]'s own parser, so TLS
//! to the target behaves exactly as TLS to the proxy's upstream.
//!
//! Each of user, database and application name, when given, replaces the captured session's
//! own for every replayed session; when absent, each session keeps what it was captured with.

use std::fmt;

use crate::recorder::Secret;
use crate::upstream::Upstream;

/// A parsed `--target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host, port and TLS settings.
    pub upstream: Upstream,
    /// Connect as this user instead of the captured one.
    pub user: Option<String>,
    /// The password (otherwise `PGPASSWORD` or the password file is used).
    pub password: Option<Secret>,
    /// Connect to this database instead of the captured one.
    pub dbname: Option<String>,
    /// Use this `application_name` instead of the captured one.
    pub application_name: Option<String>,
}

/// Why a target URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid target {url:?}: {reason}")]
pub struct TargetError {
    /// The URL as given, its password masked.
    pub url: String,
    /// What was wrong.
    pub reason: String,
}

impl Target {
    /// Parses a target URL (see the module documentation).
    pub fn parse(text: &str) -> Result<Target, TargetError> {
        let error = |reason: String| TargetError {
            url: mask_password(text),
            reason,
        };
        let mut target = Target {
            upstream: Upstream::tcp("localhost", crate::DEFAULT_PG_PORT),
            user: None,
            password: None,
            dbname: None,
            application_name: None,
        };
        let Some((scheme, rest)) = text.split_once("://") else {
            target.upstream = Upstream::parse(text).map_err(|r| error(r.0))?;
            return Ok(target);
        };
        let (rest, _fragment) = rest.split_once('#').unwrap_or((rest, ""));
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = match rest.find('/') {
            Some(slash) => rest.split_at(slash),
            None => (rest, ""),
        };
        let authority = match authority.rsplit_once('@') {
            Some((userinfo, host)) => {
                let (user, password) = match userinfo.split_once(':') {
                    Some((user, password)) => (user, Some(password)),
                    None => (userinfo, None),
                };
                if !user.is_empty() {
                    target.user = Some(decode(user).map_err(error)?);
                }
                if let Some(password) = password {
                    target.password = Some(Secret::new(decode(password).map_err(error)?));
                }
                host
            }
            None => authority,
        };
        let database = path.trim_start_matches('/');
        if !database.is_empty() {
            target.dbname = Some(decode(database).map_err(error)?);
        }
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decoded = || decode(value).map_err(error);
            match decode(name).map_err(error)?.as_str() {
                "user" => target.user = Some(decoded()?),
                "password" => target.password = Some(Secret::new(decoded()?)),
                "dbname" => target.dbname = Some(decoded()?),
                "application_name" => target.application_name = Some(decoded()?),
                _ => kept.push(pair),
            }
        }
        let mut upstream = format!("{scheme}://{authority}");
        if !kept.is_empty() {
            upstream.push('?');
            upstream.push_str(&kept.join("&"));
        }
        target.upstream = Upstream::parse(&upstream).map_err(|r| error(r.0))?;
        Ok(target)
    }
}

impl fmt::Display for Target {
    /// `user@host:port/database`, with what is set; never the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        write!(f, "{}", self.upstream)?;
        if let Some(dbname) = &self.dbname {
            write!(f, "/{dbname}")?;
        }
        Ok(())
    }
}

/// `text` with the password replaced by `***`, both where libpq takes one: a `user:password@`
/// part and a `password=` parameter.
fn mask_password(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            format!("{user}:***@{host}")
        }
        _ => authority.to_owned(),
    };
    let Some((path, query)) = tail.split_once('?') else {
        return format!("{scheme}://{authority}{tail}");
    };
    let (query, fragment) = query.split_once('#').unwrap_or((query, ""));
    let query = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some(("password", _)) => "password=***",
            _ => pair,
        })
        .collect::<Vec<_>>()
        .join("&");
    let fragment = if fragment.is_empty() {
        String::new()
    } else {
        format!("#{fragment}")
    };
    format!("{scheme}://{authority}{path}?{query}{fragment}")
}

fn decode(text: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map(|text| text.into_owned())
        .map_err(|_| format!("{text:?} is not UTF-8 once percent-decoded"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SslMode;

    #[test]
    fn an_error_never_shows_the_password_of_either_form() {
        for url in [
            "postgres://app:s3cret@db:5432/shop?sslmode=bogus",
            "postgres://app@db:5432/shop?password=s3cret&sslmode=bogus",
            "postgres://db/shop?sslmode=bogus&password=s3cret#x",
        ] {
            let error = Target::parse(url).unwrap_err().to_string();
            assert!(!error.contains("s3cret"), "{error}");
            assert!(error.contains("***"), "{error}");
        }
    }

    #[test]
    fn user_password_database_and_tls_parameters_are_all_read() {
        let target = Target::parse(
            "postgres://alice:s%40cret@db.example:5433/shop?sslmode=require&application_name=rp",
        )
        .unwrap();
        assert_eq!(target.user.as_deref(), Some("alice"));
        assert_eq!(target.password.as_ref().map(Secret::expose), Some("s@cret"));
        assert_eq!(target.dbname.as_deref(), Some("shop"));
        assert_eq!(target.application_name.as_deref(), Some("rp"));
        assert_eq!(target.upstream.host, "db.example");
        assert_eq!(target.upstream.port, 5433);
        assert_eq!(target.upstream.tls.mode, SslMode::Require);
        assert_eq!(target.to_string(), "alice@db.example:5433/shop");
    }

    #[test]
    fn a_bare_host_keeps_every_captured_setting() {
        let target = Target::parse("postgres://127.0.0.1:6000").unwrap();
        assert_eq!(target.user, None);
        assert_eq!(target.dbname, None);
        assert_eq!(target.upstream.port, 6000);
        let socket = Target::parse("postgres:///?host=/tmp&port=7000").unwrap();
        assert!(socket.upstream.socket_path().is_some());
    }

    #[test]
    fn errors_name_the_problem_and_never_show_the_password() {
        let error = Target::parse("postgres://bob:hunter2@db:99999/x").unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
        assert!(error.to_string().contains("99999"), "{error}");
        let error = Target::parse("postgres://db?sslmode=sometimes").unwrap_err();
        assert!(error.to_string().contains("sslmode"), "{error}");
    }
}
