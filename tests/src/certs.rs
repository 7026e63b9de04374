//! [`TestCa`]: a certificate authority made at test time with the `openssl` command line, and the
//! server and client certificates it issues. Nothing is committed: every key is generated in the
//! CA's own temporary directory and deleted with it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;
use tempfile::TempDir;

/// A throw-away CA (an EC P-256 key and a self-signed certificate) in its own temporary
/// directory. The files are readable by everyone but the keys (0600), so a test can hand them to
/// a PostgreSQL server running as another OS user after copying or chowning them.
#[derive(Debug)]
pub struct TestCa {
    dir: TempDir,
    name: String,
}

/// A certificate and its private key, as PEM files.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM, PKCS#8, mode 0600).
    pub key: PathBuf,
}

impl TestCa {
    /// A new CA whose subject is `CN=<name>`. Panics with openssl's stderr if it fails.
    pub fn new(name: &str) -> TestCa {
        let dir = tempfile::Builder::new()
            .prefix("pgscope-ca-")
            .tempdir()
            .unwrap_or_else(|err| panic!("cannot create a temporary directory: {err}"));
        let ca = TestCa {
            dir,
            name: name.to_owned(),
        };
        let key = ca.path("ca.key");
        new_key(&key);
        openssl_args(&[
            "req",
            "-x509",
            "-new",
            "-key",
            path_str(&key),
            "-subj",
            &format!("/CN={name}"),
            "-days",
            "2",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-out",
            path_str(&ca.cert()),
        ]);
        ca
    }

    /// The CA certificate (PEM): what a client names as `sslrootcert`.
    pub fn cert(&self) -> PathBuf {
        self.path("ca.crt")
    }

    /// The CA's directory, where issued files are written.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Issues a server certificate for `names` (DNS names or IP addresses, the first also the
    /// common name), written as `<file>.crt` / `<file>.key`.
    pub fn server(&self, file: &str, names: &[&str]) -> Issued {
        let san = names
            .iter()
            .map(|name| {
                if name.parse::<std::net::IpAddr>().is_ok() {
                    format!("IP:{name}")
                } else {
                    format!("DNS:{name}")
                }
            })
            .collect::<Vec<_>>()
            .join(",");
        self.issue(
            file,
            names.first().copied().unwrap_or("server"),
            &format!("subjectAltName={san}\nextendedKeyUsage=serverAuth\n"),
        )
    }

    /// Issues a client certificate whose common name is `user` (what PostgreSQL's `cert`
    /// authentication compares with the user name).
    pub fn client(&self, file: &str, user: &str) -> Issued {
        self.issue(file, user, "extendedKeyUsage=clientAuth\n")
    }

    fn issue(&self, file: &str, common_name: &str, extensions: &str) -> Issued {
        let key = self.path(&format!("{file}.key"));
        let csr = self.path(&format!("{file}.csr"));
        let ext = self.path(&format!("{file}.ext"));
        let cert = self.path(&format!("{file}.crt"));
        std::fs::write(&ext, extensions)
            .unwrap_or_else(|err| panic!("cannot write {}: {err}", ext.display()));
        new_key(&key);
        openssl_args(&[
            "req",
            "-new",
            "-key",
            path_str(&key),
            "-subj",
            &format!("/CN={common_name}"),
            "-out",
            path_str(&csr),
        ]);
        openssl_args(&[
            "x509",
            "-req",
            "-in",
            path_str(&csr),
            "-CA",
            path_str(&self.cert()),
            "-CAkey",
            path_str(&self.path("ca.key")),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            path_str(&ext),
            "-out",
            path_str(&cert),
        ]);
        Issued { cert, key }
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    /// The CA's common name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

fn path_str(path: &Path) -> &str {
    path.to_str()
        .unwrap_or_else(|| panic!("{} is not UTF-8", path.display()))
}

/// Generates an EC P-256 private key at `out`, readable by its owner only.
fn new_key(out: &Path) {
    openssl_args(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        path_str(out),
    ]);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(out, std::fs::Permissions::from_mode(0o600))
        .unwrap_or_else(|err| panic!("cannot chmod {}: {err}", out.display()));
}

fn openssl_args(args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("cannot run openssl (install it): {err}"));
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The crypto provider of the tests' own TLS peers (collectors, raw clients): *ring*, as pgscope's.
pub fn crypto_provider() -> Arc<CryptoProvider> {
    #[allow(deprecated)] // ring lacks post-quantum key exchange; fine for a test peer.
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate in the PEM file `path`.
pub fn pem_certificates(path: &Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect())
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// A root store trusting every certificate in the PEM file `path` (a test CA).
pub fn root_store(path: &Path) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for cert in pem_certificates(path) {
        roots
            .add(cert)
            .unwrap_or_else(|err| panic!("{}: not a CA certificate: {err}", path.display()));
    }
    roots
}
