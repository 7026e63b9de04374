//! A logger whose level a reload can change: env_logger's filter, swapped under a lock.
//!
//! env_logger fixes its filter when it is built, so the installed logger is a thin shell around
//! the current env_logger instance; a reload builds a new one from the new `log_level` (refined
//! by `RUST_LOG`, as at start) and swaps it in. Log macros first check `log::max_level()`, so
//! disabled levels never reach the lock.

use std::sync::{Arc, PoisonError, RwLock};

use pgscope_config::LogLevel;

/// Changes the level of the installed logger.
#[derive(Debug, Clone)]
pub struct LogHandle(Arc<RwLock<env_logger::Logger>>);

struct Reloadable(Arc<RwLock<env_logger::Logger>>);

impl log::Log for Reloadable {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .log(record);
    }

    fn flush(&self) {
        log::Log::flush(&*self.0.read().unwrap_or_else(PoisonError::into_inner));
    }
}

fn build(level: LogLevel) -> env_logger::Logger {
    let mut builder = env_logger::Builder::new();
    builder.parse_filters(level.as_str());
    if let Ok(filters) = std::env::var("RUST_LOG") {
        builder.parse_filters(&filters);
    }
    builder.format_timestamp_millis().build()
}

/// Installs the logger at `level`; `None` when a logger was installed already (tests).
pub fn init(level: LogLevel) -> Option<LogHandle> {
    let logger = build(level);
    let filter = logger.filter();
    let shared = Arc::new(RwLock::new(logger));
    log::set_boxed_logger(Box::new(Reloadable(Arc::clone(&shared)))).ok()?;
    log::set_max_level(filter);
    Some(LogHandle(shared))
}

impl LogHandle {
    /// Logs at `level` from now on.
    pub fn set(&self, level: LogLevel) {
        let logger = build(level);
        let filter = logger.filter();
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = logger;
        log::set_max_level(filter);
    }
}
