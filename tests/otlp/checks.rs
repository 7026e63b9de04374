//! What the span tests share: the `[tracing]` section pointing at a receiver, connecting
//! through pgscope, waiting for spans and checking the attributes every pgscope span has.

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use pgscope_tests::Cluster;
use tokio_postgres::{Client, NoTls};

use super::{ReceivedSpan, Receiver, TracedProxy};

/// `service.name` of pgscope's spans in these tests.
pub const SERVICE: &str = "pgscope-test";
/// How long spans may take to arrive.
pub const ARRIVAL: Duration = Duration::from_secs(20);
/// Export every 100 ms, so spans arrive quickly.
pub const QUICK: (&str, &str) = ("OTEL_BSP_SCHEDULE_DELAY", "100");

/// A `[tracing]` section that turns tracing on and sends to `receiver` by the file's keys.
pub fn config_for(receiver: &Receiver) -> String {
    format!(
        "[tracing]\nenabled = true\nendpoint = {:?}\nprotocol = {:?}\nservice_name = {SERVICE:?}\n",
        receiver.endpoint(),
        receiver.transport().protocol()
    )
}

/// Connects through `proxy` with `application_name=otel-test`.
pub async fn connect(proxy: &TracedProxy) -> Client {
    let url = format!("{}?application_name=otel-test", proxy.url());
    let (client, connection) = tokio_postgres::connect(&url, NoTls)
        .await
        .unwrap_or_else(|err| panic!("connect {url}: {err:?}\nproxy log:\n{}", proxy.log()));
    tokio::spawn(connection);
    client
}

/// pgscope's spans named `name`, at least `n` of them.
pub fn spans_named(receiver: &Receiver, name: &str, n: usize) -> Vec<ReceivedSpan> {
    receiver.wait_for(n, ARRIVAL, |s| s.service == SERVICE && s.span.name == name)
}

/// Asserts the attributes every pgscope span has, and returns the rest.
pub fn check_common(span: &ReceivedSpan, cluster: &Cluster) -> HashMap<String, String> {
    assert_eq!(span.span.kind, SpanKind::Client as i32, "{span:?}");
    assert!(span.span.end_time_unix_nano >= span.span.start_time_unix_nano);
    assert!(span.parent_span_id().is_empty(), "a root span: {span:?}");
    let mut attrs = span.attributes();
    let common = [
        ("db.system.name", "postgresql".to_owned()),
        ("db.namespace", "postgres".to_owned()),
        ("server.address", "127.0.0.1".to_owned()),
        ("server.port", cluster.port().to_string()),
        ("pgscope.application_name", "otel-test".to_owned()),
    ];
    for (key, value) in common {
        assert_eq!(
            attrs.remove(key).as_deref(),
            Some(value.as_str()),
            "{key} of {span:?}"
        );
    }
    let fingerprint = attrs
        .remove("pgscope.fingerprint")
        .expect("pgscope.fingerprint");
    assert!(
        fingerprint.len() == 16 && fingerprint.bytes().all(|b| b.is_ascii_hexdigit()),
        "{fingerprint}"
    );
    attrs
}

/// Starts pgscope exporting to `receiver` (by the file's keys) with `env` and QUICK, runs one
/// SELECT and checks its span arrives; returns the proxy.
pub async fn a_select_span_arrives(
    cluster: &Cluster,
    receiver: &Receiver,
    env: &[(&str, &str)],
) -> TracedProxy {
    let env = [env, &[QUICK]].concat();
    let proxy = TracedProxy::start(cluster, &config_for(receiver), &env);
    let client = connect(&proxy).await;
    client.query_one("SELECT 1 AS one", &[]).await.unwrap();
    let deadline = std::time::Instant::now() + ARRIVAL;
    while receiver.spans().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let spans = receiver.spans();
    assert!(
        !spans.is_empty(),
        "no span arrived; proxy log:\n{}",
        proxy.log()
    );
    assert_eq!(spans[0].span.name, "SELECT");
    check_common(&spans[0], cluster);
    proxy
}
