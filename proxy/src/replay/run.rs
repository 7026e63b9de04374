//! Running a planned replay: every session as a task, on the caller's runtime
//! ([`Replay::run`]) or on threads of its own ([`Replay::run_on_threads`]).
//!
//! **Threads.** `pgscope replay` drives the sessions the way pgbench's `-j` threads drive their
//! connections: the sessions are dealt round-robin to N threads, each running its share on a
//! single-threaded runtime of its own. A session never moves between threads, so a thread never
//! wakes another to hand it work — the cost a work-stealing runtime pays per answer when a few
//! connections each wait on the server (`benches/README.md`, replay throughput). The threads
//! share the start time, so sessions still start at their captured offsets.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use super::{drive, Context, Outcome, Replay, ReplayError, SessionFailure};
use crate::tls::UpstreamConnector;

impl Replay {
    /// What every session task shares; the replay's clock starts now.
    fn context(&self) -> Result<Arc<Context>, ReplayError> {
        let connector =
            UpstreamConnector::new(&self.options.target.upstream, self.options.connect_timeout)?;
        Ok(Arc::new(Context {
            connector,
            recorder: Arc::clone(&self.recorder),
            shapes: Arc::clone(&self.shapes),
            speed: self.options.speed,
            start: Instant::now(),
            zero: self.zero,
            stall_timeout: self.options.stall_timeout,
            counters: Arc::clone(&self.counters),
            stalls: Mutex::new(Vec::new()),
        }))
    }

    /// Runs every session to its end on the current runtime.
    pub async fn run(mut self) -> Result<Outcome, ReplayError> {
        let ctx = self.context()?;
        let jobs = std::mem::take(&mut self.jobs);
        let sessions = jobs.len() as u64;
        let failures = drive_all(Arc::clone(&ctx), jobs).await;
        Ok(self.outcome(&ctx, failures, sessions))
    }

    /// Runs every session to its end on `threads` threads of its own, each driving its share
    /// of the sessions on a single-threaded runtime (see the module documentation). Blocks.
    pub fn run_on_threads(mut self, threads: usize) -> Result<Outcome, ReplayError> {
        let threads = threads.max(1);
        let ctx = self.context()?;
        let jobs = std::mem::take(&mut self.jobs);
        let sessions = jobs.len() as u64;
        let mut shares: Vec<Vec<drive::Job>> = (0..threads).map(|_| Vec::new()).collect();
        for (i, job) in jobs.into_iter().enumerate() {
            shares[i % threads].push(job);
        }
        let mut failures = Vec::new();
        std::thread::scope(|scope| -> Result<(), ReplayError> {
            let running: Vec<_> = shares
                .into_iter()
                .filter(|share| !share.is_empty())
                .map(|share| {
                    let ctx = Arc::clone(&ctx);
                    scope.spawn(move || -> Result<Vec<SessionFailure>, ReplayError> {
                        let runtime = tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()?;
                        Ok(runtime.block_on(drive_all(ctx, share)))
                    })
                })
                .collect();
            for thread in running {
                match thread.join() {
                    Ok(result) => failures.extend(result?),
                    Err(_) => failures.push(SessionFailure {
                        session: 0,
                        copy: 0,
                        error: "a replay thread panicked".into(),
                    }),
                }
            }
            Ok(())
        })?;
        Ok(self.outcome(&ctx, failures, sessions))
    }

    /// What the replay did, once every session has ended.
    fn outcome(self, ctx: &Context, mut failures: Vec<SessionFailure>, sessions: u64) -> Outcome {
        let elapsed = ctx.start.elapsed();
        failures.sort_by_key(|f| (f.session, f.copy));
        let mut stalls =
            std::mem::take(&mut *ctx.stalls.lock().unwrap_or_else(PoisonError::into_inner));
        stalls.sort_by_key(|s| (s.session, s.copy));
        Outcome {
            recorder: self.recorder,
            stalls,
            failures,
            skipped_requests: self.skipped_requests,
            sessions,
            elapsed,
        }
    }
}

/// Runs `jobs` as tasks of the current runtime until every one has ended; their failures.
async fn drive_all(ctx: Arc<Context>, jobs: Vec<drive::Job>) -> Vec<SessionFailure> {
    let mut tasks = tokio::task::JoinSet::new();
    for job in jobs {
        let ctx = Arc::clone(&ctx);
        tasks.spawn(async move {
            let (session, copy) = (job.id, job.copy);
            let result = drive::run(Arc::clone(&ctx), job).await;
            ctx.counters.finished.fetch_add(1, Ordering::Relaxed);
            result.map_err(|error| SessionFailure {
                session,
                copy,
                error: error.to_string(),
            })
        });
    }
    let mut failures = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(())) => {}
            Ok(Err(failure)) => failures.push(failure),
            Err(error) => failures.push(SessionFailure {
                session: 0,
                copy: 0,
                error: format!("session task failed: {error}"),
            }),
        }
    }
    failures
}
