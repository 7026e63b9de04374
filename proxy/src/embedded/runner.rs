//! Running PostgreSQL's programs as an OS user it accepts.
//!
//! PostgreSQL refuses to run as root. When we are root, the cluster's directory is handed to
//! the `postgres` OS user and every server program runs through `runuser -u postgres --`;
//! otherwise programs run as the current user. Whether we are root is read off a directory we
//! have just created: its owner is our effective user id, so no `unsafe` call to `geteuid` is
//! needed.

use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};

use super::EmbeddedError;

/// The OS user the server runs as when we are root.
pub(crate) const SERVER_USER: &str = "postgres";

/// How many bytes of a failed program's output an error keeps.
const OUTPUT_TAIL_BYTES: usize = 4000;

/// Who the server's programs run as.
#[derive(Debug, Clone)]
pub(crate) enum Runner {
    /// As the current (non-root) user.
    CurrentUser {
        /// Our effective user id.
        uid: u32,
    },
    /// As another user, through `runuser`, after the cluster's directory was given to it.
    OtherUser {
        /// The user's name.
        name: &'static str,
        /// Its user id.
        uid: u32,
    },
}

impl Runner {
    /// Picks the runner for a cluster in `dir`, a directory this process has just created,
    /// and when we are root gives `dir` to the server user.
    pub(crate) fn for_dir(dir: &Path) -> Result<Runner, EmbeddedError> {
        let meta = std::fs::metadata(dir).map_err(|cause| EmbeddedError::Io {
            action: "reading the owner of",
            path: dir.to_path_buf(),
            cause,
        })?;
        if meta.uid() != 0 {
            return Ok(Runner::CurrentUser { uid: meta.uid() });
        }
        let uid = id_of(SERVER_USER, "-u")?;
        let gid = id_of(SERVER_USER, "-g")?;
        std::os::unix::fs::chown(dir, Some(uid), Some(gid)).map_err(|cause| EmbeddedError::Io {
            action: "giving to the postgres user",
            path: dir.to_path_buf(),
            cause,
        })?;
        Ok(Runner::OtherUser {
            name: SERVER_USER,
            uid,
        })
    }

    /// A command that runs `program` as this runner's user, in `cwd` (a directory that user
    /// can enter: PostgreSQL's programs fail when they cannot read their working directory).
    pub(crate) fn command(&self, program: &Path, cwd: &Path) -> Command {
        let mut command = match self {
            Runner::CurrentUser { .. } => Command::new(program),
            Runner::OtherUser { name, .. } => {
                let mut command = Command::new("runuser");
                command.args(["-u", name, "--"]).arg(program);
                command
            }
        };
        // PostgreSQL speaks systemd's notification protocol too: with pgscope's NOTIFY_SOCKET
        // it would tell pgscope's unit READY=1 (before pgscope listens) and STOPPING=1.
        command
            .current_dir(cwd)
            .stdin(Stdio::null())
            .env_remove("NOTIFY_SOCKET");
        command
    }

    /// The user id the server's programs run as, and so the owner of the files they make.
    pub(crate) fn uid(&self) -> u32 {
        match self {
            Runner::CurrentUser { uid } | Runner::OtherUser { uid, .. } => *uid,
        }
    }
}

/// Runs `command` to completion and fails with the tail of its output unless it succeeded.
/// Returns what it printed on stdout.
pub(crate) fn run_checked(mut command: Command) -> Result<String, EmbeddedError> {
    let program = describe(&command);
    let output = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|cause| EmbeddedError::Spawn {
            program: program.clone(),
            cause,
        })?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        return Ok(stdout);
    }
    let mut text = stdout;
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Err(EmbeddedError::CommandFailed {
        program,
        status: output.status,
        output: tail(&text, OUTPUT_TAIL_BYTES).to_owned(),
    })
}

/// The program and its arguments, for error messages.
pub(crate) fn describe(command: &Command) -> String {
    let mut words = vec![command.get_program().to_string_lossy().into_owned()];
    words.extend(command.get_args().map(|a| a.to_string_lossy().into_owned()));
    words.join(" ")
}

/// The last `max` bytes of `text` (or all of it), cut at a character boundary.
pub(crate) fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    text.get(start..).unwrap_or(text)
}

/// The last `lines` lines of the file at `path` from byte `from` on, or a note saying why it
/// could not be read.
pub(crate) fn file_tail(path: &Path, from: usize, lines: usize) -> String {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) => return format!("(could not read {}: {err})", path.display()),
    };
    let text = String::from_utf8_lossy(bytes.get(from..).unwrap_or_default());
    let all: Vec<&str> = text.lines().collect();
    let keep = all.len().saturating_sub(lines);
    all.get(keep..).unwrap_or_default().join("\n")
}

/// Looks up a numeric id of `user` with `id FLAG user` (`-u` for the user id, `-g` for the
/// primary group id), which also sees users that live outside `/etc/passwd`.
fn id_of(user: &'static str, flag: &str) -> Result<u32, EmbeddedError> {
    let output = Command::new("id")
        .args([OsStr::new(flag), OsStr::new(user)])
        .output()
        .map_err(|cause| EmbeddedError::Spawn {
            program: format!("id {flag} {user}"),
            cause,
        })?;
    let text = String::from_utf8_lossy(&output.stdout);
    match text.trim().parse() {
        Ok(id) if output.status.success() => Ok(id),
        _ => Err(EmbeddedError::NoServerUser {
            user,
            detail: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_end_at_a_char_boundary() {
        assert_eq!(tail("hello", 10), "hello");
        assert_eq!(tail("hello", 2), "lo");
        assert_eq!(tail("aé", 1), "");
        assert_eq!(tail("aéb", 2), "b");
    }

    #[test]
    fn file_tail_reads_the_last_lines_after_an_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, "old\none\ntwo\nthree\n").unwrap();
        assert_eq!(file_tail(&path, 4, 2), "two\nthree");
        assert_eq!(file_tail(&path, 4, 10), "one\ntwo\nthree");
        assert!(file_tail(&dir.path().join("missing"), 0, 2).starts_with("(could not read"));
    }

    #[test]
    fn command_for_another_user_goes_through_runuser() {
        let runner = Runner::OtherUser {
            name: "postgres",
            uid: 1,
        };
        let command = runner.command(Path::new("/bin/initdb"), Path::new("/tmp"));
        assert_eq!(describe(&command), "runuser -u postgres -- /bin/initdb");
        let own =
            Runner::CurrentUser { uid: 1 }.command(Path::new("/bin/initdb"), Path::new("/tmp"));
        assert_eq!(describe(&own), "/bin/initdb");
    }
}
