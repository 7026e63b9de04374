//! Accepted and rejected forms of each kind of value.

use std::time::Duration;

use super::{env_error, load};
use crate::{LogFormat, LogLevel, RunArgs, Upstream};

fn with_env(key: &str, value: &str) -> crate::Config {
    let name = crate::raw::env_name(key);
    load(&RunArgs::default(), &[(name.as_str(), value)])
}

fn upstream(text: &str) -> Upstream {
    match with_env("upstream", text).upstream {
        Some(upstream) => upstream,
        None => panic!("{text}: no upstream"),
    }
}

#[test]
fn upstream_accepts_urls_and_host_port() {
    let cases = [
        ("postgres://db.internal:5432", "db.internal", 5432),
        ("postgresql://db.internal:6000", "db.internal", 6000),
        ("postgres://db.internal", "db.internal", 5432),
        ("postgres://db.internal:5433/", "db.internal", 5433),
        ("POSTGRES://DB:1", "DB", 1),
        ("postgres://10.1.2.3:5433", "10.1.2.3", 5433),
        ("postgres://[::1]:5433", "::1", 5433),
        ("postgresql://[fe80::1]", "fe80::1", 5432),
        ("db.internal:6000", "db.internal", 6000),
        ("db_1", "db_1", 5432),
        ("127.0.0.1", "127.0.0.1", 5432),
        ("[::1]:7000", "::1", 7000),
        ("[2001:db8::5]", "2001:db8::5", 5432),
    ];
    for (text, host, port) in cases {
        let expected = Upstream::tcp(host, port);
        assert_eq!(upstream(text), expected, "{text}");
    }
}

#[test]
fn upstream_displays_as_host_port_with_bracketed_ipv6() {
    assert_eq!(upstream("postgres://db:6000").to_string(), "db:6000");
    assert_eq!(upstream("10.0.0.1").to_string(), "10.0.0.1:5432");
    assert_eq!(upstream("postgres://[::1]:7000").to_string(), "[::1]:7000");
}

#[test]
fn upstream_rejects_credentials_database_and_options() {
    let cases = [
        (
            "postgres://bob@db:5432",
            "a user name or password is not allowed",
        ),
        (
            "postgres://bob:secret@db",
            "a user name or password is not allowed",
        ),
        ("postgres://db:5432/app", "a database name is not allowed"),
        (
            "postgres://db?dbname=app",
            "parameter \"dbname\" is not allowed",
        ),
        (
            "postgres://db:5432/?connect_timeout=3",
            "unsupported parameter \"connect_timeout\"",
        ),
        ("mysql://db", "unsupported scheme \"mysql\""),
    ];
    for (text, reason) in cases {
        let message = env_error("upstream", text);
        assert!(message.contains(reason), "{text}: {message}");
        assert!(message.contains("PGSCOPE_UPSTREAM"), "{message}");
    }
}

#[test]
fn upstream_rejects_malformed_hosts_and_ports() {
    let cases = [
        ("postgres://", "the host is missing"),
        (":5432", "the host is missing"),
        ("db:", "port \"\" is not a number"),
        ("db:0", "port \"0\" is not a number from 1 to 65535"),
        ("db:70000", "port \"70000\" is not a number"),
        ("db:x", "port \"x\" is not a number"),
        ("::1", "must be written in brackets"),
        ("[::1", "must be closed with ']'"),
        ("[zz]:5432", "\"zz\" is not an IPv6 address"),
        ("[::1]x", "expected postgres://HOST:PORT"),
        ("999.1.1.1", "\"999.1.1.1\" is not an IPv4 address"),
        ("db one", "is not a host name or IP address"),
        ("db1,db2:5432", "is not a host name or IP address"),
        ("bob@db", "is not a host name or IP address"),
    ];
    for (text, reason) in cases {
        let message = env_error("upstream", text);
        assert!(message.contains(reason), "{text}: {message}");
    }
}

#[test]
fn socket_addresses_accept_ips_and_localhost() {
    assert_eq!(
        with_env("listen", "0.0.0.0:0").listen[0].to_string(),
        "0.0.0.0:0"
    );
    assert_eq!(
        with_env("listen", "[::]:6432").listen[0].to_string(),
        "[::]:6432"
    );
    let local = with_env("admin", "localhost:7001").admin;
    assert!(local.ip().is_loopback(), "{local}");
    assert_eq!(local.port(), 7001);
    let listen = with_env("listen", "LOCALHOST:7002").listen;
    let [crate::ListenAddr::Tcp(local)] = listen.as_slice() else {
        panic!("{listen:?}");
    };
    assert!(local.ip().is_loopback() && local.port() == 7002, "{local}");
}

#[test]
fn socket_addresses_reject_names_and_missing_ports() {
    for text in ["db.example:80", "127.0.0.1", "localhost", "::1:80", ""] {
        let message = env_error("listen", text);
        assert!(message.contains("expected HOST:PORT"), "{text}: {message}");
    }
    let message = env_error("admin", "localhost:99999");
    assert!(
        message.contains("port \"99999\" is not a number"),
        "{message}"
    );
}

#[test]
fn byte_sizes_accept_plain_numbers_and_binary_units() {
    let cases = [
        ("65536", 65536),
        ("1024", 1024),
        ("1KiB", 1024),
        ("64k", 64 << 10),
        ("64kB", 64 << 10),
        ("64MB", 64 << 20),
        ("64 MB", 64 << 20),
        ("64mib", 64 << 20),
        ("1G", 1 << 30),
        ("1GiB", 1 << 30),
        ("1073741824B", 1 << 30),
    ];
    for (text, bytes) in cases {
        assert_eq!(
            with_env("max_message_size", text).max_message_size,
            bytes,
            "{text}"
        );
    }
}

#[test]
fn byte_sizes_reject_malformed_text() {
    for text in ["MB", "", "-5", "1.5GB", "64 XB", "64MBs", " 64MB", "1T"] {
        let message = env_error("max_message_size", text);
        assert!(
            message.contains("expected a byte size"),
            "{text:?}: {message}"
        );
    }
}

#[test]
fn durations_accept_humantime_forms() {
    let cases = [
        ("5s", Duration::from_secs(5)),
        ("500ms", Duration::from_millis(500)),
        ("1m 30s", Duration::from_secs(90)),
        ("2min", Duration::from_secs(120)),
    ];
    for (text, expected) in cases {
        assert_eq!(
            with_env("connect_timeout", text).connect_timeout,
            expected,
            "{text}"
        );
        assert_eq!(
            with_env("shutdown_grace", text).shutdown_grace,
            expected,
            "{text}"
        );
    }
    assert_eq!(
        with_env("shutdown_grace", "0s").shutdown_grace,
        Duration::ZERO
    );
}

#[test]
fn durations_reject_bare_numbers() {
    for text in ["5", "1.5", "-1s", "s"] {
        let message = env_error("connect_timeout", text);
        assert!(message.contains("expected a duration"), "{text}: {message}");
    }
}

#[test]
fn log_levels_are_case_insensitive() {
    let cases = [
        ("error", LogLevel::Error),
        ("WARN", LogLevel::Warn),
        ("Info", LogLevel::Info),
        ("debug", LogLevel::Debug),
        ("trace", LogLevel::Trace),
    ];
    for (text, level) in cases {
        let config = with_env("log_level", text);
        assert_eq!(config.log_level, level, "{text}");
        assert_eq!(level.to_string(), text.to_ascii_lowercase());
    }
}

#[test]
fn log_formats_are_case_insensitive() {
    let cases = [
        ("text", LogFormat::Text),
        ("JSON", LogFormat::Json),
        ("Json", LogFormat::Json),
    ];
    for (text, format) in cases {
        let config = with_env("log_format", text);
        assert_eq!(config.log_format, format, "{text}");
        assert_eq!(format.to_string(), text.to_ascii_lowercase());
    }
}
