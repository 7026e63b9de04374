//! [`TlsCluster`]: a throw-away cluster that accepts TLS only, with certificates from a
//! [`TestCa`] made for the test, the way managed PostgreSQL services are set up.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::certs::{Issued, TestCa};
use crate::cluster::Cluster;
use pgscope::embedded::ClusterOptions;

/// The password of [`TlsCluster::USER`].
pub const APP_PASSWORD: &str = "app s3cret";

/// A cluster with `ssl = on` whose `pg_hba.conf` accepts TLS only: `hostssl` for the superuser
/// (trust), [`TlsCluster::USER`] (SCRAM) and `certuser` (client certificate), and
/// `hostnossl … reject` for everything else on TCP. The Unix socket trusts the superuser.
#[derive(Debug)]
pub struct TlsCluster {
    /// The cluster.
    pub cluster: Cluster,
    /// The CA that issued its certificate (and can issue client certificates).
    pub ca: TestCa,
    /// Holds the server's copies of its certificate and key.
    _files: TempDir,
}

impl TlsCluster {
    /// The SCRAM role.
    pub const USER: &'static str = "app";
    /// The role that authenticates with a client certificate (`cert`).
    pub const CERT_USER: &'static str = "certuser";

    /// Starts a TLS-only cluster whose certificate names `names` (e.g. `localhost`,
    /// `127.0.0.1`).
    pub fn start(names: &[&str]) -> TlsCluster {
        let ca = TestCa::new("pgscope test server CA");
        let issued = ca.server("server", names);
        let files = server_files(&issued, ca.cert().as_path());
        let path = |name: &str| files.path().join(name).display().to_string();
        let settings = [
            ("ssl", "on".to_owned()),
            ("ssl_cert_file", path("server.crt")),
            ("ssl_key_file", path("server.key")),
            ("ssl_ca_file", path("ca.crt")),
            ("password_encryption", "scram-sha-256".to_owned()),
        ];
        let hba = [
            "local all postgres trust",
            "hostssl all postgres 127.0.0.1/32 trust",
            "hostssl all certuser 127.0.0.1/32 cert",
            "hostssl all all 127.0.0.1/32 scram-sha-256",
            "hostnossl all all 127.0.0.1/32 reject",
        ];
        let cluster = Cluster::start_with(ClusterOptions {
            settings: settings
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            hba: Some(hba.iter().map(|line| (*line).to_owned()).collect()),
            ..ClusterOptions::default()
        });
        cluster.psql(&format!(
            "CREATE ROLE {} LOGIN PASSWORD '{APP_PASSWORD}'; CREATE ROLE {} LOGIN",
            TlsCluster::USER,
            TlsCluster::CERT_USER
        ));
        TlsCluster {
            cluster,
            ca,
            _files: files,
        }
    }

    /// The cluster's port (on 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.cluster.port()
    }

    /// An upstream URL for pgscope: `postgres://HOST:PORT/?sslmode=MODE&sslrootcert=CA` plus
    /// `extra` (`&name=value…`).
    pub fn upstream(&self, host: &str, mode: &str, extra: &str) -> String {
        format!(
            "postgres://{host}:{}/?sslmode={mode}&sslrootcert={}{extra}",
            self.port(),
            self.ca.cert().display()
        )
    }
}

/// Copies the server's certificate, key and CA into a directory the server's OS user can read,
/// the key owned by that user with mode 0600 as PostgreSQL demands.
fn server_files(issued: &Issued, ca: &Path) -> TempDir {
    let dir = tempfile::Builder::new()
        .prefix("pgscope-server-tls-")
        .tempdir()
        .unwrap_or_else(|err| panic!("cannot create a temporary directory: {err}"));
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|err| panic!("cannot chmod {}: {err}", dir.path().display()));
    let copy = |from: &Path, name: &str, mode: u32| -> PathBuf {
        let to = dir.path().join(name);
        std::fs::copy(from, &to)
            .unwrap_or_else(|err| panic!("cannot copy {}: {err}", from.display()));
        std::fs::set_permissions(&to, std::fs::Permissions::from_mode(mode))
            .unwrap_or_else(|err| panic!("cannot chmod {}: {err}", to.display()));
        to
    };
    copy(&issued.cert, "server.crt", 0o644);
    copy(ca, "ca.crt", 0o644);
    let key = copy(&issued.key, "server.key", 0o600);
    // As root the server runs as `postgres` (see pgscope::embedded), which must own its key.
    if is_root(dir.path()) {
        let status = Command::new("chown")
            .arg("postgres")
            .arg(&key)
            .status()
            .unwrap_or_else(|err| panic!("cannot run chown: {err}"));
        assert!(status.success(), "chown postgres {} failed", key.display());
    }
    dir
}

/// Whether we run as root: a directory we just created is owned by our effective user (the
/// way `pgscope::embedded` tells, with no `unsafe` call to `geteuid`).
fn is_root(fresh_dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(fresh_dir).is_ok_and(|meta| meta.uid() == 0)
}
