//! [`LiveSource`]: the recorder plus the proxy's own counters, as one [`StatsSource`].

use std::sync::Arc;

use pgscope_exporters::{EntryRef, HealthKind, HealthMetric, SourceMeta, StatsSource};

use crate::growth::GrowthState;
use crate::recorder::persist::SnapshotHealth;
use crate::recorder::Recorder;
use crate::stats::ProxyStats;

/// What the admin server exports.
#[derive(Debug, Clone)]
pub struct LiveSource {
    /// The recorder.
    pub recorder: Arc<Recorder>,
    /// The proxy's counters.
    pub stats: Arc<ProxyStats>,
    /// The growth monitor's latest report.
    pub growth: Arc<GrowthState>,
    /// Snapshot failures (state directory).
    pub snapshots: Arc<SnapshotHealth>,
}

fn metric(
    name: &'static str,
    help: &'static str,
    kind: HealthKind,
    labels: Vec<(&'static str, &'static str)>,
    value: u64,
) -> HealthMetric {
    HealthMetric {
        name,
        help,
        kind,
        labels: labels.into_iter().map(|(k, v)| (k, v.to_owned())).collect(),
        value: value as f64,
    }
}

impl StatsSource for LiveSource {
    fn meta(&self) -> SourceMeta {
        self.recorder.meta()
    }

    fn for_each_entry(&self, visit: &mut dyn FnMut(EntryRef<'_>)) {
        self.recorder.for_each_entry(visit);
    }

    fn health(&self) -> Vec<HealthMetric> {
        use HealthKind::{Counter, Gauge};
        let s = &self.stats;
        let get = ProxyStats::get;
        let mut metrics = vec![
            metric(
                "pgscope_client_connections",
                "Client connections open now.",
                Gauge,
                vec![],
                get(&s.client_connections),
            ),
            metric(
                "pgscope_client_connections_total",
                "Client connections accepted since start.",
                Counter,
                vec![],
                get(&s.client_connections_total),
            ),
            metric(
                "pgscope_client_connections_refused_total",
                "Client connections refused (connection cap, shutting down).",
                Counter,
                vec![],
                get(&s.client_connections_refused),
            ),
            metric(
                "pgscope_client_connections_starting",
                "Client connections still in startup (TLS, startup packet, authentication).",
                Gauge,
                vec![],
                get(&s.client_connections_starting),
            ),
            metric(
                "pgscope_startup_evictions_total",
                "Connections in startup evicted by newer ones (max_startup_connections full).",
                Counter,
                vec![],
                get(&s.startup_evictions),
            ),
            metric(
                "pgscope_fd_limit_refusals_total",
                "Clients refused because the open-file limit was reached.",
                Counter,
                vec![],
                get(&s.fd_limit_refusals),
            ),
            metric(
                "pgscope_config_reloads_total",
                "Configuration reloads applied (SIGHUP).",
                Counter,
                vec![],
                get(&s.config_reloads),
            ),
            metric(
                "pgscope_config_reload_failures_total",
                "Configuration reloads that changed nothing because the new configuration was invalid.",
                Counter,
                vec![],
                get(&s.config_reload_failures),
            ),
            metric(
                "pgscope_upstream_connections",
                "Upstream connections open now.",
                Gauge,
                vec![],
                get(&s.upstream_connections),
            ),
            metric(
                "pgscope_upstream_connections_total",
                "Upstream connections opened since start (cancels included).",
                Counter,
                vec![],
                get(&s.upstream_connections_total),
            ),
            metric(
                "pgscope_upstream_connections_failed_total",
                "Upstream connection attempts that failed.",
                Counter,
                vec![],
                get(&s.upstream_connections_failed),
            ),
            metric(
                "pgscope_upstream_tls_failures_total",
                "Upstream connection attempts that failed in TLS (negotiation, handshake, certificate).",
                Counter,
                vec![],
                get(&s.upstream_tls_failures),
            ),
            metric(
                "pgscope_client_tls_handshakes_total",
                "Client TLS handshakes completed.",
                Counter,
                vec![],
                get(&s.client_tls_handshakes),
            ),
            metric(
                "pgscope_client_tls_failures_total",
                "Client TLS handshakes that failed.",
                Counter,
                vec![],
                get(&s.client_tls_failures),
            ),
            metric(
                "pgscope_startup_timeouts_total",
                "Clients closed for not completing startup within startup_timeout.",
                Counter,
                vec![],
                get(&s.startup_timeouts),
            ),
            metric(
                "pgscope_bytes_total",
                "Bytes forwarded, by direction.",
                Counter,
                vec![("direction", "client_to_server")],
                get(&s.bytes_client_to_server),
            ),
            metric(
                "pgscope_bytes_total",
                "Bytes forwarded, by direction.",
                Counter,
                vec![("direction", "server_to_client")],
                get(&s.bytes_server_to_client),
            ),
            metric(
                "pgscope_protocol_errors_total",
                "Client connections closed for breaking the protocol.",
                Counter,
                vec![],
                get(&s.protocol_errors),
            ),
            metric(
                "pgscope_cancels_forwarded_total",
                "CancelRequests forwarded upstream.",
                Counter,
                vec![],
                get(&s.cancels_forwarded),
            ),
            metric(
                "pgscope_spans_exported_total",
                "Query spans the OTLP collector accepted.",
                Counter,
                vec![],
                s.spans.exported(),
            ),
            metric(
                "pgscope_spans_dropped_total",
                "Query spans dropped, by reason (queue full, export failed).",
                Counter,
                vec![("reason", "queue_full")],
                s.spans.dropped_queue_full(),
            ),
            metric(
                "pgscope_spans_dropped_total",
                "Query spans dropped, by reason (queue full, export failed).",
                Counter,
                vec![("reason", "export_failed")],
                s.spans.dropped_export_failed(),
            ),
            metric(
                "pgscope_snapshot_failures_total",
                "Recorder snapshots that could not be saved to (or read at start from) \
                 recorder.state_dir.",
                Counter,
                vec![],
                self.snapshots.failures(),
            ),
            metric(
                "pgscope_spans_queued",
                "Query spans waiting for export.",
                Gauge,
                vec![],
                s.spans.queued(),
            ),
        ];
        metrics.extend(growth_metrics(&self.growth.report()));
        metrics
    }
}

/// The growth monitor's health and the elasticity of each flagged fingerprint.
fn growth_metrics(report: &pgscope_exporters::growth::GrowthReport) -> Vec<HealthMetric> {
    use HealthKind::{Counter, Gauge};
    let mut out = vec![
        metric(
            "pgscope_growth_rounds_total",
            "Table-size sampling rounds of the growth monitor.",
            Counter,
            vec![],
            report.rounds,
        ),
        metric(
            "pgscope_growth_failures_total",
            "Growth monitor catalog connections or queries that failed.",
            Counter,
            vec![],
            report.failures,
        ),
        metric(
            "pgscope_growth_databases_failing",
            "Databases the growth monitor cannot sample now.",
            Gauge,
            vec![],
            report.databases.iter().filter(|d| !d.ok).count() as u64,
        ),
    ];
    for flag in &report.flags {
        let value = flag
            .p50_elasticity
            .or(flag.p95_elasticity)
            .map_or(flag.slowdown, |e| e.value);
        out.push(HealthMetric {
            name: "pgscope_growth_flag",
            help: "Flagged fingerprints: latency elasticity to table size (growth classes) or \
                   p95 slowdown ratio (slower_without_growth).",
            kind: Gauge,
            labels: vec![
                ("fingerprint", flag.fingerprint.clone()),
                ("database", flag.database.clone()),
                ("class", flag.class.clone()),
                ("table", flag.table.clone().unwrap_or_default()),
            ],
            value,
        });
    }
    out
}
