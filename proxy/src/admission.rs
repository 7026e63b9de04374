//! Who may hold a connection: slots for established sessions, a separate cap on connections
//! still in their startup, and the file-descriptor budget under both.
//!
//! A client in its startup (TLS handshake, startup packet, authentication) holds a *startup
//! ticket*, not a session slot, until the server's first `ReadyForQuery`. Tickets are capped by
//! `max_startup_connections`; when the cap is full, a new connection evicts the oldest one still
//! in startup. Slow clients lose and a real client, whose startup takes milliseconds, gets in: a
//! drip-feed of half-open sockets cannot lock anyone out, even before `startup_timeout` fires.
//! A session slot (`max_connections`) is taken when the startup packet is complete, where
//! PostgreSQL itself says "too many clients already" (FATAL 53300).
//!
//! Every connection costs two file descriptors (client and upstream). Beyond what the process's
//! open-file limit allows, less a reserve for the admin server, snapshots and the growth monitor,
//! a new client is refused at once with FATAL 53300 instead of hanging in a failed `accept`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::stats::ProxyStats;

/// File descriptors kept out of the connections' budget (admin server, snapshots, logs, the
/// growth monitor's connections, the listening sockets).
pub const FD_RESERVE: u64 = 64;

/// The connection caps of one listener set. Shared by every connection task.
#[derive(Debug)]
pub struct Admission {
    slots: Arc<Semaphore>,
    /// The session cap in force (changed by reloads).
    max_connections: AtomicUsize,
    max_startup: AtomicUsize,
    /// Connections in startup, oldest first, each with the signal that evicts it.
    starting: Mutex<BTreeMap<u64, Arc<Notify>>>,
    next_id: AtomicU64,
    /// Most client connections the file-descriptor budget allows.
    fd_cap: usize,
    open: Arc<AtomicUsize>,
    stats: Arc<ProxyStats>,
}

/// A connection's place among those in startup; dropping it gives the place back.
#[derive(Debug)]
pub struct StartupTicket {
    admission: Arc<Admission>,
    id: u64,
    evicted: Arc<Notify>,
}

/// A connection counted against the file-descriptor budget while it lives.
#[derive(Debug)]
pub struct Open(Arc<AtomicUsize>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Admission {
    /// Caps: `max_connections` sessions, `max_startup` connections in startup, and at most
    /// `fd_cap` client connections in all; decisions are counted in `stats`.
    pub fn new(
        max_connections: usize,
        max_startup: usize,
        fd_cap: usize,
        stats: Arc<ProxyStats>,
    ) -> Arc<Self> {
        Arc::new(Admission {
            slots: Arc::new(Semaphore::new(max_connections.min(Semaphore::MAX_PERMITS))),
            max_connections: AtomicUsize::new(max_connections.min(Semaphore::MAX_PERMITS)),
            max_startup: AtomicUsize::new(max_startup.max(1)),
            starting: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(0),
            fd_cap: fd_cap.max(1),
            open: Arc::new(AtomicUsize::new(0)),
            stats,
        })
    }

    /// Counts a newly accepted connection against the file-descriptor budget; `None` when the
    /// budget is spent (the caller refuses the client at once).
    pub fn open(&self) -> Option<Open> {
        let before = self.open.fetch_add(1, Ordering::Relaxed);
        let open = Open(Arc::clone(&self.open));
        if before >= self.fd_cap {
            ProxyStats::add(&self.stats.fd_limit_refusals, 1);
            return None;
        }
        Some(open)
    }

    /// A place among the connections in startup, evicting the oldest when all are taken.
    pub fn start(self: &Arc<Self>) -> StartupTicket {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let evicted = Arc::new(Notify::new());
        let mut starting = self.starting.lock().unwrap_or_else(PoisonError::into_inner);
        let max_startup = self.max_startup.load(Ordering::Relaxed);
        while starting.len() >= max_startup {
            let Some((_, oldest)) = starting.pop_first() else {
                break;
            };
            oldest.notify_one();
            ProxyStats::add(&self.stats.startup_evictions, 1);
            self.stats
                .client_connections_starting
                .fetch_sub(1, Ordering::Relaxed);
        }
        starting.insert(id, Arc::clone(&evicted));
        ProxyStats::add(&self.stats.client_connections_starting, 1);
        StartupTicket {
            admission: Arc::clone(self),
            id,
            evicted,
        }
    }

    /// A session slot, if one is free.
    pub fn slot(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.slots).try_acquire_owned().ok()
    }

    /// The semaphore of session slots (for waiting until every session has ended).
    pub fn slots(&self) -> &Arc<Semaphore> {
        &self.slots
    }

    /// The session cap in force.
    pub fn max_connections(&self) -> usize {
        self.max_connections.load(Ordering::Relaxed)
    }

    /// Changes both caps (a reload). A lower session cap closes no session: the slots given
    /// back by ending sessions are retired until the new cap holds. Must run inside a tokio
    /// runtime when lowering.
    pub fn set_limits(&self, max_connections: usize, max_startup: usize) {
        self.max_startup
            .store(max_startup.max(1), Ordering::Relaxed);
        let new = max_connections.clamp(1, Semaphore::MAX_PERMITS);
        let old = self.max_connections.swap(new, Ordering::Relaxed);
        if new > old {
            self.slots.add_permits(new - old);
        } else if new < old {
            let excess = old - new;
            let retired = self.slots.forget_permits(excess);
            if retired < excess {
                let slots = Arc::clone(&self.slots);
                let rest = u32::try_from(excess - retired).unwrap_or(u32::MAX);
                tokio::spawn(async move {
                    if let Ok(permits) = slots.acquire_many_owned(rest).await {
                        permits.forget();
                    }
                });
            }
        }
    }
}

impl StartupTicket {
    /// Resolves when a newer connection evicted this one.
    pub async fn evicted(&self) {
        self.evicted.notified().await;
    }

    /// The eviction signal, for a future that outlives a borrow of the ticket.
    pub fn eviction(&self) -> Arc<Notify> {
        Arc::clone(&self.evicted)
    }
}

impl Drop for StartupTicket {
    fn drop(&mut self) {
        let mut starting = self
            .admission
            .starting
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if starting.remove(&self.id).is_some() {
            self.admission
                .stats
                .client_connections_starting
                .fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Raises the soft open-file limit to the hard one and returns the resulting soft limit (or
/// `None` when it cannot be read). Logs what it did.
pub fn raise_fd_limit() -> Option<u64> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok(limits) => limits,
        Err(error) => {
            log::warn!("cannot read the open-file limit (RLIMIT_NOFILE): {error}");
            return None;
        }
    };
    if soft >= hard {
        log::info!("open-file limit: {soft}");
        return Some(soft);
    }
    match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
        Ok(()) => {
            log::info!("open-file limit raised from {soft} to {hard} (the hard limit)");
            Some(hard)
        }
        Err(error) => {
            log::warn!("open-file limit stays at {soft}: cannot raise it to {hard}: {error}");
            Some(soft)
        }
    }
}

/// How many client connections `limit` open files allow: two descriptors each, after the
/// reserve.
pub fn fd_cap(limit: Option<u64>) -> usize {
    match limit {
        Some(limit) => usize::try_from(limit.saturating_sub(FD_RESERVE) / 2).unwrap_or(usize::MAX),
        None => usize::MAX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_startup_cap_evicts_the_oldest_connection_in_startup() {
        let stats = Arc::new(ProxyStats::default());
        let admission = Admission::new(10, 2, 100, Arc::clone(&stats));
        let first = admission.start();
        let second = admission.start();
        let third = admission.start();
        // The first was evicted: its signal fires at once.
        tokio::time::timeout(std::time::Duration::from_secs(1), first.evicted())
            .await
            .expect("the oldest was not evicted");
        let starting = || ProxyStats::get(&stats.client_connections_starting);
        assert_eq!(ProxyStats::get(&stats.startup_evictions), 1);
        assert_eq!(starting(), 2);
        drop(first);
        assert_eq!(starting(), 2);
        drop(second);
        drop(third);
        assert_eq!(starting(), 0);
    }

    #[tokio::test]
    async fn a_reload_raises_and_lowers_the_session_cap_without_closing_sessions() {
        let admission = Admission::new(2, 5, 100, Arc::new(ProxyStats::default()));
        let a = admission.slot().expect("slot");
        let b = admission.slot().expect("slot");
        assert!(admission.slot().is_none());
        admission.set_limits(3, 5);
        let c = admission.slot().expect("a raised cap gives a slot at once");
        admission.set_limits(1, 5);
        assert_eq!(admission.max_connections(), 1);
        // Three sessions stay open; as they end, slots are retired until one remains.
        drop((a, b, c));
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        let only = admission.slot().expect("one slot left");
        assert!(
            admission.slot().is_none(),
            "the lowered cap was not enforced"
        );
        drop(only);
    }

    #[test]
    fn connections_beyond_the_fd_budget_are_refused_and_counted() {
        let stats = Arc::new(ProxyStats::default());
        let admission = Admission::new(10, 10, 2, Arc::clone(&stats));
        let a = admission.open();
        let b = admission.open();
        assert!(a.is_some() && b.is_some());
        assert!(admission.open().is_none());
        assert_eq!(ProxyStats::get(&stats.fd_limit_refusals), 1);
        drop(a);
        assert!(admission.open().is_some());
    }

    #[test]
    fn the_fd_budget_is_two_descriptors_per_connection_after_the_reserve() {
        assert_eq!(fd_cap(Some(1024)), (1024 - 64) / 2);
        assert_eq!(fd_cap(Some(10)), 0);
        assert_eq!(fd_cap(None), usize::MAX);
    }
}
