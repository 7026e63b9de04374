//! Authentication passes through pgscope untouched: a cluster with an `md5` role and a
//! `scram-sha-256` role in pg_hba.conf; through pgscope the right password connects and a
//! wrong one gets the server's own 28P01 error, word for word the same as directly.

use pgscope_tests::{output_within, psql_command, Cluster, ClusterOptions, Proxy, CLIENT_TIMEOUT};
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

/// The roles, their passwords and the auth method pg_hba.conf requires of each.
const ROLES: [(&str, &str, &str); 2] = [
    ("md5_user", "md5 secret", "md5"),
    ("scram_user", "scram s3cret ✓", "scram-sha-256"),
];

/// A cluster whose pg_hba.conf asks `md5_user` for md5 and `scram_user` for SCRAM (with each
/// password stored in the matching form), and trusts only the superuser.
fn auth_cluster() -> Cluster {
    let mut hba = vec![
        "local all postgres trust".to_owned(),
        "host all postgres 127.0.0.1/32 trust".to_owned(),
    ];
    for (role, _, method) in ROLES {
        hba.push(format!("host all {role} 127.0.0.1/32 {method}"));
    }
    let cluster = Cluster::start_with(ClusterOptions {
        hba: Some(hba),
        ..ClusterOptions::default()
    });
    for (role, password, method) in ROLES {
        cluster.psql(&format!(
            "SET password_encryption = '{method}'; \
             CREATE ROLE {role} LOGIN PASSWORD '{password}'"
        ));
    }
    // The passwords really are stored as md5 and SCRAM verifiers.
    assert_eq!(
        cluster.psql(
            "SELECT rolname, left(rolpassword, 14) FROM pg_authid \
             WHERE rolname LIKE '%\\_user' ORDER BY rolname"
        ),
        format!(
            "md5_user|md5{}\nscram_user|SCRAM-SHA-256$",
            &cluster.psql("SELECT left(md5('md5 secretmd5_user'), 11)")
        )
    );
    cluster
}

/// `postgres://ROLE@127.0.0.1:PORT/postgres`.
fn role_url(port: u16, role: &str) -> String {
    format!("postgres://{role}@127.0.0.1:{port}/postgres")
}

/// Runs `SELECT current_user` as `role` with `PGPASSWORD=password` through psql, returning
/// (success, stdout, stderr).
fn psql_as(port: u16, role: &str, password: &str) -> (bool, String, String) {
    let mut command = psql_command(&role_url(port, role));
    command
        .args(["-A", "-t", "-c", "SELECT current_user"])
        .env("PGPASSWORD", password);
    let output = output_within(&mut command, CLIENT_TIMEOUT);
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The server's part of a psql connection error: what follows "FATAL:" (psql prefixes it with
/// the host and port it connected to, which differ between direct and proxied runs).
fn server_part(stderr: &str) -> &str {
    stderr
        .split_once("FATAL:")
        .map_or(stderr, |(_, server)| server)
        .trim()
}

#[test]
fn psql_right_password_connects_through_the_proxy() {
    let cluster = auth_cluster();
    let proxy = Proxy::start(&cluster);
    for (role, password, method) in ROLES {
        let (ok, out, err) = psql_as(proxy.port(), role, password);
        assert!(ok, "{method}: {err}\nproxy log:\n{}", proxy.log());
        assert_eq!(out, role);
    }
}

#[test]
fn psql_wrong_password_gets_the_servers_own_error() {
    let cluster = auth_cluster();
    let proxy = Proxy::start(&cluster);
    for (role, _, method) in ROLES {
        let (ok, _, via_proxy) = psql_as(proxy.port(), role, "wrong password");
        assert!(!ok, "{method}: a wrong password connected");
        let (_, _, direct) = psql_as(cluster.port(), role, "wrong password");
        assert_eq!(
            server_part(&via_proxy),
            format!("password authentication failed for user \"{role}\""),
            "{method}: {via_proxy}"
        );
        assert_eq!(server_part(&via_proxy), server_part(&direct), "{method}");
    }
}

#[tokio::test]
async fn tokio_postgres_sees_sqlstate_28p01_for_a_wrong_password() {
    let cluster = auth_cluster();
    let proxy = Proxy::start(&cluster);
    for (role, password, method) in ROLES {
        let wrong = format!("{}?password=nope", role_url(proxy.port(), role));
        let err = tokio_postgres::connect(&wrong, NoTls)
            .await
            .err()
            .unwrap_or_else(|| panic!("{method}: a wrong password connected"));
        let db = err
            .as_db_error()
            .unwrap_or_else(|| panic!("{method}: not a server error: {err:?}"));
        assert_eq!(db.code(), &SqlState::INVALID_PASSWORD, "{method}: {db:?}");
        assert_eq!(db.severity(), "FATAL");
        assert_eq!(
            db.message(),
            format!("password authentication failed for user \"{role}\"")
        );

        let right = format!(
            "host=127.0.0.1 port={} user={role} dbname=postgres password='{password}'",
            proxy.port()
        );
        let (client, connection) = tokio_postgres::connect(&right, NoTls)
            .await
            .unwrap_or_else(|err| panic!("{method}: {err:?}\nproxy log:\n{}", proxy.log()));
        let driver = tokio::spawn(connection);
        let row = client
            .query_one("SELECT current_user::text", &[])
            .await
            .unwrap();
        assert_eq!(row.get::<_, String>(0), role);
        drop(client);
        driver.await.unwrap().unwrap();
    }
}
