//! The writer thread of one capture: drains the bounded queue, converts and (if asked) redacts
//! items, appends them to the file, flushes every second, and ends the capture at its duration,
//! at `max_bytes`, on a write error, or when asked to stop.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pgscope_capture as cap;

use super::item::{Converter, Item};
use super::{Capture, Running};

/// How often pending records reach the file.
const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// How long the thread sleeps when the queue is empty. It polls rather than blocks on the
/// queue, so that a session queueing an item never has to wake it (a system call on the
/// forwarding path for every item the writer had caught up with).
const TICK: Duration = Duration::from_millis(10);
/// Items taken at once before the clocks are looked at again.
const BATCH: usize = 4096;

/// Runs the capture described by `running` until it ends; then records the outcome in
/// `capture` and deactivates it.
pub(super) fn run(
    capture: Arc<Capture>,
    running: Arc<Running>,
    mut writer: cap::Writer,
    redactor: cap::redact::Redactor,
    queue: Receiver<Item>,
) {
    let _unwinding = DeactivateOnPanic {
        capture: &capture,
        running: &running,
    };
    let mut converter = Converter::new(running.started, redactor, running.options.redact);
    let deadline = running.started + running.options.duration;
    let mut last_flush = Instant::now();
    let mut dropped_written = 0u64;
    let (reason, error) = loop {
        if running.stop.load(Ordering::Acquire) {
            break (cap::EndReason::Stopped, None);
        }
        let now = Instant::now();
        if now >= deadline {
            break (cap::EndReason::Duration, None);
        }
        let first = match queue.try_recv() {
            Ok(item) => Some(item),
            Err(TryRecvError::Empty) => {
                std::thread::sleep(TICK.min(deadline - now));
                None
            }
            Err(TryRecvError::Disconnected) => break (cap::EndReason::Stopped, None),
        };
        // Take what else is queued (or came while sleeping) before looking at the clocks again.
        let batch = first
            .into_iter()
            .chain(std::iter::from_fn(|| queue.try_recv().ok()).take(BATCH));
        let mut ended = None;
        let (mut items, mut weight) = (0u64, 0u64);
        for item in batch {
            items += 1;
            weight += item.weight() as u64;
            let result = match converter.record(item) {
                Some(record) => {
                    if let cap::Record::SessionStart(_) = record {
                        running.sessions.fetch_add(1, Ordering::Relaxed);
                    }
                    writer.append(&record)
                }
                None => {
                    running.dropped.fetch_add(1, Ordering::Relaxed);
                    Ok(cap::Appended::Taken)
                }
            };
            match result {
                Ok(cap::Appended::Taken) => {}
                Ok(cap::Appended::LimitReached) => {
                    ended = Some((cap::EndReason::MaxBytes, None));
                    break;
                }
                Err(e) => {
                    ended = Some((cap::EndReason::Failed, Some(e.to_string())));
                    break;
                }
            }
        }
        running.queued.release(items, weight);
        capture.records_total.inc_by(items);
        if let Some(ended) = ended {
            break ended;
        }
        if last_flush.elapsed() >= FLUSH_EVERY {
            last_flush = Instant::now();
            let dropped = running.dropped.load(Ordering::Relaxed);
            if dropped > dropped_written {
                let record = cap::Record::Dropped(cap::Dropped {
                    at: offset(running.started),
                    records: dropped - dropped_written,
                });
                dropped_written = dropped;
                if let Err(e) = writer.append(&record) {
                    break (cap::EndReason::Failed, Some(e.to_string()));
                }
            }
            if let Err(e) = writer.flush() {
                break (cap::EndReason::Failed, Some(e.to_string()));
            }
            running.update(&writer);
        }
    };
    // Stop taking items, then write what is already queued (unless the file is the problem).
    capture.deactivate(&running);
    let mut error = error;
    if error.is_none() && reason != cap::EndReason::MaxBytes {
        while let Ok(item) = queue.try_recv() {
            if let Some(record) = converter.record(item) {
                match writer.append(&record) {
                    Ok(cap::Appended::Taken) => {}
                    Ok(cap::Appended::LimitReached) => break,
                    Err(e) => {
                        error = Some(e.to_string());
                        break;
                    }
                }
            }
        }
    }
    let dropped = running.dropped.load(Ordering::Relaxed);
    if dropped > dropped_written {
        let _ = writer.append(&cap::Record::Dropped(cap::Dropped {
            at: offset(running.started),
            records: dropped - dropped_written,
        }));
    }
    running.update(&writer);
    let reason = if error.is_some() {
        cap::EndReason::Failed
    } else {
        reason
    };
    let finished = writer.finish(offset(running.started), reason);
    match &finished {
        Ok(summary) => log::info!(
            "capture {} ended ({}): {} records, {} bytes, {} dropped, {} over max_bytes",
            running.options.path.display(),
            super::reason_name(summary.reason),
            summary.records,
            summary.bytes,
            summary.dropped,
            summary.over_limit
        ),
        Err(e) => log::error!("capture {} failed: {e}", running.options.path.display()),
    }
    if let Some(e) = &error {
        log::error!("capture {} failed: {e}", running.options.path.display());
    }
    capture.finished(&running, finished, error);
}

fn offset(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// Should the writer thread panic, the capture stops taking items and a new capture can start
/// (otherwise the sessions would queue records nobody takes until the process restarts).
struct DeactivateOnPanic<'a> {
    capture: &'a Arc<Capture>,
    running: &'a Arc<Running>,
}

impl Drop for DeactivateOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            log::error!("the capture writer failed; the capture is stopped");
            self.capture.deactivate(self.running);
            self.capture.writing.store(false, Ordering::Release);
        }
    }
}
