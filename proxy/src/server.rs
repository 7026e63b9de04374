//! Wiring: the pump behind a pingora `ServerApp` listener, a connection cap, graceful drain.
//!
//! pingora owns the process: listeners, worker runtimes and signals. pgscope plugs in a
//! [`ProxyApp`] (one per listener; `process_new` runs one client connection) and a
//! [`DrainOnSignal`] shutdown watch that turns SIGTERM into a graceful drain:
//!
//! 1. SIGTERM: new connections are refused with FATAL 57P01 ("shutting down"), and every
//!    open connection is closed as soon as it is idle (no request in flight, no transaction);
//! 2. when the last connection has ended, or `shutdown_grace` has passed, pingora is told to
//!    terminate, and the process exits with status 0.
//!
//! SIGQUIT replaces the process without refusing anyone (pingora's graceful upgrade): a new
//! `pgscope run --upgrade` with the same configuration waits for the listening sockets; on
//! SIGQUIT this process writes a snapshot for it, pingora hands the sockets over, and this
//! process goes on serving the sessions it already had (and those pingora still accepts for
//! its last 5 s) as if nothing happened: each ends when its client disconnects, as a pool
//! recycling its connections does. Only after `handover_grace` does it drain them as above
//! (idle ones closed with FATAL 57P01 at once, as PostgreSQL's own shutdown does; one in a
//! transaction when the transaction ends, within `shutdown_grace`); it exits as soon as the
//! last session is gone. SIGTERM during that time starts the drain at once, SIGINT exits.
//!
//! SIGUSR2 does the same with a new process this one starts itself ([`Successor`]: the program
//! at the path this one was started from, same arguments, `--upgrade`), so that under systemd
//! the new process is part of the service.
//!
//! SIGINT shuts down at once. SIGHUP reloads the configuration ([`Reloader`]) and never
//! terminates: without a handler its default action would end the process (and, in embedded
//! mode, orphan the throw-away cluster).
//!
//! pingora accepts; once a connection's startup is over, the pump serves it on the raw tokio
//! socket under pingora's `Stream` where the kernel allows it (`crate::socket`).
//!
//! Who gets a connection is [`Admission`]'s business: session slots (a semaphore, the
//! mini-redis pattern), a separate cap on connections still in startup, and the open-file
//! budget, checked here at accept.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pgscope_protocol::encode;
use pingora_core::apps::ServerApp;
use pingora_core::protocols::Stream;
use pingora_core::server::{ShutdownSignal, ShutdownSignalWatch, ShutdownWatch};
use tokio::io::AsyncWriteExt;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::watch;

use crate::admission::Admission;
use crate::notify;
use crate::pump::Pump;
use crate::reload::Reloader;
use crate::stats::ProxyStats;
use crate::successor::Successor;

/// Shared shutdown state: the drain flag and the connection caps.
#[derive(Debug)]
pub struct Drain {
    draining: watch::Sender<bool>,
    admission: Arc<Admission>,
}

impl Drain {
    /// Drains the sessions admitted by `admission`.
    pub fn new(admission: Arc<Admission>) -> Arc<Self> {
        Arc::new(Drain {
            draining: watch::Sender::new(false),
            admission,
        })
    }

    /// Starts draining: connections close when idle, new ones are refused.
    pub fn start(&self) {
        self.draining.send_replace(true);
    }

    /// Whether draining has started.
    pub fn is_draining(&self) -> bool {
        *self.draining.borrow()
    }

    /// Resolves when no client session is open.
    pub async fn all_closed(&self) {
        // Holding every slot at once means no session holds one.
        let all = u32::try_from(self.admission.max_connections()).unwrap_or(u32::MAX);
        let _all = self.admission.slots().acquire_many(all).await;
    }
}

/// The pingora application: one client connection per `process_new`.
#[derive(Debug)]
pub struct ProxyApp {
    pump: Pump,
    drain: Arc<Drain>,
}

impl ProxyApp {
    /// An app running connections through `pump`, capped and drained by `drain`.
    pub fn new(pump: Pump, drain: Arc<Drain>) -> Self {
        ProxyApp { pump, drain }
    }

    async fn refuse(&self, mut stream: Stream, sqlstate: &str, message: &str) {
        ProxyStats::add(&self.pump.stats().client_connections_refused, 1);
        let error = encode::backend::error_response("FATAL", sqlstate, message);
        let _ = stream.write_all(&error).await;
        let _ = stream.flush().await;
        let _ = stream.shutdown().await;
    }
}

#[async_trait]
impl ServerApp for ProxyApp {
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        _shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        if self.drain.is_draining() {
            self.refuse(stream, "57P01", "pgscope is shutting down")
                .await;
            return None;
        }
        let Some(open) = self.drain.admission.open() else {
            log::warn!("refusing a client: the open-file limit is reached");
            self.refuse(
                stream,
                "53300",
                "pgscope: sorry, too many clients already (open-file limit reached)",
            )
            .await;
            return None;
        };
        // The connection gets a task of its own and pingora's task ends here: an idle
        // connection then holds one task and its state, not also pingora's task around it.
        // Draining and shutdown never relied on pingora's task: they count admission slots.
        let app = Arc::clone(self);
        let draining = self.drain.draining.subscribe();
        tokio::spawn(async move {
            app.pump.serve(stream, draining).await;
            drop(open);
        });
        None
    }
}

/// What a process being replaced (SIGQUIT, `pgscope run --upgrade`) runs around the handover.
pub struct Handover {
    /// Before the listening sockets go: write the snapshot the new process starts from.
    pub before: Box<dyn Fn() + Send + Sync>,
    /// Once the last session has drained (or the grace period is over), before the process
    /// exits: flush what is queued (spans). No snapshot: the state directory is the new
    /// process's now.
    pub after: Box<dyn Fn() + Send + Sync>,
    /// What SIGUSR2 starts before handing over; `Err`: why SIGUSR2 cannot (logged).
    pub successor: Result<Successor, String>,
    /// How long open sessions are served as usual after the handover, before the drain.
    pub serve_for: Duration,
}

impl std::fmt::Debug for Handover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Handover")
    }
}

/// How long pingora keeps accepting on the old process after handing the sockets over (its
/// `CLOSE_TIMEOUT`, 5 s) plus a margin: connections it accepts then are served, and only then
/// does the drain start, so none of them is refused.
const HANDOVER_ACCEPTS: Duration = Duration::from_millis(5_500);

/// pingora's shutdown watch for pgscope: SIGTERM drains, SIGQUIT hands the listening sockets to
/// a new process and then drains, SIGINT stops at once, SIGHUP reloads.
#[derive(Debug)]
pub struct DrainOnSignal {
    drain: Arc<Drain>,
    grace: Duration,
    reloader: Arc<Reloader>,
    handover: Arc<Handover>,
}

impl DrainOnSignal {
    /// Drains `drain` for at most `grace` after SIGTERM or SIGQUIT (after `handover.before`);
    /// reloads with `reloader` on SIGHUP.
    pub fn new(
        drain: Arc<Drain>,
        grace: Duration,
        reloader: Arc<Reloader>,
        handover: Handover,
    ) -> Self {
        DrainOnSignal {
            drain,
            grace,
            reloader,
            handover: Arc::new(handover),
        }
    }

    /// SIGQUIT: the snapshot, then pingora sends the listening sockets to the process started
    /// with `--upgrade`; this process serves its sessions for `handover.serve_for`, drains and
    /// exits on a thread of its own (pingora's own timeline would stop the runtimes after its
    /// grace period).
    fn hand_over(&self) -> ShutdownSignal {
        log::info!(
            "SIGQUIT: handing the listening sockets to the new process; open sessions are served \
             until their clients disconnect, for up to {:?}, then drained for up to {:?}",
            self.handover.serve_for,
            self.grace
        );
        (self.handover.before)();
        let (drain, grace, handover) = (
            Arc::clone(&self.drain),
            self.grace,
            Arc::clone(&self.handover),
        );
        let spawned = std::thread::Builder::new()
            .name("pgscope-handover".to_owned())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(runtime) = runtime {
                    runtime.block_on(serve_then_drain(&drain, handover.serve_for, grace));
                }
                (handover.after)();
                log::info!("pgscope stopped (replaced)");
                std::process::exit(0);
            });
        if let Err(error) = spawned {
            log::error!("cannot start the handover thread ({error}); stopping now");
        }
        ShutdownSignal::GracefulUpgrade
    }
}

/// After a handover: serve the open sessions as usual for `serve_for` (at least while pingora
/// still accepts), unless they all end first or SIGTERM comes; then drain for up to `grace`.
async fn serve_then_drain(drain: &Drain, serve_for: Duration, grace: Duration) {
    let (Ok(mut term), Ok(mut interrupt)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        log::error!("cannot install signal handlers for the handover; draining now");
        tokio::time::sleep(HANDOVER_ACCEPTS).await;
        return drain_for(drain, grace).await;
    };
    tokio::select! {
        () = tokio::time::sleep(HANDOVER_ACCEPTS) => {}
        _ = term.recv() => {}
        _ = interrupt.recv() => return,
    }
    tokio::select! {
        () = drain.all_closed() => {
            log::info!("all client connections closed");
            return;
        }
        () = tokio::time::sleep(serve_for.saturating_sub(HANDOVER_ACCEPTS)) => log::info!(
            "handover_grace ({serve_for:?}) over: closing idle sessions, the others when their \
             transaction ends, for up to {grace:?}"
        ),
        _ = term.recv() => log::info!("SIGTERM: draining the remaining sessions for up to {grace:?}"),
        _ = interrupt.recv() => return,
    }
    tokio::select! {
        () = drain_for(drain, grace) => {}
        _ = interrupt.recv() => {}
    }
}

/// Closes sessions as they become idle, for at most `grace`.
async fn drain_for(drain: &Drain, grace: Duration) {
    drain.start();
    tokio::select! {
        () = drain.all_closed() => log::info!("all client connections closed"),
        () = tokio::time::sleep(grace) => log::warn!("shutdown grace period over; closing remaining connections"),
    }
}

impl DrainOnSignal {
    /// SIGUSR2: starts the successor ([`Successor`]); whether it waits for the sockets now.
    async fn start_successor(&self) -> bool {
        let successor = match &self.handover.successor {
            Ok(successor) => successor,
            Err(why) => {
                log::error!("SIGUSR2: cannot start a new process to hand over to: {why}");
                return false;
            }
        };
        log::info!("SIGUSR2: starting a new pgscope process to hand over to");
        match successor.start().await {
            Ok(pid) => {
                log::info!("SIGUSR2: the new process {pid} waits for the listening sockets");
                true
            }
            Err(error) => {
                log::error!("SIGUSR2: no handover, this process keeps serving: {error}");
                false
            }
        }
    }
}

/// The next signal on `stream`; never resolves without one.
async fn recv_or_never(stream: Option<&mut Signal>) -> Option<()> {
    match stream {
        Some(stream) => stream.recv().await,
        None => std::future::pending().await,
    }
}

#[async_trait]
impl ShutdownSignalWatch for DrainOnSignal {
    async fn recv(&self) -> ShutdownSignal {
        let (Ok(mut term), Ok(mut quit), Ok(mut interrupt), Ok(mut hangup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::quit()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        ) else {
            log::error!("cannot install signal handlers; SIGTERM will not drain");
            return std::future::pending().await;
        };
        let mut user2 = signal(SignalKind::user_defined2()).ok();
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = quit.recv() => return self.hand_over(),
                Some(()) = recv_or_never(user2.as_mut()) => {
                    if self.start_successor().await {
                        return self.hand_over();
                    }
                }
                _ = interrupt.recv() => {
                    notify::stopping("stopping now (SIGINT)");
                    return ShutdownSignal::FastShutdown;
                }
                _ = hangup.recv() => {
                    let reloader = Arc::clone(&self.reloader);
                    // Reading certificate files is blocking IO.
                    let _ = tokio::task::spawn_blocking(move || reloader.reload()).await;
                }
            }
        }
        log::info!(
            "shutting down: draining client connections for up to {:?}",
            self.grace
        );
        notify::stopping(&format!(
            "shutting down: draining client connections for up to {:?}",
            self.grace
        ));
        self.drain.start();
        tokio::select! {
            _ = self.drain.all_closed() => log::info!("all client connections closed"),
            _ = tokio::time::sleep(self.grace) => log::warn!("shutdown grace period over; closing remaining connections"),
            _ = interrupt.recv() => return ShutdownSignal::FastShutdown,
        }
        // Drained already: nothing is left for pingora's grace period (which is long, for the
        // SIGQUIT handover), so stop at once.
        ShutdownSignal::FastShutdown
    }
}
