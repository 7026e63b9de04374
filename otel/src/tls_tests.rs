//! TLS settings: which variables name the files, and the errors bad files give.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::*;

fn resolve(pairs: &[(&str, &str)]) -> Result<TraceSettings, OtelError> {
    let env = pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()));
    TraceSettings::resolve(&TraceOptions::default(), env)
}

fn file(variable: &'static str, path: &str) -> Option<TlsFile> {
    Some(TlsFile {
        variable,
        path: PathBuf::from(path),
    })
}

fn load_err(files: &TlsFiles) -> String {
    match files.load() {
        Ok(material) => panic!("expected an error, got {material:?}"),
        Err(err) => err.to_string(),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn ca_at(path: &Path) -> TlsFiles {
    TlsFiles {
        certificate: Some(TlsFile {
            variable: "OTEL_EXPORTER_OTLP_CERTIFICATE",
            path: path.to_owned(),
        }),
        ..TlsFiles::default()
    }
}

#[test]
fn no_tls_variable_names_no_file() {
    let settings = resolve(&[("PATH", "/bin")]).unwrap();
    assert!(settings.tls.is_empty());
}

#[test]
fn generic_tls_variables_name_the_files() {
    let settings = resolve(&[
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/ca.pem"),
        ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "/client.pem"),
        ("OTEL_EXPORTER_OTLP_CLIENT_KEY", " /client.key "),
    ])
    .unwrap();
    assert_eq!(
        settings.tls,
        TlsFiles {
            certificate: file("OTEL_EXPORTER_OTLP_CERTIFICATE", "/ca.pem"),
            client_certificate: file("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "/client.pem"),
            client_key: file("OTEL_EXPORTER_OTLP_CLIENT_KEY", "/client.key"),
        }
    );
}

#[test]
fn signal_specific_tls_variables_win_over_the_generic_ones() {
    let settings = resolve(&[
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/generic-ca.pem"),
        ("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "/traces-ca.pem"),
        ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "/generic.pem"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
            "/traces.pem",
        ),
        ("OTEL_EXPORTER_OTLP_CLIENT_KEY", "/generic.key"),
        ("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", "/traces.key"),
    ])
    .unwrap();
    assert_eq!(
        settings.tls,
        TlsFiles {
            certificate: file("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "/traces-ca.pem"),
            client_certificate: file(
                "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
                "/traces.pem"
            ),
            client_key: file("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", "/traces.key"),
        }
    );
}

#[test]
fn each_tls_variable_falls_back_to_its_generic_one_on_its_own() {
    let settings = resolve(&[
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/generic-ca.pem"),
        (
            "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
            "/traces.pem",
        ),
        ("OTEL_EXPORTER_OTLP_CLIENT_KEY", "/generic.key"),
        ("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", ""),
    ])
    .unwrap();
    assert_eq!(
        settings.tls.certificate,
        file("OTEL_EXPORTER_OTLP_CERTIFICATE", "/generic-ca.pem")
    );
    assert_eq!(
        settings.tls.client_key,
        file("OTEL_EXPORTER_OTLP_CLIENT_KEY", "/generic.key"),
        "an empty variable counts as unset"
    );
}

#[test]
fn a_client_certificate_without_a_key_is_an_error_naming_both_variables() {
    let err = resolve(&[("OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE", "/c.pem")])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE is set")
            && err.contains("OTEL_EXPORTER_OTLP_CLIENT_KEY is not"),
        "{err}"
    );
    let err = resolve(&[("OTEL_EXPORTER_OTLP_CLIENT_KEY", "/c.key")])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("OTEL_EXPORTER_OTLP_CLIENT_KEY is set")
            && err.contains("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE is not"),
        "{err}"
    );
}

#[test]
fn the_tls_variables_are_among_those_read() {
    for name in [
        "OTEL_EXPORTER_OTLP_CERTIFICATE",
        "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
    ] {
        assert!(OTEL_VARIABLES.contains(&name), "{name}");
    }
}

#[test]
fn a_missing_ca_file_is_an_error_naming_the_variable_and_the_path() {
    let err = load_err(&ca_at(Path::new("/nonexistent/pgscope-ca.pem")));
    assert!(
        err.contains("cannot read /nonexistent/pgscope-ca.pem")
            && err.contains("OTEL_EXPORTER_OTLP_CERTIFICATE"),
        "{err}"
    );
}

#[test]
fn a_ca_file_without_pem_certificates_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "ca.pem", "not a certificate\n");
    let err = load_err(&ca_at(&path));
    assert!(
        err.contains(&path.display().to_string())
            && err.contains("OTEL_EXPORTER_OTLP_CERTIFICATE")
            && err.contains("no PEM certificate"),
        "{err}"
    );
}

#[test]
fn a_pem_block_that_is_no_certificate_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "ca.pem",
        "-----BEGIN CERTIFICATE-----\nAAECAwQFBgcICQ==\n-----END CERTIFICATE-----\n",
    );
    let err = load_err(&ca_at(&path));
    assert!(
        err.contains(&path.display().to_string()) && err.contains("cannot be used"),
        "{err}"
    );
}

#[test]
fn a_missing_client_certificate_is_an_error_naming_its_variable() {
    let dir = tempfile::tempdir().unwrap();
    let key = write(dir.path(), "client.key", "");
    let files = TlsFiles {
        certificate: None,
        client_certificate: file("OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE", "/no/c.pem"),
        client_key: Some(TlsFile {
            variable: "OTEL_EXPORTER_OTLP_CLIENT_KEY",
            path: key,
        }),
    };
    let err = load_err(&files);
    assert!(
        err.contains("OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE") && err.contains("/no/c.pem"),
        "{err}"
    );
}

#[test]
fn starting_an_https_pipeline_with_a_missing_ca_file_fails_with_its_name() {
    let settings = resolve(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4318"),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem"),
    ])
    .unwrap();
    assert!(settings
        .to_string()
        .contains("trusting /nonexistent/ca.pem"));
    let err = Tracing::start(&settings, Arc::new(SpanCounters::default()))
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("OTEL_EXPORTER_OTLP_CERTIFICATE") && err.contains("/nonexistent/ca.pem"),
        "{err}"
    );
}

#[test]
fn tls_files_are_not_read_for_an_http_endpoint() {
    let settings = resolve(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem"),
    ])
    .unwrap();
    assert!(!settings.to_string().contains("trusting"));
    let tracing = Tracing::start(&settings, Arc::new(SpanCounters::default())).unwrap();
    let _ = tracing.shutdown(std::time::Duration::from_millis(100));
}

#[test]
fn a_key_file_without_a_private_key_is_an_error_naming_its_variable() {
    let dir = tempfile::tempdir().unwrap();
    let cert = write(
        dir.path(),
        "client.pem",
        "-----BEGIN CERTIFICATE-----\nAAECAwQFBgcICQ==\n-----END CERTIFICATE-----\n",
    );
    let key = write(dir.path(), "client.key", "not a key\n");
    let files = TlsFiles {
        certificate: None,
        client_certificate: Some(TlsFile {
            variable: "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
            path: cert,
        }),
        client_key: Some(TlsFile {
            variable: "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
            path: key.clone(),
        }),
    };
    let err = load_err(&files);
    assert!(
        err.contains("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY")
            && err.contains(&key.display().to_string())
            && err.contains("no PEM private key"),
        "{err}"
    );
}
