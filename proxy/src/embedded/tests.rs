//! Tests of the embedded cluster: the pure helpers, and real clusters started from the
//! PostgreSQL binaries on this machine.

use std::net::TcpStream;

use super::*;

#[test]
fn settings_are_written_quoted() {
    let settings = vec![
        ("work_mem".to_owned(), "4MB".to_owned()),
        ("search_path".to_owned(), "o'brien, \\x".to_owned()),
    ];
    let text = config_lines(&settings).unwrap();
    assert_eq!(text, "work_mem = '4MB'\nsearch_path = 'o''brien, \\\\x'\n");
}

#[test]
fn setting_names_that_could_inject_lines_are_rejected() {
    let bad_name = vec![("fsync = on\nport".to_owned(), "1".to_owned())];
    assert!(matches!(
        config_lines(&bad_name),
        Err(EmbeddedError::InvalidSetting { .. })
    ));
    let bad_value = vec![("work_mem".to_owned(), "1\nfsync = on".to_owned())];
    assert!(matches!(
        config_lines(&bad_value),
        Err(EmbeddedError::InvalidSetting { .. })
    ));
}

#[test]
fn hba_lines_with_line_breaks_are_rejected() {
    let good = vec![
        "local all all trust".to_owned(),
        "host all all 127.0.0.1/32 md5".to_owned(),
    ];
    assert_eq!(
        hba_file(&good).unwrap(),
        "local all all trust\nhost all all 127.0.0.1/32 md5\n"
    );
    let bad = vec!["local all all trust\nhost all all 0.0.0.0/0 trust".to_owned()];
    assert!(matches!(
        hba_file(&bad),
        Err(EmbeddedError::InvalidHbaLine { .. })
    ));
}

#[tokio::test]
async fn started_cluster_accepts_queries_and_applies_settings() {
    let opts = ClusterOptions {
        settings: vec![("application_name".to_owned(), "pgscope embedded".to_owned())],
        ..ClusterOptions::default()
    };
    let cluster = LocalCluster::start(&opts).unwrap();
    assert_eq!(cluster.host(), "127.0.0.1");
    assert_eq!(cluster.superuser(), "postgres");
    assert_eq!(
        cluster.url(),
        format!("postgres://postgres@127.0.0.1:{}/postgres", cluster.port())
    );
    assert!(cluster.data_dir().join("PG_VERSION").is_file());
    let (client, connection) = tokio_postgres::connect(&cluster.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    let driver = tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT current_setting('application_name'), current_user",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "pgscope embedded");
    assert_eq!(row.get::<_, String>(1), "postgres");
    drop(client);
    driver.await.unwrap().unwrap();
}

#[test]
fn dropping_a_cluster_stops_it_and_removes_its_directory() {
    let cluster = LocalCluster::start(&ClusterOptions::default()).unwrap();
    let port = cluster.port();
    let dir = cluster.socket_dir().to_path_buf();
    TcpStream::connect(("127.0.0.1", port)).unwrap();
    drop(cluster);
    assert!(!dir.exists(), "{} still exists", dir.display());
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn stop_reports_success_and_removes_the_directory() {
    let cluster = LocalCluster::start(&ClusterOptions::default()).unwrap();
    let dir = cluster.socket_dir().to_path_buf();
    cluster.stop().unwrap();
    assert!(!dir.exists());
}

#[test]
fn a_taken_port_that_was_asked_for_fails_with_the_server_log() {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let opts = ClusterOptions {
        port: Some(port),
        ..ClusterOptions::default()
    };
    match LocalCluster::start(&opts) {
        Err(EmbeddedError::StartFailed { port: p, tail, .. }) => {
            assert_eq!(p, port);
            assert!(
                tail.contains("could not") || tail.contains("in use"),
                "{tail}"
            );
        }
        other => panic!("expected StartFailed, got {other:?}"),
    }
}

#[test]
fn many_clusters_start_in_parallel_on_distinct_ports() {
    let handles: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(|| LocalCluster::start(&ClusterOptions::default()).unwrap()))
        .collect();
    let clusters: Vec<LocalCluster> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let mut ports: Vec<u16> = clusters.iter().map(LocalCluster::port).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), clusters.len());
    for cluster in &clusters {
        TcpStream::connect(("127.0.0.1", cluster.port())).unwrap();
    }
}

#[test]
fn hba_replacement_is_enforced() {
    let opts = ClusterOptions {
        hba: Some(vec!["host all all 127.0.0.1/32 reject".to_owned()]),
        ..ClusterOptions::default()
    };
    let cluster = LocalCluster::start(&opts).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let result = runtime.block_on(tokio_postgres::connect(
        &cluster.url(),
        tokio_postgres::NoTls,
    ));
    let err = result.err().expect("pg_hba.conf rejects every connection");
    let db = err.as_db_error().expect("the server's own error");
    assert_eq!(
        db.code(),
        &tokio_postgres::error::SqlState::INVALID_AUTHORIZATION_SPECIFICATION
    );
    assert!(db.message().contains("pg_hba.conf"), "{}", db.message());
}

#[test]
fn later_clusters_are_copies_of_one_initdb_template() {
    let system_id = |cluster: &LocalCluster| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (client, connection) =
                tokio_postgres::connect(&cluster.url(), tokio_postgres::NoTls)
                    .await
                    .unwrap();
            tokio::spawn(connection);
            let row = client
                .query_one("SELECT system_identifier FROM pg_control_system()", &[])
                .await
                .unwrap();
            row.get::<_, i64>(0)
        })
    };
    let first = LocalCluster::start(&ClusterOptions::default()).unwrap();
    let second = LocalCluster::start(&ClusterOptions::default()).unwrap();
    assert_ne!(first.data_dir(), second.data_dir());
    assert_eq!(system_id(&first), system_id(&second));
}

#[test]
fn a_panic_unwinding_past_a_cluster_stops_it_and_removes_its_directory() {
    // `pgscope run` holds its cluster in a local; with the workspace's default
    // `panic = "unwind"` a panic on that thread drops it like any other local.
    let seen = std::sync::Mutex::new(None);
    let outcome = std::panic::catch_unwind(|| {
        let cluster = LocalCluster::start(&ClusterOptions::default()).unwrap();
        let pid = owner::postmaster_pid(cluster.data_dir()).expect("a running server");
        *seen.lock().unwrap() = Some((cluster.socket_dir().to_path_buf(), pid));
        panic!("a bug while the cluster runs");
    });
    assert!(outcome.is_err());
    let (dir, pid) = seen.lock().unwrap().take().unwrap();
    assert!(!dir.exists(), "{} still exists", dir.display());
    assert!(!owner::is_server_of(pid, &dir.join("data")));
}

#[test]
fn a_cluster_whose_owner_is_gone_is_stopped_and_removed_by_the_next_start() {
    let stale = LocalCluster::start(&ClusterOptions::default()).unwrap();
    let dir = stale.socket_dir().to_path_buf();
    let data_dir = stale.data_dir().to_path_buf();
    let pid = owner::postmaster_pid(&data_dir).expect("a running server");
    // Forge what a SIGKILLed owner leaves: an owner file naming a process that has exited,
    // and a cluster nobody will drop.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let gone_line = format!("{} -\n", gone.id());
    gone.wait().unwrap();
    std::fs::write(dir.join(OWNER_FILE), gone_line).unwrap();
    std::mem::forget(stale);
    assert!(owner::is_server_of(pid, &data_dir));

    let fresh = LocalCluster::start(&ClusterOptions::default()).unwrap();
    assert!(!dir.exists(), "{} still exists", dir.display());
    assert!(
        !owner::is_server_of(pid, &data_dir),
        "server {pid} still runs"
    );
    assert!(fresh.socket_dir().join(OWNER_FILE).is_file());
    TcpStream::connect(("127.0.0.1", fresh.port())).unwrap();
}

#[test]
fn a_cluster_whose_owner_runs_is_left_alone() {
    let first = LocalCluster::start(&ClusterOptions::default()).unwrap();
    let second = LocalCluster::start(&ClusterOptions::default()).unwrap();
    assert!(first.data_dir().join("PG_VERSION").is_file());
    TcpStream::connect(("127.0.0.1", first.port())).unwrap();
    drop(second);
}
