//! Telling the service manager what pgscope is doing: systemd's notification protocol
//! (`sd_notify(3)`, `Type=notify` units), through the `sd-notify` crate.
//!
//! When `NOTIFY_SOCKET` is set (systemd sets it for a `Type=notify` service), pgscope sends:
//!
//! | when | message |
//! |---|---|
//! | every listener (proxy and admin) is bound and listening, the embedded cluster (if any) is up | `READY=1`, `STATUS=proxying …` |
//! | the same, in a process started with `--upgrade` (it received the sockets) | `MAINPID=<its pid>`, `READY=1`, `STATUS=…` |
//! | a reload starts (SIGHUP or `POST /api/v1/reload`) | `RELOADING=1`, `MONOTONIC_USEC=…` |
//! | the reload is over | `READY=1`, `STATUS=configuration reloaded: …` or `STATUS=configuration reload failed …` |
//! | SIGTERM (drain) or SIGINT | `STOPPING=1`, `STATUS=…` |
//!
//! `RELOADING=1` with `MONOTONIC_USEC` then `READY=1` is systemd's reload protocol: systemd 253
//! and later (`Type=notify-reload`) use the timestamp to tell that the reload answers the signal
//! they sent; older ones show the unit as "reloading" until `READY=1`.
//!
//! `MAINPID=` is what makes a graceful upgrade work under systemd: the process that took the
//! listening sockets tells systemd it is the service's main process now, so the old one may exit
//! without systemd taking the service for stopped (and killing its new process). systemd accepts
//! it only from a process in the service's control group and with `NotifyAccess=all`.
//!
//! Without `NOTIFY_SOCKET` nothing is sent and nothing waits. A message that cannot be sent is
//! logged, never fatal: the proxy serves either way.

use std::time::Duration;

use async_trait::async_trait;
use pingora_core::server::ListenFds;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::{ServiceReadyNotifier, ServiceWithDependents};
use sd_notify::NotifyState;

/// How often [`WhenListening`] looks for the listening sockets.
const LISTEN_POLL: Duration = Duration::from_millis(10);

/// The longest `STATUS=` text sent (systemd shows one line; a reload summary can be long).
const STATUS_MAX: usize = 400;

/// Whether a service manager listens (`NOTIFY_SOCKET` is set).
pub fn enabled() -> bool {
    std::env::var_os("NOTIFY_SOCKET").is_some()
}

/// `READY=1` with a status line; with `MAINPID=` first when this process took over the
/// listening sockets of another (`--upgrade`).
pub fn ready(status: &str, took_over: bool) {
    let pid = std::process::id();
    let status = status_line(status);
    let mut states = Vec::with_capacity(3);
    if took_over {
        states.push(NotifyState::MainPid(pid));
    }
    states.push(NotifyState::Ready);
    states.push(NotifyState::Status(&status));
    send(&states);
}

/// A reload starts: `RELOADING=1` and the monotonic clock now.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(error) => {
            log::warn!("cannot read the monotonic clock for systemd ({error})");
            send(&[NotifyState::Reloading]);
        }
    }
}

/// The reload is over, applied (`summary`) or not (`error`): `READY=1` and a status line.
pub fn reloaded(result: Result<&str, &str>) {
    let status = match result {
        Ok(summary) => status_line(&format!("configuration reloaded: {summary}")),
        Err(error) => status_line(&format!(
            "configuration reload failed, the running configuration is kept: {error}"
        )),
    };
    send(&[NotifyState::Ready, NotifyState::Status(&status)]);
}

/// Shutting down: `STOPPING=1` and why.
pub fn stopping(status: &str) {
    let status = status_line(status);
    send(&[NotifyState::Stopping, NotifyState::Status(&status)]);
}

/// One line of at most [`STATUS_MAX`] bytes (newlines would end the `STATUS=` field).
fn status_line(text: &str) -> String {
    let line = text.replace('\n', " ");
    if line.len() <= STATUS_MAX {
        return line;
    }
    let mut end = STATUS_MAX;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &line[..end])
}

fn send(states: &[NotifyState<'_>]) {
    if let Err(error) = sd_notify::notify(states) {
        log::warn!("cannot notify the service manager (NOTIFY_SOCKET): {error}");
    }
}

/// A pingora service that sends `READY=1` ([`ready`]) once every listening address pgscope
/// serves is bound and listening.
///
/// pingora binds a listener inside its service's start and records the socket in the table of
/// listening sockets it passes every service (the table a graceful upgrade hands over); an
/// address present there is listening, so a client connecting then is accepted. A process
/// started with `--upgrade` has them all from the start.
#[derive(Debug)]
pub struct WhenListening {
    addresses: Vec<String>,
    status: String,
    took_over: bool,
}

impl WhenListening {
    /// Sends `READY=1` with `status` once all of `addresses` (as pingora names them: `host:port`
    /// or a socket path) are listening; `took_over`: with `MAINPID=` (`--upgrade`).
    pub fn new(addresses: Vec<String>, status: String, took_over: bool) -> Self {
        WhenListening {
            addresses,
            status,
            took_over,
        }
    }

    fn all_listening(&self, fds: Option<&ListenFds>) -> bool {
        fds.is_none_or(|fds| {
            let table = fds.lock();
            self.addresses.iter().all(|a| table.get(a).is_some())
        })
    }
}

#[async_trait]
impl ServiceWithDependents for WhenListening {
    async fn start_service(
        &mut self,
        fds: Option<ListenFds>,
        mut shutdown: ShutdownWatch,
        _listeners_per_fd: usize,
        ready_notifier: ServiceReadyNotifier,
    ) {
        ready_notifier.notify_ready();
        while !self.all_listening(fds.as_ref()) {
            tokio::select! {
                () = tokio::time::sleep(LISTEN_POLL) => {}
                _ = shutdown.changed() => return,
            }
        }
        ready(&self.status, self.took_over);
    }

    fn name(&self) -> &str {
        "pgscope notify"
    }

    fn threads(&self) -> Option<usize> {
        Some(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_is_one_line_cut_at_a_character_boundary() {
        assert_eq!(status_line("a\nb"), "a b");
        let long = "é".repeat(STATUS_MAX);
        let cut = status_line(&long);
        assert!(cut.len() <= STATUS_MAX + '…'.len_utf8());
        assert!(cut.ends_with('…'));
    }
}
