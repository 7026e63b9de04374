//! `pgscope run`: the proxy.
//!
//! Loads the validated configuration, starts a throw-away local PostgreSQL cluster when no
//! upstream is configured (so a newcomer sees pgscope work with one command), and runs the
//! pingora server until SIGTERM (graceful drain) or SIGINT.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use pgscope_config::{Config, ListenAddr, LogFormat, PipelineTiming, RunArgs, SslMode, Upstream};
use pgscope_protocol::Limits;
use pingora_core::listeners::{L4BufferSettings, ListenerConfig};
use pingora_core::server::configuration::{Opt, ServerConf};
use pingora_core::server::{RunArgs as PingoraRunArgs, Server};
use pingora_core::services::listening::Service;
use pingora_core::services::Service as ServiceTrait;

use crate::admin::{Operations, Readiness};
use crate::admission::{self, Admission};
use crate::embedded::{ClusterOptions, LocalCluster};
use crate::growth::catalog::Target;
use crate::notify::{self, WhenListening};
use crate::pump::{Pump, PumpConfig};
use crate::reload::{logging, Live, Reloader, Targets};
use crate::server::{Drain, DrainOnSignal, Handover, ProxyApp};
use crate::session::SessionConfig;
use crate::stats::ProxyStats;
use crate::successor::Successor;
use crate::tls::{ServerTls, UpstreamConnector};
use crate::wiring::Wiring;

/// Runs `pgscope run` with these flags until shutdown.
pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    let config = Config::load(args)?;
    let log = logging::init(config.log_level, config.log_format);
    anyhow::ensure!(
        !args.upgrade || config.upstream.is_some(),
        "--upgrade needs an upstream: the throw-away cluster belongs to the process being replaced"
    );
    // Taking over (--upgrade): wait for the running pgscope's listening sockets, which it sends
    // on SIGQUIT right after writing the snapshot this process then starts from.
    let opt = Opt {
        upgrade: args.upgrade,
        ..Opt::default()
    };
    let mut server = Server::new_with_opt_and_conf(Some(opt), server_conf(&config));
    server.bootstrap();
    if !args.upgrade {
        // Fail with a clear message now rather than inside pingora's listener.
        for listen in &config.listen {
            check_listen(listen)?;
        }
    }
    let server_tls = ServerTls::load(&config.tls)
        .context("cannot set up TLS for clients ([tls])")?
        .map(Arc::new);

    let (upstream, _cluster) = match &config.upstream {
        Some(upstream) => (upstream.clone(), None),
        None => {
            let cluster = LocalCluster::start(&ClusterOptions::default()).context(
                "no upstream configured and no throw-away PostgreSQL cluster could be started \
                 (give --upstream postgres://HOST:PORT)",
            )?;
            announce(
                &config,
                &format!(
                    "no --upstream given; started a throw-away PostgreSQL cluster at {} \
                     (data in {}, removed on exit)",
                    cluster.url(),
                    cluster.data_dir().display()
                ),
            );
            let mut upstream = Upstream::tcp(cluster.host(), cluster.port());
            // The throw-away cluster has no TLS: skip the SSLRequest round trip.
            upstream.tls.mode = SslMode::Disable;
            (upstream, Some(cluster))
        }
    };
    let connector = Arc::new(
        UpstreamConnector::new(&upstream, config.connect_timeout)
            .context("cannot set up TLS to the upstream server (upstream)")?,
    );
    let label = connector.label().to_owned();
    let live_connector = Arc::new(Live::new(Arc::clone(&connector)));
    match config.listen.iter().find_map(|l| match l {
        ListenAddr::Tcp(addr) => Some(addr),
        ListenAddr::Unix(_) => None,
    }) {
        Some(addr) => announce(
            &config,
            &format!(
                "proxying {} -> {label}; connect with: psql postgres://postgres@{addr}/postgres",
                listen_list(&config)
            ),
        ),
        None => announce(
            &config,
            &format!("proxying {} -> {label}", listen_list(&config)),
        ),
    }

    let stats = Arc::new(ProxyStats::default());
    let fd_limit = admission::raise_fd_limit();
    let fd_cap = admission::fd_cap(fd_limit);
    let wanted = config
        .max_connections
        .saturating_add(config.max_startup_connections);
    if wanted > fd_cap {
        log::warn!(
            "the open-file limit ({}) allows about {fd_cap} client connections (two descriptors \
             each, {} kept in reserve), fewer than max_connections + max_startup_connections = \
             {wanted}: clients past it get FATAL 53300; raise the limit (ulimit -n, LimitNOFILE=)",
            fd_limit.unwrap_or_default(),
            admission::FD_RESERVE
        );
    }
    let admission = Admission::new(
        config.max_connections,
        config.max_startup_connections,
        fd_cap,
        Arc::clone(&stats),
    );
    let wiring = Arc::new(Wiring::build(&config, &upstream, &stats)?);
    // A capture that cannot start (its file exists, say from the process this one replaces on
    // --upgrade) does not stop the proxy: failing here would turn `Restart=on-failure` into a
    // loop and make every upgrade fail. It is logged, and `GET /api/v1/capture` shows no capture.
    if config.capture.enabled {
        let request = crate::capture::CaptureRequest::from_config(&config.capture);
        if let Err(e) = wiring.capture().start_request(request) {
            log::error!("the [capture] capture did not start, pgscope serves without it: {e}");
        }
    }
    let pump = Pump::new(
        PumpConfig {
            connector: Arc::clone(&live_connector),
            admission: Arc::clone(&admission),
            tls: server_tls.clone(),
            startup_timeout: config.startup_timeout,
            session: SessionConfig {
                limits: Limits {
                    max_message_len: config.max_message_size,
                    ..Limits::default()
                },
                client_tls: config.tls.mode,
                flush_pipelines: config.pipeline_timing == PipelineTiming::Exact,
                ..SessionConfig::default()
            },
            capture: Arc::clone(wiring.capture()),
        },
        wiring.observers(),
        Arc::clone(&stats),
    );
    let drain = Drain::new(Arc::clone(&admission));
    let mut service = Service::new(
        "pgscope proxy".to_string(),
        ProxyApp::new(pump, Arc::clone(&drain)),
    );
    for listen in &config.listen {
        match listen {
            // Unbuffered: the pump reads into its own buffer and writes whole chunks, then
            // flushes, so pingora's per-connection 64 KiB read and 1,460-byte write buffers
            // would only add a copy each way (and 65 KiB of memory per connection).
            ListenAddr::Tcp(addr) => service.add_listener(
                ListenerConfig::tcp(addr.to_string()).l4_buffer(L4BufferSettings::unbuffered()),
            ),
            // Anyone may connect, as with PostgreSQL's default unix_socket_permissions; the
            // server's authentication still applies.
            ListenAddr::Unix(path) => service.add_uds(
                &path.display().to_string(),
                Some(std::fs::Permissions::from_mode(0o777)),
            ),
        }
    }

    // The status systemd shows while pgscope serves; READY=1 once every listener listens.
    let serving = format!("proxying {} -> {label}", listen_list(&config));
    if notify::enabled() {
        let mut addresses = ServiceTrait::listen_addresses(&service).unwrap_or_default();
        addresses.push(config.admin.to_string());
        server.add_service(WhenListening::new(addresses, serving, args.upgrade));
    }
    server.add_service(service);
    let target = Target {
        host: upstream.host.clone(),
        port: upstream.port,
        ssl_mode: upstream.tls.mode,
        negotiation: upstream.tls.negotiation,
        tls: connector.client_config(),
    };
    let admin_token = Arc::new(Live::new(Arc::new(config.admin_token.clone())));
    let reloader = Arc::new(Reloader::new(
        args.clone(),
        config.clone(),
        Targets {
            tls: server_tls,
            connector: Arc::clone(&live_connector),
            admission: Arc::clone(&admission),
            log,
            admin_token: Arc::clone(&admin_token),
            observers: Some(Arc::clone(&wiring)),
        },
        Arc::clone(&stats),
    ));
    let ops = Operations {
        token: admin_token,
        reloader: Some(Arc::clone(&reloader)),
        readiness: Some(Arc::new(Readiness::new(
            live_connector,
            Some(Arc::clone(&drain)),
        ))),
        upgrading: args.upgrade,
        capture: Some(Arc::clone(wiring.capture())),
    };
    wiring.add_services(&mut server, Arc::clone(&stats), &config, target, ops)?;
    let handover = Handover {
        before: {
            let wiring = Arc::clone(&wiring);
            Box::new(move || wiring.save("handover"))
        },
        after: {
            let wiring = Arc::clone(&wiring);
            Box::new(move || {
                // The handed-over process exits from here: a running capture ends with its
                // trailer (the new process starts its own), as on any other stop.
                wiring.capture().stop();
                wiring.finish_spans();
            })
        },
        successor: if config.upstream.is_some() {
            Successor::of_this_process(upgrade_sock(&config))
                .map_err(|e| format!("cannot tell which program this process runs: {e}"))
        } else {
            Err("no upstream: the throw-away cluster belongs to this process".to_owned())
        },
        serve_for: config.handover_grace,
    };
    server.run(PingoraRunArgs {
        shutdown_signal: Box::new(DrainOnSignal::new(
            drain,
            config.shutdown_grace,
            reloader,
            handover,
        )),
    });
    // A capture still running ends with its trailer (reason "stopped"), not cut off.
    wiring.capture().stop();
    wiring.finish();
    for listen in &config.listen {
        if let ListenAddr::Unix(path) = listen {
            let _ = std::fs::remove_file(path);
        }
    }
    log::info!("pgscope stopped");
    Ok(())
}

/// Tells the operator something at start: a plain line on stderr, or a log line when logs are
/// JSON (so that every line a log shipper reads is JSON).
fn announce(config: &Config, message: &str) {
    match config.log_format {
        LogFormat::Text => eprintln!("pgscope: {message}"),
        LogFormat::Json => log::info!("{message}"),
    }
}

fn listen_list(config: &Config) -> String {
    let names: Vec<String> = config.listen.iter().map(ToString::to_string).collect();
    names.join(", ")
}

/// Checks that the directory of the socket `path` exists.
pub(super) fn check_socket_dir(path: &Path) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    anyhow::ensure!(
        dir.is_dir(),
        "cannot listen on {} (listen): the directory {} does not exist",
        path.display(),
        dir.display()
    );
    Ok(())
}

/// Checks that `listen` can be listened on, so a mistake is reported with the key's name.
fn check_listen(listen: &ListenAddr) -> anyhow::Result<()> {
    match listen {
        ListenAddr::Tcp(addr) => {
            TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr} (listen)"))?;
        }
        ListenAddr::Unix(path) => {
            check_socket_dir(path)?;
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                anyhow::bail!(
                    "cannot listen on {} (listen): another server is listening there",
                    path.display()
                );
            }
            // A socket file left by a process that is gone: replace it, as PostgreSQL does.
            if path.exists() {
                std::fs::remove_file(path).with_context(|| {
                    format!("cannot remove the stale socket {}", path.display())
                })?;
            }
            std::os::unix::net::UnixListener::bind(path)
                .with_context(|| format!("cannot listen on {} (listen)", path.display()))?;
            std::fs::remove_file(path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    Ok(())
}

/// Where a process started with `--upgrade` waits for the listening sockets: one path per
/// `listen` setting, so the old and the new process find each other.
fn upgrade_sock(config: &Config) -> std::path::PathBuf {
    let name: String = listen_list(config)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        // A Unix socket path has room for 107 bytes.
        .take(64)
        .collect();
    std::env::temp_dir().join(format!("pgscope-upgrade-{name}.sock"))
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
        // pgscope drains itself: after SIGTERM it tells pingora to stop at once once drained;
        // after SIGQUIT (handover) its own thread exits the process once its sessions are gone
        // (handover_grace, then shutdown_grace at most), so pingora's grace period only has to
        // outlast that.
        grace_period_seconds: Some(
            config
                .handover_grace
                .as_secs()
                .saturating_add(config.shutdown_grace.as_secs())
                .saturating_add(20),
        ),
        graceful_shutdown_timeout_seconds: Some(1),
        pid_file: tmp.join(format!("pgscope-{pid}.pid")).display().to_string(),
        upgrade_sock: upgrade_sock(config).display().to_string(),
        ..ServerConf::default()
    }
}
