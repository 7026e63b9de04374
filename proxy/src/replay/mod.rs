//! `pgscope replay`: a captured workload sent again to another server, at its captured rate
//! and variety, and compared with the capture per fingerprint.
//!
//! # Design
//!
//! - [`model`]: what is replayed — sessions (who connected, when, every frontend message sent
//!   after authentication, with its time) and the capture's baseline (what the server
//!   answered each statement). The capture file's reader is mapped onto it in [`load`]; the
//!   engine does not know the file format.
//! - [`plan`]: a captured session becomes steps — bytes to write at a time, and where to wait
//!   for the server — with `--read-only`'s whole-request filtering; [`script`] works out what
//!   the server answers each message with and which statement (with its captured fingerprint)
//!   each answer finishes.
//! - [`connect`]: TLS (the proxy's own upstream connector), startup and authentication
//!   (SCRAM-SHA-256 and md5 from `postgres-protocol`).
//! - [`drive`]: one task per replayed session, writing its steps; [`answers`] reads the
//!   server's answers with the protocol crate's decoder and matches them to the plan's
//!   statements as the proxy's session tracker matches them — simple, extended, pipelined,
//!   COPY, errors skipping to `Sync` — recording each finished statement in a [`Recorder`] as
//!   the proxy records it, under its captured fingerprint. Stalls on locks are detected and
//!   cancelled there.
//! - [`compare`]: the replay's recorder against the capture's baseline, as the report that
//!   `pgscope report --baseline` renders.
//!
//! Sessions start at their captured offsets (scaled by `--speed`); `--multiply N` runs N copies
//! of each, started together. [`run`] drives them on the caller's runtime, or on threads of
//! their own, each with its share of the sessions.

mod answers;
pub mod compare;
pub mod connect;
pub mod drive;
pub mod load;
pub mod model;
pub mod plan;
mod run;
mod script;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use pgscope_config::{Pgpass, PgpassKey, Target};

use crate::recorder::{Recorder, RecorderSettings};
use crate::shape::Shapes;
use crate::tls::UpstreamConnector;
use connect::Login;
use model::Capture;

/// Why a replayed session (or the replay) failed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The connection could not be opened or authenticated.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The server refused the session.
    #[error("the server refused the connection: {message} (SQLSTATE {sqlstate})")]
    Refused {
        /// The SQLSTATE.
        sqlstate: String,
        /// The server's message.
        message: String,
    },
    /// The connection failed.
    #[error("connection failed: {0}")]
    Io(#[from] std::io::Error),
    /// The target's TLS settings could not be loaded.
    #[error("TLS to the target: {0}")]
    Tls(#[from] crate::tls::TlsError),
}

/// How fast the capture is replayed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// Captured time divided by this factor (1.0 is the captured rate).
    Factor(f64),
    /// No waiting: each step as soon as the server's answers allow.
    Max,
}

impl std::str::FromStr for Speed {
    type Err = String;

    fn from_str(text: &str) -> Result<Speed, String> {
        if text.eq_ignore_ascii_case("max") {
            return Ok(Speed::Max);
        }
        match text.parse::<f64>() {
            Ok(factor) if factor.is_finite() && factor > 0.0 => Ok(Speed::Factor(factor)),
            _ => Err(format!(
                "{text:?} is not a speed: expected a factor above 0 (1.0, 2.5) or max"
            )),
        }
    }
}

/// What `pgscope replay` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// The server to replay against.
    pub target: Target,
    /// How fast.
    pub speed: Speed,
    /// Copies of every session.
    pub multiply: u32,
    /// Leave out requests that write.
    pub read_only: bool,
    /// Cancel a statement waiting on a lock longer than this.
    pub stall_timeout: Option<Duration>,
    /// `PGPASSWORD`.
    pub pgpassword: Option<String>,
    /// The password file, loaded.
    pub pgpass: Pgpass,
    /// How long a connection attempt may take.
    pub connect_timeout: Duration,
}

/// A session that waited on a lock longer than `--stall-timeout` and was cancelled.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stall {
    /// The captured session's id.
    pub session: u64,
    /// Which `--multiply` copy.
    pub copy: u32,
    /// How long it had waited without an answer, ms.
    pub waited_ms: u64,
}

/// A session that could not be replayed to its end.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SessionFailure {
    /// The captured session's id.
    pub session: u64,
    /// Which `--multiply` copy.
    pub copy: u32,
    /// Why.
    pub error: String,
}

/// Live figures, for the progress bar.
#[derive(Debug, Default)]
pub struct Counters {
    /// Steps written so far.
    pub steps: AtomicU64,
    /// Sessions connected now.
    pub connected: AtomicU64,
    /// Sessions finished (successfully or not).
    pub finished: AtomicU64,
    /// Stalls cancelled.
    pub stalls: AtomicU64,
}

/// What every session task shares.
pub(crate) struct Context {
    connector: UpstreamConnector,
    recorder: Arc<Recorder>,
    /// Analyses the statements the capture gave no fingerprint.
    shapes: Arc<Shapes>,
    speed: Speed,
    /// When the replay started, and the capture offset that maps to it.
    start: Instant,
    zero: Duration,
    stall_timeout: Option<Duration>,
    counters: Arc<Counters>,
    stalls: Mutex<Vec<Stall>>,
}

impl Context {
    /// When a step due at capture offset `at` is written, `lag` later.
    fn due(&self, at: Duration, lag: Duration) -> Instant {
        match self.speed {
            Speed::Max => self.start,
            Speed::Factor(factor) => {
                self.start + at.saturating_sub(self.zero).div_f64(factor) + lag
            }
        }
    }

    fn record_stall(&self, stall: Stall) {
        self.counters.stalls.fetch_add(1, Ordering::Relaxed);
        self.stalls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(stall);
    }
}

/// A prepared replay: the sessions' plans and what they share. Start it with [`Replay::run`].
pub struct Replay {
    jobs: Vec<drive::Job>,
    options: Options,
    recorder: Arc<Recorder>,
    shapes: Arc<Shapes>,
    counters: Arc<Counters>,
    skipped_requests: u64,
    total_steps: u64,
    zero: Duration,
}

/// What a replay did.
#[derive(Debug)]
pub struct Outcome {
    /// The replayed statements, recorded as the proxy records them.
    pub recorder: Arc<Recorder>,
    /// Stalled sessions that were cancelled.
    pub stalls: Vec<Stall>,
    /// Sessions that failed.
    pub failures: Vec<SessionFailure>,
    /// Requests left out by `--read-only`.
    pub skipped_requests: u64,
    /// Sessions replayed (copies included).
    pub sessions: u64,
    /// How long it took.
    pub elapsed: Duration,
}

impl Replay {
    /// Plans the replay of `capture`.
    pub fn new(capture: &Capture, options: Options, shapes: Arc<Shapes>) -> Replay {
        let recorder = Arc::new(Recorder::new(
            RecorderSettings {
                max_entries: 100_000,
                ..RecorderSettings::default()
            },
            Arc::clone(&shapes),
        ));
        let zero = capture
            .sessions
            .iter()
            .map(|s| s.connected_at)
            .min()
            .unwrap_or_default();
        let mut jobs = Vec::new();
        let mut skipped_requests = 0;
        let mut total_steps = 0;
        for session in &capture.sessions {
            let plan = Arc::new(plan::plan(
                session,
                &capture.known,
                options.read_only.then_some(&*shapes),
            ));
            let labels = Login {
                user: session.user.clone(),
                database: session.database.clone(),
                application: session.application.clone(),
                password: None,
                read_only: options.read_only,
            };
            let login = login_for(&labels, &options);
            for copy in 0..options.multiply.max(1) {
                skipped_requests += plan.skipped_requests;
                total_steps += plan.steps.len() as u64;
                jobs.push(drive::Job {
                    id: session.id,
                    copy,
                    labels: labels.clone(),
                    login: login.clone(),
                    connected_at: session.connected_at,
                    plan: Arc::clone(&plan),
                });
            }
        }
        Replay {
            jobs,
            options,
            recorder,
            shapes,
            counters: Arc::default(),
            skipped_requests,
            total_steps,
            zero,
        }
    }

    /// Steps to write in all (for a progress bar's length).
    pub fn total_steps(&self) -> u64 {
        self.total_steps
    }

    /// Sessions to replay, copies included.
    pub fn sessions(&self) -> u64 {
        self.jobs.len() as u64
    }

    /// The live counters.
    pub fn counters(&self) -> Arc<Counters> {
        Arc::clone(&self.counters)
    }
}

/// Who a session connects as: the captured user and database unless the target URL names
/// others; the password from the URL, `PGPASSWORD`, or the password file, in that order.
fn login_for(captured: &Login, options: &Options) -> Login {
    let target = &options.target;
    let user = target.user.clone().unwrap_or_else(|| captured.user.clone());
    let database = target
        .dbname
        .clone()
        .unwrap_or_else(|| captured.database.clone());
    let application = target
        .application_name
        .clone()
        .unwrap_or_else(|| captured.application.clone());
    let password = target
        .password
        .as_ref()
        .map(|p| p.expose().to_owned())
        .or_else(|| options.pgpassword.clone())
        .or_else(|| {
            options
                .pgpass
                .find(PgpassKey {
                    host: &target.upstream.host,
                    port: target.upstream.port,
                    database: &database,
                    user: &user,
                })
                .map(str::to_owned)
        });
    Login {
        user,
        database,
        application,
        password,
        read_only: captured.read_only,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(url: &str, pgpass: &str) -> Options {
        Options {
            target: Target::parse(url).unwrap(),
            speed: Speed::Max,
            multiply: 1,
            read_only: false,
            stall_timeout: None,
            pgpassword: None,
            pgpass: Pgpass::parse(pgpass),
            connect_timeout: Duration::from_secs(1),
        }
    }

    fn captured() -> Login {
        Login {
            user: "app".into(),
            database: "shop".into(),
            application: "web".into(),
            password: None,
            read_only: false,
        }
    }

    #[test]
    fn sessions_keep_their_captured_login_unless_the_target_names_another() {
        let login = login_for(&captured(), &options("postgres://db:5432", ""));
        assert_eq!(
            (login.user.as_str(), login.database.as_str()),
            ("app", "shop")
        );
        assert_eq!(login.application, "web");
        let login = login_for(&captured(), &options("postgres://admin@db:5432/copy", ""));
        assert_eq!(
            (login.user.as_str(), login.database.as_str()),
            ("admin", "copy")
        );
    }

    #[test]
    fn the_password_comes_from_the_url_then_pgpassword_then_the_password_file() {
        let file = "db:5432:shop:app:from-file\n";
        let mut opts = options("postgres://app:from-url@db:5432", file);
        opts.pgpassword = Some("from-env".into());
        assert_eq!(
            login_for(&captured(), &opts).password.as_deref(),
            Some("from-url")
        );
        let mut opts = options("postgres://db:5432", file);
        opts.pgpassword = Some("from-env".into());
        assert_eq!(
            login_for(&captured(), &opts).password.as_deref(),
            Some("from-env")
        );
        let opts = options("postgres://db:5432", file);
        assert_eq!(
            login_for(&captured(), &opts).password.as_deref(),
            Some("from-file")
        );
    }

    #[test]
    fn speed_is_a_positive_factor_or_max() {
        assert_eq!("max".parse::<Speed>(), Ok(Speed::Max));
        assert_eq!("2.5".parse::<Speed>(), Ok(Speed::Factor(2.5)));
        assert!("0".parse::<Speed>().is_err());
        assert!("fast".parse::<Speed>().is_err());
    }
}
