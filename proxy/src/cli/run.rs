//! `pgscope run`: the proxy.
//!
//! Loads the validated configuration, starts a throw-away local PostgreSQL cluster when no
//! upstream is configured (so a newcomer sees pgscope work with one command), and runs the
//! pingora server until SIGTERM (graceful drain) or SIGINT.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use pgscope_config::{Config, RunArgs};
use pgscope_protocol::Limits;
use pingora_core::listeners::{L4BufferSettings, ListenerConfig};
use pingora_core::server::configuration::ServerConf;
use pingora_core::server::{RunArgs as PingoraRunArgs, Server};
use pingora_core::services::listening::Service;

use crate::admin::Recording;
use crate::embedded::{ClusterOptions, LocalCluster};
use crate::pump::{Pump, PumpConfig};
use crate::server::{Drain, DrainOnSignal, ProxyApp};
use crate::session::SessionConfig;
use crate::spans::{self, SpanExport};
use crate::stats::ProxyStats;

/// How long a client may take to send its startup packet (PostgreSQL's own
/// `authentication_timeout` default).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `pgscope run` with these flags until shutdown.
pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    let config = Config::load(args)?;
    init_logging(&config);
    let recording = Recording::start(&config)?;
    // Fail with a clear message now rather than inside pingora's listener.
    TcpListener::bind(config.listen)
        .with_context(|| format!("cannot listen on {} (listen)", config.listen))?;

    let (upstream, upstream_host, _cluster) = match &config.upstream {
        Some(upstream) => (
            upstream.to_string(),
            (upstream.host.clone(), upstream.port),
            None,
        ),
        None => {
            let cluster = LocalCluster::start(&ClusterOptions::default()).context(
                "no upstream configured and no throw-away PostgreSQL cluster could be started \
                 (give --upstream postgres://HOST:PORT)",
            )?;
            eprintln!(
                "pgscope: no --upstream given; started a throw-away PostgreSQL cluster at {} \
                 (data in {}, removed on exit)",
                cluster.url(),
                cluster.data_dir().display()
            );
            (
                format!("{}:{}", cluster.host(), cluster.port()),
                (cluster.host().to_string(), cluster.port()),
                Some(cluster),
            )
        }
    };
    eprintln!(
        "pgscope: proxying {} -> {upstream}; connect with: psql postgres://postgres@{}/postgres",
        config.listen, config.listen
    );

    let stats = Arc::new(ProxyStats::default());
    let span_export = SpanExport::start(&config.tracing, &upstream, Arc::clone(&stats.spans))?;
    let pump = Pump::new(
        PumpConfig {
            upstream,
            connect_timeout: config.connect_timeout,
            startup_timeout: STARTUP_TIMEOUT,
            session: SessionConfig {
                limits: Limits {
                    max_message_len: config.max_message_size,
                    ..Limits::default()
                },
                ..SessionConfig::default()
            },
        },
        spans::chain(recording.observer(), span_export.as_ref()),
        Arc::clone(&stats),
    );
    let drain = Drain::new(config.max_connections);
    let mut service = Service::new(
        "pgscope proxy".to_string(),
        ProxyApp::new(pump, Arc::clone(&drain)),
    );
    // Unbuffered: the pump reads into its own buffer and writes whole chunks, then flushes, so
    // pingora's per-connection 64 KiB read and 1,460-byte write buffers would only add a copy
    // each way (and 65 KiB of memory per connection).
    service.add_listener(
        ListenerConfig::tcp(config.listen.to_string()).l4_buffer(L4BufferSettings::unbuffered()),
    );

    let mut server = Server::new_with_opt_and_conf(None, server_conf(&config));
    server.bootstrap();
    server.add_service(service);
    recording.add_services(
        &mut server,
        stats,
        &config,
        (&upstream_host.0, upstream_host.1),
    )?;
    server.run(PingoraRunArgs {
        shutdown_signal: Box::new(DrainOnSignal::new(drain, config.shutdown_grace)),
    });
    recording.finish();
    if let Some(span_export) = span_export {
        span_export.finish();
    }
    log::info!("pgscope stopped");
    Ok(())
}

fn server_conf(config: &Config) -> ServerConf {
    let pid = std::process::id();
    let tmp = std::env::temp_dir();
    ServerConf {
        threads: config.threads,
        // One single-threaded scheduler per worker thread, each connection staying on the one
        // it was accepted on (pingora's "no steal" runtime), instead of tokio's work-stealing
        // scheduler: a session's two directions share one task, so stealing has nothing to
        // balance within a connection, and its bookkeeping cost 340 instructions per query
        // and, at 64 clients, a fifth of pgscope's CPU (`benches/README.md`, "Schedulers").
        work_stealing: false,
        // pgscope drains itself before telling pingora to stop (see `server`).
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        pid_file: tmp.join(format!("pgscope-{pid}.pid")).display().to_string(),
        upgrade_sock: tmp
            .join(format!("pgscope-{pid}-upgrade.sock"))
            .display()
            .to_string(),
        ..ServerConf::default()
    }
}

fn init_logging(config: &Config) {
    let mut builder = env_logger::Builder::new();
    builder.parse_filters(config.log_level.as_str());
    if let Ok(filters) = std::env::var("RUST_LOG") {
        builder.parse_filters(&filters);
    }
    // A second initialisation (tests) is harmless.
    let _ = builder.format_timestamp_millis().try_init();
}
