//! The smallest proof that pgscope is a working proxy: psql runs a query through it.

use pgscope_tests::{psql_at, Cluster, Proxy};

#[test]
fn psql_select_one_through_the_proxy() {
    let cluster = Cluster::start();
    let proxy = Proxy::start(&cluster);
    let output = psql_at(&proxy.url(), &["-A", "-t", "-c", "SELECT 1"]);
    assert!(
        output.status.success(),
        "psql failed: {}\nproxy log:\n{}",
        String::from_utf8_lossy(&output.stderr),
        proxy.log()
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), "1\n");
}

#[test]
fn the_proxy_reaches_the_cluster_it_was_given() {
    let cluster = Cluster::start();
    cluster.psql("CREATE TABLE marker (cluster_port int)");
    cluster.psql(&format!("INSERT INTO marker VALUES ({})", cluster.port()));
    let proxy = Proxy::start(&cluster);
    let output = psql_at(
        &proxy.url(),
        &["-A", "-t", "-c", "SELECT cluster_port FROM marker"],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        cluster.port().to_string()
    );
}
