//! systemd's notification protocol (`Type=notify`), as systemd sees it: each test binds the
//! Unix datagram socket systemd would, passes it to the real binary in `NOTIFY_SOCKET`, and
//! reads what arrives, in order — `READY=1` only once the proxy port accepts connections,
//! `RELOADING=1` (with the monotonic clock) and `READY=1` around each reload with a status
//! saying how it went, `STOPPING=1` when SIGTERM starts the drain, `MAINPID=` from the process
//! that takes over on a graceful upgrade, and nothing from the embedded PostgreSQL server.

use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::time::{clock_gettime, ClockId};
use pgscope_tests::{
    command_with_config, free_port, output_within, pgscope_bin, psql_command, wait_for_within,
    write_config, Cluster, CLIENT_TIMEOUT,
};

/// How long pgscope gets to send a message (the embedded cluster takes seconds to start).
const MESSAGE_WAIT: Duration = Duration::from_secs(30);

/// The socket systemd would listen on.
struct NotifySocket {
    socket: UnixDatagram,
    path: PathBuf,
}

impl NotifySocket {
    /// Binds `dir/notify.sock`, writable by anyone (the embedded cluster's server runs as
    /// another user when the tests run as root: it must be able to send, were it told to).
    fn bind(dir: &Path) -> NotifySocket {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
        NotifySocket { socket, path }
    }

    /// The next message, waiting up to `within`.
    /// A signal meant for another test of this process (they share one binary) can interrupt
    /// the wait: it is resumed with the time left.
    fn next_within(&self, within: Duration) -> Option<String> {
        let deadline = std::time::Instant::now() + within;
        let mut buf = vec![0u8; 4096];
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return None;
            }
            self.socket.set_read_timeout(Some(left)).unwrap();
            match self.socket.recv(&mut buf) {
                Ok(n) => return Some(String::from_utf8(buf[..n].to_vec()).unwrap()),
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => return None,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(err) => panic!("reading the notify socket: {err}"),
            }
        }
    }

    /// The next message; panics with `log` if none comes within [`MESSAGE_WAIT`].
    fn next(&self, log: &Path) -> String {
        self.next_within(MESSAGE_WAIT).unwrap_or_else(|| {
            panic!(
                "no notification within {MESSAGE_WAIT:?}; log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            )
        })
    }
}

/// The `KEY=value` lines of a message, in order.
fn fields(message: &str) -> Vec<(&str, &str)> {
    message
        .lines()
        .map(|line| line.split_once('=').unwrap_or((line, "")))
        .collect()
}

/// `CLOCK_MONOTONIC` in microseconds, as systemd reads `MONOTONIC_USEC`.
fn monotonic_usec() -> i64 {
    let now = clock_gettime(ClockId::CLOCK_MONOTONIC).unwrap();
    now.tv_sec() * 1_000_000 + now.tv_nsec() / 1_000
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([name, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn exits_zero(child: &mut Child, log: &Path) {
    wait_for_within("pgscope did not exit", Duration::from_secs(40), || {
        child.try_wait().unwrap().is_some()
    });
    let status = child.wait().unwrap();
    assert!(
        status.success(),
        "pgscope exited with {status}; log:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

fn select_one(port: u16) {
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let output = output_within(psql_command(&url).args(["-c", "SELECT 1"]), CLIENT_TIMEOUT);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The reload protocol: `RELOADING=1` with a `MONOTONIC_USEC` taken between `before` and now,
/// then `READY=1` with a status; returns the status.
fn reload_messages(notify: &NotifySocket, log: &Path, before: i64) -> String {
    let reloading = notify.next(log);
    let after = monotonic_usec();
    let reloading = fields(&reloading);
    assert_eq!(reloading[0], ("RELOADING", "1"), "{reloading:?}");
    assert_eq!(reloading[1].0, "MONOTONIC_USEC", "{reloading:?}");
    let usec: i64 = reloading[1].1.parse().unwrap();
    assert!(
        (before..=after).contains(&usec),
        "MONOTONIC_USEC={usec} is not between {before} and {after}"
    );
    let ready = notify.next(log);
    let ready = fields(&ready);
    assert_eq!(ready[0], ("READY", "1"), "{ready:?}");
    assert_eq!(ready[1].0, "STATUS", "{ready:?}");
    ready[1].1.to_owned()
}

#[test]
fn ready_reloading_and_stopping_reach_systemd_in_order() {
    let cluster = Cluster::start();
    let dir = tempfile::tempdir().unwrap();
    let (config, log) = (
        dir.path().join("pgscope.toml"),
        dir.path().join("pgscope.log"),
    );
    let (port, admin) = (free_port(), format!("127.0.0.1:{}", free_port()));
    write_config(&config, port, &admin, cluster.port(), "");
    let notify = NotifySocket::bind(dir.path());
    let mut child = command_with_config(&config, &log, &[])
        .env("NOTIFY_SOCKET", &notify.path)
        .spawn()
        .unwrap();

    // READY=1 once the proxy port and the admin port accept connections.
    let ready = notify.next(&log);
    TcpStream::connect(("127.0.0.1", port)).expect("READY=1 came before the proxy port listened");
    TcpStream::connect(&admin).expect("READY=1 came before the admin port listened");
    let ready = fields(&ready);
    assert_eq!(ready[0], ("READY", "1"), "{ready:?}");
    assert_eq!(ready[1].0, "STATUS");
    assert!(
        ready[1]
            .1
            .starts_with(&format!("proxying 127.0.0.1:{port} -> ")),
        "{ready:?}"
    );
    assert_eq!(ready.len(), 2, "{ready:?}");
    select_one(port);

    // A reload that applies.
    write_config(
        &config,
        port,
        &admin,
        cluster.port(),
        "log_level = \"debug\"\n",
    );
    let before = monotonic_usec();
    signal(&child, "-HUP");
    let status = reload_messages(&notify, &log, before);
    assert!(
        status.starts_with("configuration reloaded: log_level info -> debug"),
        "{status}"
    );

    // A reload that fails: systemd is told it is over, and why nothing changed.
    std::fs::write(&config, "listen = [\n").unwrap();
    let before = monotonic_usec();
    signal(&child, "-HUP");
    let status = reload_messages(&notify, &log, before);
    assert!(
        status.starts_with("configuration reload failed, the running configuration is kept: "),
        "{status}"
    );
    select_one(port);

    // SIGTERM: STOPPING=1 as the drain starts, then a clean exit and nothing more.
    signal(&child, "-TERM");
    let stopping = notify.next(&log);
    let stopping = fields(&stopping);
    assert_eq!(stopping[0], ("STOPPING", "1"), "{stopping:?}");
    assert!(
        stopping[1].1.starts_with("shutting down: draining"),
        "{stopping:?}"
    );
    exits_zero(&mut child, &log);
    assert_eq!(notify.next_within(Duration::from_millis(300)), None);
}

#[test]
fn the_process_taking_over_on_upgrade_tells_systemd_it_is_the_main_pid() {
    let cluster = Cluster::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("pgscope.toml");
    let (old_log, new_log) = (dir.path().join("old.log"), dir.path().join("new.log"));
    let (port, admin) = (free_port(), format!("127.0.0.1:{}", free_port()));
    write_config(
        &config,
        port,
        &admin,
        cluster.port(),
        "shutdown_grace = \"5s\"\n",
    );
    let notify = NotifySocket::bind(dir.path());
    let mut old = command_with_config(&config, &old_log, &[])
        .env("NOTIFY_SOCKET", &notify.path)
        .spawn()
        .unwrap();
    let ready = notify.next(&old_log);
    assert_eq!(fields(&ready)[0], ("READY", "1"), "{ready}");

    let mut new = command_with_config(&config, &new_log, &["--upgrade"])
        .env("NOTIFY_SOCKET", &notify.path)
        .spawn()
        .unwrap();
    // Waiting for the sockets is not being ready.
    assert_eq!(notify.next_within(Duration::from_millis(700)), None);
    signal(&old, "-QUIT");
    let took_over = notify.next(&new_log);
    let took_over = fields(&took_over);
    let pid = new.id().to_string();
    assert_eq!(took_over[0], ("MAINPID", pid.as_str()), "{took_over:?}");
    assert_eq!(took_over[1], ("READY", "1"), "{took_over:?}");
    select_one(port);

    // The old process drains and exits without telling systemd the service stops.
    exits_zero(&mut old, &old_log);
    assert_eq!(notify.next_within(Duration::from_millis(300)), None);
    select_one(port);
    signal(&new, "-TERM");
    let stopping = notify.next(&new_log);
    assert_eq!(fields(&stopping)[0], ("STOPPING", "1"), "{stopping}");
    exits_zero(&mut new, &new_log);
}

#[test]
fn the_embedded_cluster_does_not_notify_for_pgscope() {
    let dir = tempfile::tempdir().unwrap();
    // The cluster's server may run as another user: it could reach the socket here.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let log = dir.path().join("pgscope.log");
    let port = free_port();
    let notify = NotifySocket::bind(dir.path());
    let log_file = std::fs::File::create(&log).unwrap();
    let mut child = Command::new(pgscope_bin())
        .args(["run", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--admin", &format!("127.0.0.1:{}", free_port())])
        .env("TMPDIR", dir.path())
        .env("NOTIFY_SOCKET", &notify.path)
        .env_remove("PGSCOPE_UPSTREAM")
        .env_remove("PGSCOPE_CONFIG")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::from(log_file.try_clone().unwrap()))
        .stderr(Stdio::from(log_file))
        .spawn()
        .unwrap();

    // The first message is pgscope's, sent once it proxies to the running cluster.
    let ready = notify.next(&log);
    let ready = fields(&ready);
    assert_eq!(ready[0], ("READY", "1"), "{ready:?}");
    assert!(ready[1].1.starts_with("proxying "), "{ready:?}");
    select_one(port);
    signal(&child, "-TERM");
    let stopping = notify.next(&log);
    assert_eq!(fields(&stopping)[0], ("STOPPING", "1"), "{stopping}");
    exits_zero(&mut child, &log);
    // Nothing from the server as it stopped either.
    assert_eq!(notify.next_within(Duration::from_millis(500)), None);
}

/// Whether process `pid` is gone (or a zombie nobody has reaped yet).
fn gone(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z'))
    })
}

#[test]
fn sigusr2_starts_the_successor_inside_the_service_and_hands_over_to_it() {
    let cluster = Cluster::start();
    let dir = tempfile::tempdir().unwrap();
    let (config, log) = (
        dir.path().join("pgscope.toml"),
        dir.path().join("pgscope.log"),
    );
    let (port, admin) = (free_port(), format!("127.0.0.1:{}", free_port()));
    write_config(
        &config,
        port,
        &admin,
        cluster.port(),
        "shutdown_grace = \"5s\"\n",
    );
    let notify = NotifySocket::bind(dir.path());
    let mut old = command_with_config(&config, &log, &[])
        .env("NOTIFY_SOCKET", &notify.path)
        .spawn()
        .unwrap();
    let ready = notify.next(&log);
    assert_eq!(fields(&ready)[0], ("READY", "1"), "{ready}");

    // A successor that cannot start (its configuration is broken now): nothing is handed
    // over and the running process carries on.
    std::fs::write(&config, "listen = [\n").unwrap();
    signal(&old, "-USR2");
    wait_for_within(
        "the failed successor was not reported",
        Duration::from_secs(15),
        || {
            std::fs::read_to_string(&log)
                .unwrap()
                .contains("no handover")
        },
    );
    assert_eq!(notify.next_within(Duration::from_millis(300)), None);
    assert!(old.try_wait().unwrap().is_none());
    select_one(port);

    // With a good configuration: the successor, a child of this process, takes over.
    write_config(
        &config,
        port,
        &admin,
        cluster.port(),
        "shutdown_grace = \"5s\"\n",
    );
    signal(&old, "-USR2");
    let took_over = notify.next(&log);
    let took_over = fields(&took_over);
    assert_eq!(took_over[0].0, "MAINPID", "{took_over:?}");
    let pid = took_over[0].1.to_owned();
    assert_ne!(pid, old.id().to_string());
    assert_eq!(took_over[1], ("READY", "1"), "{took_over:?}");
    let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(cmdline.split('\0').any(|a| a == "--upgrade"), "{cmdline:?}");
    select_one(port);
    exits_zero(&mut old, &log);
    assert_eq!(notify.next_within(Duration::from_millis(300)), None);
    select_one(port);

    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let stopping = notify.next(&log);
    assert_eq!(fields(&stopping)[0], ("STOPPING", "1"), "{stopping}");
    wait_for_within(
        "the successor did not exit",
        Duration::from_secs(20),
        || gone(&pid),
    );
}
