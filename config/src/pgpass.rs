//! libpq's password file (`~/.pgpass`, or the file `PGPASSFILE` names), for clients pgscope
//! opens itself (`pgscope replay`).
//!
//! Each line is `hostname:port:database:username:password`; `*` in any of the first four
//! fields matches anything, `\` escapes `:` and `\`, `#` starts a comment line, and the first
//! matching line wins. As in libpq, a host that is a Unix-socket directory matches the
//! hostname `localhost`, and the file is ignored (with the reason returned, for a warning) when
//! group or others can read it.

use std::path::{Path, PathBuf};

/// What a password is looked up for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgpassKey<'a> {
    /// The host as connected to (a socket directory counts as `localhost`).
    pub host: &'a str,
    /// The port.
    pub port: u16,
    /// The database.
    pub database: &'a str,
    /// The user.
    pub user: &'a str,
}

/// A loaded password file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pgpass {
    entries: Vec<[String; 5]>,
}

impl Pgpass {
    /// The file libpq would read: `PGPASSFILE`, else `~/.pgpass`. `env` looks variables up.
    pub fn default_path(env: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
        env("PGPASSFILE")
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|home| PathBuf::from(home).join(".pgpass")))
    }

    /// Reads `path`. A missing file is an empty one; a file others may read is ignored
    /// as libpq ignores it, with a warning to show (`Err`).
    pub fn load(path: &Path) -> Result<Pgpass, String> {
        let metadata = match std::fs::metadata(path) {
            Ok(metadata) => metadata,
            Err(_) => return Ok(Pgpass::default()),
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if metadata.permissions().mode() & 0o077 != 0 {
                return Err(format!(
                    "password file \"{}\" has group or world access; permissions should be \
                     u=rw (0600) or less",
                    path.display()
                ));
            }
        }
        if !metadata.is_file() {
            return Err(format!(
                "password file \"{}\" is not a plain file",
                path.display()
            ));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read password file \"{}\": {e}", path.display()))?;
        Ok(Pgpass::parse(&text))
    }

    /// Parses the file's text; lines with fewer than five fields are skipped, as libpq does.
    pub fn parse(text: &str) -> Pgpass {
        let entries = text
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(split_line)
            .collect();
        Pgpass { entries }
    }

    /// The password of the first line matching `key`.
    pub fn find(&self, key: PgpassKey<'_>) -> Option<&str> {
        let host = if key.host.starts_with('/') {
            "localhost"
        } else {
            key.host
        };
        let port = key.port.to_string();
        let wanted = [host, port.as_str(), key.database, key.user];
        self.entries
            .iter()
            .find(|entry| {
                entry
                    .iter()
                    .zip(wanted)
                    .all(|(field, value)| field == "*" || field == value)
            })
            .map(|entry| entry[4].as_str())
    }
}

/// Splits a line on unescaped `:` into five unescaped fields (the last takes the rest).
fn split_line(line: &str) -> Option<[String; 5]> {
    let mut fields: Vec<String> = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    fields.last_mut()?.push(next);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut()?.push(c),
        }
    }
    fields.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key<'a>(host: &'a str, database: &'a str, user: &'a str) -> PgpassKey<'a> {
        PgpassKey {
            host,
            port: 5432,
            database,
            user,
        }
    }

    #[test]
    fn the_first_matching_line_wins_with_wildcards_and_escapes() {
        let file = Pgpass::parse(
            "# comment\n\
             db.example:5432:shop:alice:first\n\
             *:5432:*:alice:second\n\
             *:*:*:b\\:ob:pa\\:ss\\\\word\n\
             short:line\n",
        );
        assert_eq!(file.find(key("db.example", "shop", "alice")), Some("first"));
        assert_eq!(file.find(key("other", "x", "alice")), Some("second"));
        assert_eq!(file.find(key("other", "x", "b:ob")), Some("pa:ss\\word"));
        assert_eq!(file.find(key("other", "x", "carol")), None);
    }

    #[test]
    fn a_socket_directory_matches_localhost() {
        let file = Pgpass::parse("localhost:5432:*:alice:local\n");
        assert_eq!(file.find(key("/tmp", "db", "alice")), Some("local"));
    }

    #[test]
    fn a_file_others_can_read_is_ignored_with_a_reason() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pgpass");
        std::fs::write(&path, "*:*:*:*:pw\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = Pgpass::load(&path).unwrap_err();
        assert!(error.contains("0600"), "{error}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let file = Pgpass::load(&path).unwrap();
        assert_eq!(file.find(key("h", "d", "u")), Some("pw"));
        assert_eq!(
            Pgpass::load(&dir.path().join("absent")),
            Ok(Pgpass::default())
        );
    }
}
