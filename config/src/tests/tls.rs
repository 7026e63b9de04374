//! TLS and socket settings: libpq's `ssl*` upstream parameters, the `[tls]` section, Unix
//! sockets on both sides and several listen addresses.

use std::path::PathBuf;

use super::{env_error, load, load_err, toml_file};
use crate::{
    ListenAddr, RootCert, RunArgs, SslMode, SslNegotiation, TlsMode, Upstream, UpstreamTls,
};

fn upstream(text: &str) -> Upstream {
    let name = crate::raw::env_name("upstream");
    match load(&RunArgs::default(), &[(name.as_str(), text)]).upstream {
        Some(upstream) => upstream,
        None => panic!("{text}: no upstream"),
    }
}

#[test]
fn upstream_takes_libpq_ssl_parameters_with_libpq_defaults() {
    assert_eq!(upstream("postgres://db").tls, UpstreamTls::default());
    assert_eq!(UpstreamTls::default().mode, SslMode::Prefer);
    let tls = upstream(
        "postgres://db:5433/?sslmode=verify-full&sslrootcert=/etc/ca.pem&sslcert=/c.pem\
         &sslkey=/k.pem&sslsni=0&sslnegotiation=direct",
    )
    .tls;
    assert_eq!(
        tls,
        UpstreamTls {
            mode: SslMode::VerifyFull,
            root_cert: Some(RootCert::File(PathBuf::from("/etc/ca.pem"))),
            cert: Some(PathBuf::from("/c.pem")),
            key: Some(PathBuf::from("/k.pem")),
            sni: false,
            negotiation: SslNegotiation::Direct,
        }
    );
    for mode in [
        "disable",
        "allow",
        "prefer",
        "require",
        "verify-ca",
        "verify-full",
    ] {
        let parsed = upstream(&format!("postgres://db?sslmode={mode}")).tls.mode;
        assert_eq!(parsed.as_str(), mode);
    }
}

#[test]
fn sslrootcert_system_defaults_to_verify_full_and_rejects_weaker_modes() {
    let tls = upstream("postgres://db?sslrootcert=system").tls;
    assert_eq!(tls.mode, SslMode::VerifyFull);
    assert_eq!(tls.root_cert, Some(RootCert::System));
    let message = env_error(
        "upstream",
        "postgres://db?sslrootcert=system&sslmode=require",
    );
    assert!(
        message.contains("weak sslmode \"require\" may not be used with sslrootcert=system"),
        "{message}"
    );
}

#[test]
fn upstream_rejects_inconsistent_or_unknown_ssl_parameters() {
    let cases = [
        ("postgres://db?sslmode=on", "invalid sslmode \"on\""),
        (
            "postgres://db?sslnegotiation=direct",
            "weak sslmode \"prefer\" may not be used with sslnegotiation=direct",
        ),
        (
            "postgres://db?sslnegotiation=fast",
            "invalid sslnegotiation",
        ),
        ("postgres://db?sslsni=yes", "invalid sslsni"),
        (
            "postgres://db?sslcert=/c.pem",
            "sslcert and sslkey must be given together",
        ),
        (
            "postgres://db?sslpassword=x",
            "unsupported parameter \"sslpassword\"",
        ),
        (
            "postgres://db?user=bob",
            "parameter \"user\" is not allowed",
        ),
    ];
    for (text, reason) in cases {
        let message = env_error("upstream", text);
        assert!(message.contains(reason), "{text}: {message}");
    }
}

#[test]
fn upstream_takes_socket_directories_in_libpq_forms() {
    for text in [
        "postgres:///?host=/var/run/postgresql",
        "postgresql://%2Fvar%2Frun%2Fpostgresql",
        "postgres://%2Fvar%2Frun%2Fpostgresql:5432/",
        "/var/run/postgresql",
        "/var/run/postgresql/",
    ] {
        let parsed = upstream(text);
        assert_eq!(parsed.host, "/var/run/postgresql", "{text}");
        assert_eq!(
            parsed.socket_path(),
            Some(PathBuf::from("/var/run/postgresql/.s.PGSQL.5432")),
            "{text}"
        );
        assert_eq!(parsed.to_string(), "/var/run/postgresql/.s.PGSQL.5432");
    }
    let parsed = upstream("postgres:///?host=/tmp&port=6000");
    assert_eq!(
        parsed.socket_path(),
        Some(PathBuf::from("/tmp/.s.PGSQL.6000"))
    );
    assert_eq!(upstream("postgres://db").socket_path(), None);
    assert_eq!(
        upstream("postgres://x/?host=db2&port=7").to_string(),
        "db2:7"
    );
}

#[test]
fn listen_takes_several_tcp_addresses_and_socket_directories() {
    let name = crate::raw::env_name("listen");
    let config = load(
        &RunArgs::default(),
        &[(
            name.as_str(),
            "127.0.0.1:7100, /run/pgscope ,/tmp/x/.s.PGSQL.9",
        )],
    );
    assert_eq!(
        config.listen,
        vec![
            ListenAddr::Tcp("127.0.0.1:7100".parse().unwrap()),
            ListenAddr::Unix(PathBuf::from("/run/pgscope/.s.PGSQL.7100")),
            ListenAddr::Unix(PathBuf::from("/tmp/x/.s.PGSQL.9")),
        ]
    );
    let only_socket = load(&RunArgs::default(), &[(name.as_str(), "/run/pgscope")]);
    assert_eq!(
        only_socket.listen,
        vec![ListenAddr::Unix(PathBuf::from(
            "/run/pgscope/.s.PGSQL.6432"
        ))]
    );
    let file = toml_file("listen = [\"127.0.0.1:7200\", \"/run/p\"]\n");
    let args = RunArgs {
        config: Some(file.path().to_owned()),
        ..RunArgs::default()
    };
    assert_eq!(load(&args, &[]).listen.len(), 2);
    for bad in ["", "127.0.0.1:1,", "127.0.0.1:1,127.0.0.1:1"] {
        let message = env_error("listen", bad);
        assert!(message.contains("PGSCOPE_LISTEN"), "{bad}: {message}");
    }
}

#[test]
fn tls_section_defaults_to_allow_with_files_and_disable_without() {
    assert_eq!(load(&RunArgs::default(), &[]).tls.mode, TlsMode::Disable);
    let config = load(
        &RunArgs::default(),
        &[
            ("PGSCOPE_TLS_CERT", "/s.crt"),
            ("PGSCOPE_TLS_KEY", "/s.key"),
        ],
    );
    assert_eq!(config.tls.mode, TlsMode::Allow);
    assert_eq!(config.tls.cert, Some(PathBuf::from("/s.crt")));
    let config = load(
        &RunArgs::default(),
        &[
            ("PGSCOPE_TLS_CERT", "/s.crt"),
            ("PGSCOPE_TLS_KEY", "/s.key"),
            ("PGSCOPE_TLS_MODE", "require"),
            ("PGSCOPE_TLS_CLIENT_CA", "/ca.crt"),
        ],
    );
    assert_eq!(config.tls.mode, TlsMode::Require);
    assert_eq!(config.tls.client_ca, Some(PathBuf::from("/ca.crt")));
}

#[test]
fn tls_section_errors_name_the_key_that_is_missing_or_wrong() {
    let (_, message) = load_err(&RunArgs::default(), &[("PGSCOPE_TLS_CERT", "/s.crt")]);
    assert!(message.contains("missing tls.key"), "{message}");
    let (_, message) = load_err(&RunArgs::default(), &[("PGSCOPE_TLS_MODE", "require")]);
    assert!(
        message.contains("tls.mode") && message.contains("needs tls.cert and tls.key"),
        "{message}"
    );
    assert!(message.contains("PGSCOPE_TLS_MODE"), "{message}");
    let (_, message) = load_err(&RunArgs::default(), &[("PGSCOPE_TLS_MODE", "on")]);
    assert!(
        message.contains("expected disable, allow or require"),
        "{message}"
    );
}
