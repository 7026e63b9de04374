//! Capture: recording client sessions to a file for `pgscope replay` (issue 24).
//!
//! Off by default; started by `POST /api/v1/capture` (or `pgscope capture start`, or the
//! `[capture]` settings at start-up), stopped by `DELETE`, its duration or its `max_bytes`.
//!
//! # On the forwarding path
//!
//! A connection asks [`Capture::admit`] once, at its first `ReadyForQuery`: one atomic load
//! when no capture runs. An admitted session ([`crate::session::Session::on_ready_for_capture`])
//! keeps every client message body and emits it as an event after the bytes were forwarded;
//! the capture's observer ([`observe`]) copies the body (so no read buffer is pinned) and
//! `try_send`s it to a bounded queue (65,536 items and 64 MiB). A full queue drops the item
//! and counts it
//! (`pgscope_capture_dropped_total`, and a `Dropped` record marks the capture incomplete):
//! nothing on the forwarding path ever waits for the disk. Events of sessions that are not
//! captured cost one branch on `connection.capture`.
//!
//! # Off the forwarding path
//!
//! One writer thread per capture ([`thread`]) converts items to records (the startup packet
//! parsed into parameters, fingerprints from the statement's memoised shape), redacts them
//! when asked (`pgscope_capture::redact`), writes them with `pgscope_capture::Writer` (0600,
//! never overwriting, bounded by `max_bytes`, optionally rotating) and flushes every second.
//!
//! Sessions are captured from authentication to their end; a session that was already open when
//! the capture started is not captured (its prepared statements and settings predate the
//! capture, so it could not be replayed faithfully). Replication connections never are.

mod item;
mod observe;
mod options;
#[cfg(test)]
mod tests;
mod thread;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use pgscope_capture as cap;
use serde_json::{json, Value};

use crate::observer::ConnectionInfo;
use item::Item;
pub use options::{CaptureOptions, CaptureRequest, Filters};

/// Items the queue holds at most.
const MAX_QUEUED: usize = 65_536;
/// Bytes the queued items hold at most.
const MAX_QUEUED_BYTES: usize = 64 << 20;
/// One item in [`Fill`]'s count (the bytes are counted below this bit).
const ONE_ITEM: u64 = 1 << 40;

/// What the queue holds: its items (above bit 40) and their bytes (below), in one atomic, so
/// that the forwarding path checks both bounds with one operation — before it copies anything.
#[derive(Debug, Default)]
struct Fill(AtomicU64);

impl Fill {
    /// Takes room for one item of `weight` bytes; `false` (and nothing taken) if the queue is
    /// full by either bound.
    fn reserve(&self, weight: usize) -> bool {
        let add = ONE_ITEM + weight.min(MAX_QUEUED_BYTES + 1) as u64;
        let after = self.0.fetch_add(add, Ordering::AcqRel) + add;
        if after % ONE_ITEM > MAX_QUEUED_BYTES as u64 || after / ONE_ITEM > MAX_QUEUED as u64 {
            self.0.fetch_sub(add, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Gives back the room of `items` items holding `bytes` bytes in all.
    fn release(&self, items: u64, bytes: u64) {
        if items > 0 {
            self.0.fetch_sub(items * ONE_ITEM + bytes, Ordering::AcqRel);
        }
    }
}

/// A capture in progress.
#[derive(Debug)]
pub(crate) struct Running {
    capture_id: u64,
    options: CaptureOptions,
    started: Instant,
    started_ms: u64,
    /// Session ids from here on belong to this capture.
    first_session: u64,
    sender: SyncSender<Item>,
    stop: AtomicBool,
    queued: Fill,
    dropped: AtomicU64,
    sessions: AtomicU64,
    records: AtomicU64,
    bytes: AtomicU64,
    parts: Mutex<Vec<PathBuf>>,
}

impl Running {
    /// A capture starting now: its first part is `options.path`, nothing queued, dropped or
    /// written yet.
    fn new(
        capture_id: u64,
        options: CaptureOptions,
        started_ms: u64,
        first_session: u64,
        sender: SyncSender<Item>,
    ) -> Self {
        Running {
            capture_id,
            started: Instant::now(),
            started_ms,
            first_session,
            sender,
            stop: AtomicBool::new(false),
            queued: Fill::default(),
            dropped: AtomicU64::new(0),
            sessions: AtomicU64::new(0),
            records: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            parts: Mutex::new(vec![options.path.clone()]),
            options,
        }
    }

    fn update(&self, writer: &cap::Writer) {
        self.records.store(writer.records(), Ordering::Relaxed);
        self.bytes.store(writer.bytes_written(), Ordering::Relaxed);
        *lock(&self.parts) = writer.parts().to_vec();
    }

    fn status(&self, state: &str) -> Value {
        let dropped = self.dropped.load(Ordering::Relaxed);
        json!({
            "state": state,
            "capture_id": format!("{:016x}", self.capture_id),
            "path": self.options.path,
            "parts": *lock(&self.parts),
            "started_at": pgscope_exporters::time::rfc3339(self.started_ms),
            "elapsed_seconds": self.started.elapsed().as_secs_f64(),
            "duration_seconds": self.options.duration.as_secs_f64(),
            "max_bytes": self.options.max_bytes,
            "rotate_bytes": self.options.rotate_bytes,
            "redact": self.options.redact,
            "filters": self.options.filters,
            "sessions": self.sessions.load(Ordering::Relaxed),
            "records": self.records.load(Ordering::Relaxed),
            "bytes": self.bytes.load(Ordering::Relaxed),
            "dropped": dropped,
            "incomplete": dropped > 0,
        })
    }
}

/// Why a capture could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// One is running already.
    #[error("a capture is already running ({0}); stop it first")]
    Running(String),
    /// The request is invalid.
    #[error("{0}")]
    Invalid(String),
    /// The file could not be created.
    #[error("{0}")]
    File(String),
}

/// The capture switch, shared by the pumps (admission), the observer list (events) and the
/// admin API (start, stop, status).
pub struct Capture {
    active: AtomicBool,
    /// A writer thread has not finished its file yet (it may have stopped taking items).
    writing: AtomicBool,
    current: RwLock<Option<Arc<Running>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    last: Mutex<Option<Value>>,
    next_session: AtomicU64,
    cancel_keys: Mutex<HashMap<Vec<u8>, u64>>,
    session_keys: Mutex<HashMap<u64, Vec<u8>>>,
    default_dir: PathBuf,
    dropped_total: prometheus::IntCounter,
    records_total: prometheus::IntCounter,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture")
            .field("active", &self.active.load(Ordering::Relaxed))
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The name of an end reason in the API and logs.
pub(crate) fn reason_name(reason: cap::EndReason) -> &'static str {
    match reason {
        cap::EndReason::Stopped => "stopped",
        cap::EndReason::Duration => "duration",
        cap::EndReason::MaxBytes => "max_bytes",
        cap::EndReason::Rotated => "rotated",
        cap::EndReason::Failed => "failed",
    }
}

impl Capture {
    /// An idle capture switch; captures without a path or directory go to `default_dir`.
    pub fn new(default_dir: PathBuf) -> Arc<Self> {
        Arc::new(Capture {
            active: AtomicBool::new(false),
            writing: AtomicBool::new(false),
            current: RwLock::new(None),
            thread: Mutex::new(None),
            last: Mutex::new(None),
            next_session: AtomicU64::new(1),
            cancel_keys: Mutex::new(HashMap::new()),
            session_keys: Mutex::new(HashMap::new()),
            default_dir,
            dropped_total: prometheus::IntCounter::new(
                "pgscope_capture_dropped_total",
                "Capture records dropped because the capture writer fell behind (the capture is \
                 then marked incomplete).",
            )
            .expect("valid metric"),
            records_total: prometheus::IntCounter::new(
                "pgscope_capture_records_total",
                "Capture records handed to the capture writer.",
            )
            .expect("valid metric"),
        })
    }

    /// Registers the capture's metrics.
    pub fn register(&self, registry: &prometheus::Registry) -> Result<(), prometheus::Error> {
        registry.register(Box::new(self.dropped_total.clone()))?;
        registry.register(Box::new(self.records_total.clone()))
    }

    /// Validates `request` and starts a capture; returns its status.
    pub fn start_request(self: &Arc<Self>, request: CaptureRequest) -> Result<Value, StartError> {
        if let Some(running) = self.running() {
            return Err(StartError::Running(
                running.options.path.display().to_string(),
            ));
        }
        let options = request
            .validate(&self.default_dir, now_ms())
            .map_err(StartError::Invalid)?;
        self.start(options)
    }

    /// Starts a capture with `options`; returns its status.
    pub fn start(self: &Arc<Self>, options: CaptureOptions) -> Result<Value, StartError> {
        let mut thread = lock(&self.thread);
        if let Some(running) = self.running() {
            return Err(StartError::Running(
                running.options.path.display().to_string(),
            ));
        }
        // A capture that ended by itself leaves its thread to be joined.
        if let Some(done) = thread.take() {
            let _ = done.join();
        }
        let started_ms = now_ms();
        let capture_id = {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(started_ms);
            h.finish()
        };
        // Made even for an unredacted capture: statements that may carry a password are
        // redacted in every capture.
        let redactor = cap::redact::Redactor::new()
            .map_err(|e| StartError::File(format!("cannot start the capture: {e}")))?;
        let writer = cap::Writer::create(
            &options.path,
            cap::WriterOptions {
                redacted: options.redact,
                started_at_micros: i64::try_from(started_ms).unwrap_or(i64::MAX) * 1000,
                capture_id,
                pgscope_version: env!("CARGO_PKG_VERSION").to_owned(),
                max_bytes: Some(options.max_bytes),
                rotate_bytes: options.rotate_bytes,
                ..cap::WriterOptions::default()
            },
        )
        .map_err(|e| StartError::File(format!("cannot start the capture: {e}")))?;
        let (sender, queue) = sync_channel(MAX_QUEUED);
        let first_session = self.next_session.load(Ordering::Acquire);
        let running = Arc::new(Running::new(
            capture_id,
            options,
            started_ms,
            first_session,
            sender,
        ));
        log::info!(
            "capture started: {} (duration {:?}, max_bytes {}, redact {})",
            running.options.path.display(),
            running.options.duration,
            running.options.max_bytes,
            running.options.redact
        );
        self.writing.store(true, Ordering::Release);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&running));
        self.active.store(true, Ordering::Release);
        let capture = Arc::clone(self);
        let for_thread = Arc::clone(&running);
        let handle = match std::thread::Builder::new()
            .name("pgscope-capture".into())
            .spawn(move || thread::run(capture, for_thread, writer, redactor, queue))
        {
            Ok(handle) => handle,
            Err(e) => {
                self.deactivate(&running);
                self.writing.store(false, Ordering::Release);
                return Err(StartError::File(format!(
                    "cannot start the capture writer: {e}"
                )));
            }
        };
        *thread = Some(handle);
        Ok(running.status("running"))
    }

    /// Stops the running capture, waits until its file is complete, and returns its final
    /// status; `None` if none was running.
    pub fn stop(&self) -> Option<Value> {
        let mut thread = lock(&self.thread);
        let running = self.running()?;
        running.stop.store(true, Ordering::Release);
        if let Some(handle) = thread.take() {
            let _ = handle.join();
        }
        lock(&self.last).clone()
    }

    /// `{"state": "running"|"stopping"|"idle", "capture": …, "last": …}`: `stopping` while
    /// the writer finishes the file of a capture that no longer takes records; `last` is the
    /// finished capture's status once the state is `idle`.
    pub fn status(&self) -> Value {
        let running = self.running();
        let state = if running.is_some() {
            "running"
        } else if self.writing.load(Ordering::Acquire) {
            "stopping"
        } else {
            "idle"
        };
        json!({
            "state": state,
            "capture": running.map(|r| r.status("running")),
            "last": *lock(&self.last),
            "dropped_total": self.dropped_total.get(),
        })
    }

    fn running(&self) -> Option<Arc<Running>> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether a connection with these labels joins the running capture; its session id if so.
    /// One atomic load when no capture runs.
    pub fn admit(&self, connection: &ConnectionInfo) -> Option<u64> {
        if !self.active.load(Ordering::Acquire) {
            return None;
        }
        let running = self.running()?;
        running
            .options
            .filters
            .admits(
                &connection.database,
                &connection.user,
                &connection.application_name,
            )
            .then(|| self.next_session.fetch_add(1, Ordering::AcqRel))
    }

    /// A `CancelRequest` arrived: recorded, with the captured session it targets if its keys
    /// match one (the keys are not recorded).
    pub fn on_cancel(&self, packet: &Bytes) {
        if !self.active.load(Ordering::Acquire) {
            return;
        }
        let key = packet.get(8..).unwrap_or_default();
        let session = lock(&self.cancel_keys).get(key).copied();
        let Some(running) = self.running() else {
            return;
        };
        self.send(
            &running,
            Item::Cancel {
                session,
                at: Instant::now(),
            },
        );
    }

    /// The writer thread ended the capture: no more items are taken.
    fn deactivate(&self, running: &Arc<Running>) {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, running)) {
            *current = None;
            self.active.store(false, Ordering::Release);
        }
        lock(&self.cancel_keys).clear();
        lock(&self.session_keys).clear();
    }

    /// The writer thread finished the file.
    fn finished(
        &self,
        running: &Running,
        summary: Result<cap::Summary, cap::Error>,
        error: Option<String>,
    ) {
        let mut status = running.status("finished");
        match summary {
            Ok(summary) => {
                status["reason"] = json!(reason_name(summary.reason));
                status["records"] = json!(summary.records);
                status["bytes"] = json!(summary.bytes);
                status["parts"] = json!(summary.parts);
                status["over_limit"] = json!(summary.over_limit);
            }
            Err(e) => {
                status["reason"] = json!("failed");
                status["error"] = json!(e.to_string());
            }
        }
        if let Some(error) = error {
            status["error"] = json!(error);
        }
        *lock(&self.last) = Some(status);
        self.writing.store(false, Ordering::Release);
    }
}
