//! Capture (issue 24) against real things: a cluster with a SCRAM role, pgscope started from a
//! config file with an admin token, captures started and stopped through the admin API while
//! psql, pgbench and psycopg run through pgscope; the files read back with the capture reader
//! and `pgscope capture inspect`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use pgscope::cli::report::client::AdminClient;
use pgscope_capture::{EndReason, Reader, Record};
use pgscope_tests::{
    free_port, output_within, psql_command, python_ok, run_with_config, wait_for, wait_for_within,
    write_config, Cluster, ClusterOptions, CLIENT_TIMEOUT,
};
use serde_json::{json, Value};

const TOKEN: &str = "capture-test-token";
/// The SCRAM role's password: it must appear in no capture.
const PASSWORD: &str = "pw-Kx9-capture-secret";

/// A cluster whose `app` role logs in with SCRAM, and pgscope in front of it.
struct Setup {
    cluster: Cluster,
    child: Child,
    dir: tempfile::TempDir,
    admin_addr: String,
    port: u16,
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Setup {
    fn start() -> Setup {
        Setup::start_with(|_| String::new())
    }

    /// With `extra(dir)` appended to the config file (`dir`: the test's directory).
    fn start_with(extra: impl Fn(&Path) -> String) -> Setup {
        let cluster = Cluster::start_with(ClusterOptions {
            hba: Some(vec![
                "local all postgres trust".to_owned(),
                "host all postgres 127.0.0.1/32 trust".to_owned(),
                "host all app 127.0.0.1/32 scram-sha-256".to_owned(),
            ]),
            ..ClusterOptions::default()
        });
        cluster.psql(&format!(
            "SET password_encryption = 'scram-sha-256'; CREATE ROLE app LOGIN PASSWORD '{PASSWORD}'; \
             CREATE TABLE items (id int PRIMARY KEY, label text, price numeric); \
             GRANT ALL ON items TO app"
        ));
        // pgbench's tables, loaded directly (not through pgscope).
        let mut init = Command::new(cluster.bin("pgbench"));
        init.args(["-i", "-q", "-s", "1"]).arg(cluster.url());
        let output = output_within(&mut init, Duration::from_secs(120));
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let dir = tempfile::tempdir().unwrap();
        let (admin_addr, port) = (format!("127.0.0.1:{}", free_port()), free_port());
        let config = dir.path().join("pgscope.toml");
        write_config(
            &config,
            port,
            &admin_addr,
            cluster.port(),
            &format!("admin_token = \"{TOKEN}\"\n{}", extra(dir.path())),
        );
        let child = run_with_config(&config, &dir.path().join("pgscope.log"), &[]);
        let setup = Setup {
            cluster,
            child,
            dir,
            admin_addr,
            port,
        };
        let admin = setup.admin();
        wait_for("pgscope did not start", || admin.get("/healthz").is_ok());
        setup
    }

    fn admin(&self) -> AdminClient {
        AdminClient::new(&self.admin_addr, Some(TOKEN.to_owned()))
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pgscope.log")).unwrap_or_default()
    }

    fn url(&self, user: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/postgres", self.port)
    }

    fn start_capture(&self, body: Value) -> Value {
        let reply = self
            .admin()
            .post_json("/api/v1/capture", body.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("starting the capture: {e}\n{}", self.log()));
        serde_json::from_slice(&reply).unwrap()
    }

    fn stop_capture(&self) -> Value {
        let reply = self.admin().delete("/api/v1/capture").unwrap();
        serde_json::from_slice::<Value>(&reply).unwrap()["capture"].clone()
    }

    fn status(&self) -> Value {
        serde_json::from_slice(&self.admin().get("/api/v1/capture").unwrap()).unwrap()
    }

    /// psql as `app` (SCRAM) with `sql`.
    fn psql_app(&self, sql: &str) {
        let mut command = psql_command(&self.url("app"));
        command.args(["-X", "-c", sql]).env("PGPASSWORD", PASSWORD);
        let output = output_within(&mut command, CLIENT_TIMEOUT);
        assert!(
            output.status.success(),
            "psql: {}\n{}",
            String::from_utf8_lossy(&output.stderr),
            self.log()
        );
    }

    fn pgbench(&self, args: &[&str]) -> String {
        let mut command = Command::new(self.cluster.bin("pgbench"));
        command.args(args).arg(self.url("postgres"));
        let output = output_within(&mut command, Duration::from_secs(120));
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "pgbench {args:?}: {stdout}\n{}\n{}",
            String::from_utf8_lossy(&output.stderr),
            self.log()
        );
        stdout
    }

    /// A psycopg application as `app`: bound parameters, executemany, COPY, a pipeline and a
    /// failing statement.
    fn psycopg(&self, label: &str) {
        let script = format!(
            r#"
import psycopg
with psycopg.connect("{url}", password="{PASSWORD}", application_name="shop") as conn:
    cur = conn.cursor()
    cur.execute("SELECT %s::text, %s::int", ("{label}-bound", 4242))
    cur.executemany("INSERT INTO items VALUES (%s, %s, %s)",
                    [(i, "{label}-many-%d" % i, 9.5) for i in range(1, 4)])
    with cur.copy("COPY items (id, label, price) FROM STDIN") as copy:
        copy.write_row((10, "{label}-copied", 1.25))
    with conn.pipeline():
        cur.execute("SELECT label FROM items WHERE id = %s", (10,))
        cur.execute("UPDATE items SET price = %s WHERE id = %s", (2.5, 1))
    conn.commit()
    try:
        cur.execute("SELECT * FROM missing_table WHERE x = %s", ("{label}-failing",))
    except psycopg.errors.UndefinedTable:
        conn.rollback()
"#,
            url = self.url("app")
        );
        python_ok(&script, &self.log());
    }
}

/// Every record of the capture at `path`, its trailer's reason.
fn read(path: &Path) -> (Vec<Record>, Option<EndReason>) {
    let mut reader = Reader::open(path).unwrap();
    let records: Vec<Record> = reader.by_ref().map(Result::unwrap).collect();
    let reason = reader.trailer().map(|t| t.reason);
    (records, reason)
}

/// Every byte the capture's records carry: frontend bodies and session labels and parameters.
fn carried_bytes(records: &[Record]) -> Vec<u8> {
    let mut all = Vec::new();
    for r in records {
        match r {
            Record::Frontend(m) => all.extend_from_slice(&m.body),
            Record::SessionStart(s) => {
                for (k, v) in s.parameters.iter().chain(&s.server_parameters) {
                    all.extend_from_slice(k.as_bytes());
                    all.extend_from_slice(v.as_bytes());
                }
                all.extend_from_slice(s.user.as_bytes());
            }
            _ => {}
        }
        all.push(b'\n');
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn inspect(path: &Path) -> std::process::Output {
    let mut command = Command::new(pgscope_tests::pgscope_bin());
    command.args(["capture", "inspect"]).arg(path);
    output_within(&mut command, CLIENT_TIMEOUT)
}

#[test]
fn a_capture_records_real_clients_after_authentication_and_never_a_password() {
    let setup = Setup::start();
    let path = setup.dir.path().join("traffic.pgcap");
    // Without the token: refused.
    let anonymous = AdminClient::new(&setup.admin_addr, None);
    assert!(anonymous.get("/api/v1/capture").is_err());
    assert_eq!(setup.status()["state"], "idle");
    let started = setup.start_capture(json!({"path": path, "duration": "5m"}));
    assert_eq!(started["capture"]["state"], "running", "{started}");
    // A second start is refused while one runs.
    let again = setup
        .admin()
        .post_json(
            "/api/v1/capture",
            json!({"path": path}).to_string().as_bytes(),
        )
        .unwrap_err();
    assert!(again.to_string().contains("409"), "{again}");

    setup.psql_app("SELECT 'psql-literal-7731' AS label, 98765 AS n");
    setup.pgbench(&["-n", "-S", "-T", "2", "-c", "2", "-M", "extended"]);
    setup.psycopg("plain");
    let running = setup.status();
    assert!(
        running["capture"]["sessions"].as_u64().unwrap() >= 1,
        "{running}"
    );
    let stopped = setup.stop_capture();
    assert_eq!(stopped["reason"], "stopped", "{stopped}");
    assert_eq!(setup.status()["state"], "idle");

    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let (records, reason) = read(&path);
    assert_eq!(reason, Some(EndReason::Stopped));
    let users: Vec<&str> = records
        .iter()
        .filter_map(|r| match r {
            Record::SessionStart(s) => Some(s.user.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        users.contains(&"app") && users.contains(&"postgres"),
        "{users:?}"
    );
    let shop = records.iter().any(|r| {
        matches!(r, Record::SessionStart(s) if s.application_name == "shop"
            && s.server_parameters.iter().any(|(n, _)| n == "server_version"))
    });
    assert!(
        shop,
        "the psycopg session with its application and server parameters"
    );
    let tags: std::collections::BTreeSet<char> = records
        .iter()
        .filter_map(|r| match r {
            Record::Frontend(m) => Some(char::from(m.tag)),
            _ => None,
        })
        .collect();
    for tag in ['Q', 'P', 'B', 'E', 'S', 'd', 'c', 'X'] {
        assert!(tags.contains(&tag), "no {tag} message in {tags:?}");
    }
    let bytes = carried_bytes(&records);
    for literal in [
        "psql-literal-7731",
        "plain-bound",
        "plain-copied",
        "plain-failing",
    ] {
        assert!(contains(&bytes, literal), "{literal} not captured");
    }
    let errors = records
        .iter()
        .filter(|r| matches!(r, Record::Outcome(o) if o.status == pgscope_capture::Status::Error(*b"42P01")))
        .count();
    assert_eq!(
        errors, 1,
        "the failing statement's SQLSTATE is the baseline"
    );
    // No password and no authentication message anywhere: not in the records, not in the file.
    assert!(!contains(&bytes, PASSWORD));
    assert!(!contains(&std::fs::read(&path).unwrap(), PASSWORD));
    assert!(
        !tags.contains(&'p'),
        "an authentication message (p) was captured"
    );

    let output = inspect(&path);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("closed (stopped)"), "{text}");
    assert!(text.contains("\"app\""), "{text}");
    assert!(
        text.contains("select abalance from pgbench_accounts where aid = $1"),
        "{text}"
    );
    assert!(text.contains("dropped: none"), "{text}");
    assert!(text.contains("statements per second:"), "{text}");

    truncated_and_corrupt_copies_of(&path, setup.dir.path());
}

/// A copy cut mid-block reads up to its last complete record with a clear message; a flipped
/// byte and another format version are errors.
fn truncated_and_corrupt_copies_of(path: &Path, dir: &Path) {
    let bytes = std::fs::read(path).unwrap();
    let cut = dir.join("cut.pgcap");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let output = inspect(&cut);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("TRUNCATED: capture file truncated"), "{text}");
    let mut reader = Reader::open(&cut).unwrap();
    let mut read = 0;
    let error = loop {
        match reader.next_record() {
            Ok(Some(_)) => read += 1,
            Ok(None) => panic!("a cut file ended cleanly"),
            Err(e) => break e,
        }
    };
    assert!(error.is_truncation() && read > 0, "{error} after {read}");

    let corrupt = dir.join("corrupt.pgcap");
    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x55;
    std::fs::write(&corrupt, &flipped).unwrap();
    let output = inspect(&corrupt);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("corrupt"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let other = dir.join("version.pgcap");
    let mut version = bytes;
    version[8] = 9;
    std::fs::write(&other, &version).unwrap();
    let output = inspect(&other);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("version 9 is not supported"), "{stderr}");
}

#[test]
fn a_redacted_capture_holds_none_of_the_workload_literals() {
    let setup = Setup::start();
    let path = setup.dir.path().join("redacted.pgcap");
    setup.start_capture(json!({"path": path, "redact": true, "user": ["app"]}));
    setup.psql_app(
        "SELECT 'zebra-secret' AS a, 918273645 AS b, E'esc\\'aped-secret' AS c /* comment-secret */",
    );
    setup.psycopg("redactme");
    // Not captured: another user.
    setup.pgbench(&["-n", "-S", "-t", "5"]);
    let stopped = setup.stop_capture();
    assert_eq!(stopped["redact"], true);
    let (records, _) = read(&path);
    assert!(Reader::open(&path).unwrap().header().redacted);
    assert!(records
        .iter()
        .all(|r| !matches!(r, Record::SessionStart(s) if s.user != "app")));
    let bytes = carried_bytes(&records);
    for literal in [
        "zebra-secret",
        "918273645",
        "aped-secret",
        "comment-secret",
        "redactme",
        "4242",
        PASSWORD,
    ] {
        assert!(!contains(&bytes, literal), "{literal} survived redaction");
    }
    assert!(!contains(&std::fs::read(&path).unwrap(), "zebra-secret"));
    // The shapes survive: the statements and their fingerprints are there.
    assert!(contains(&bytes, "INSERT INTO items VALUES ($1, $2, $3)"));
    let output = inspect(&path);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains(", redacted"), "{text}");
    assert!(
        text.contains("insert into items values ($1, $2, $3)"),
        "{text}"
    );
}

#[test]
fn a_capture_reaching_max_bytes_stops_cleanly_while_traffic_flows_on() {
    let setup = Setup::start();
    let dir: PathBuf = setup.dir.path().join("captures");
    std::fs::create_dir(&dir).unwrap();
    let max = 16 * 1024;
    let started = setup.start_capture(json!({"directory": dir, "max_bytes": max}));
    let path = PathBuf::from(started["capture"]["path"].as_str().unwrap());
    assert!(path.starts_with(&dir), "{started}");
    let out = setup.pgbench(&["-n", "-S", "-T", "3", "-c", "2"]);
    assert!(out.contains("tps"), "{out}");
    wait_for_within(
        "the capture did not end at max_bytes",
        Duration::from_secs(10),
        || setup.status()["state"] == "idle",
    );
    let last = setup.status()["last"].clone();
    assert_eq!(last["reason"], "max_bytes", "{last}");
    assert!(last["over_limit"].as_u64().unwrap() > 0, "{last}");
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size <= max, "{size} > {max}");
    let (records, reason) = read(&path);
    assert_eq!(reason, Some(EndReason::MaxBytes));
    assert!(records.len() > 10);
    // Traffic went on after the capture ended.
    setup.pgbench(&["-n", "-S", "-t", "10"]);
}

#[test]
fn a_capture_section_starts_a_capture_with_the_process_that_ends_at_its_duration() {
    let setup = Setup::start_with(|dir| {
        format!(
            "[capture]\nenabled = true\npath = \"{}\"\nduration = \"3s\"\ndatabase = [\"postgres\"]\n",
            dir.join("startup.pgcap").display()
        )
    });
    assert_eq!(setup.status()["state"], "running", "{}", setup.log());
    setup.pgbench(&["-n", "-S", "-t", "20"]);
    wait_for_within(
        "the capture did not end at its duration",
        Duration::from_secs(15),
        || setup.status()["state"] == "idle",
    );
    let last = setup.status()["last"].clone();
    assert_eq!(last["reason"], "duration", "{last}");
    let (records, reason) = read(&setup.dir.path().join("startup.pgcap"));
    assert_eq!(reason, Some(EndReason::Duration));
    let outcomes = records
        .iter()
        .filter(|r| matches!(r, Record::Outcome(_)))
        .count();
    assert!(outcomes >= 20, "{outcomes} statements captured");
}

#[test]
fn an_unredacted_capture_never_writes_a_password_set_by_a_statement() {
    let setup = Setup::start();
    let path = setup.dir.path().join("passwords.pgcap");
    setup.start_capture(json!({"path": path}));
    let passwords = ["pw-altered-5521", "pw-created-5521", "pw-psycopg-5521"];
    let mut psql = psql_command(&setup.url("postgres"));
    psql.args([
        "-X",
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        "SELECT 'kept-literal-5521'",
        "-c",
        "ALTER ROLE app PASSWORD 'pw-altered-5521'",
        "-c",
        "CREATE ROLE other LOGIN ENCRYPTED PASSWORD 'pw-created-5521'",
    ]);
    let output = output_within(&mut psql, CLIENT_TIMEOUT);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The extended protocol (Parse, Bind, Execute) of psycopg.
    let script = format!(
        r#"
import psycopg
with psycopg.connect("{url}", autocommit=True) as conn:
    conn.execute("ALTER ROLE other PASSWORD 'pw-psycopg-5521'", prepare=True)
"#,
        url = setup.url("postgres")
    );
    python_ok(&script, "");
    setup.stop_capture();
    let (records, _) = read(&path);
    assert!(!Reader::open(&path).unwrap().header().redacted);
    let bytes = carried_bytes(&records);
    let file = std::fs::read(&path).unwrap();
    for password in passwords {
        assert!(!contains(&bytes, password), "{password} captured");
        assert!(!contains(&file, password), "{password} in the file");
    }
    // The statements are there (redacted), and other literals are not redacted.
    assert!(contains(&bytes, "ALTER ROLE app PASSWORD '"));
    assert!(contains(&bytes, "ALTER ROLE other PASSWORD '"));
    assert!(contains(&bytes, "kept-literal-5521"));
}
