//! A logger whose level and format a reload can change: env_logger, swapped under a lock.
//!
//! env_logger fixes its filter and format when it is built, so the installed logger is a thin
//! shell around the current env_logger instance; a reload builds a new one from the new
//! `log_level` (refined by `RUST_LOG`, as at start) and `log_format` and swaps it in. Log macros
//! first check `log::max_level()`, so disabled levels never reach the lock.
//!
//! `log_format = "json"` writes one JSON object per line, for log shippers:
//!
//! ```text
//! {"timestamp":"2025-01-31T12:00:00.123Z","level":"INFO","target":"pgscope::cli::run","message":"admin API on http://127.0.0.1:9187/"}
//! ```

use std::io::Write;
use std::sync::{Arc, PoisonError, RwLock};

use env_logger::fmt::Formatter;
use pgscope_config::{LogFormat, LogLevel};

/// Changes the level and format of the installed logger.
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

/// The fields of one JSON log line, in this order.
#[derive(serde::Serialize)]
struct JsonLine<'a> {
    timestamp: String,
    level: &'a str,
    target: &'a str,
    message: String,
}

/// Writes `record` as one JSON object and a newline.
fn json_line(buf: &mut Formatter, record: &log::Record<'_>) -> std::io::Result<()> {
    let line = JsonLine {
        timestamp: buf.timestamp_millis().to_string(),
        level: record.level().as_str(),
        target: record.target(),
        message: record.args().to_string(),
    };
    serde_json::to_writer(&mut *buf, &line)?;
    buf.write_all(b"\n")
}

fn build(level: LogLevel, format: LogFormat) -> env_logger::Logger {
    let mut builder = env_logger::Builder::new();
    builder.parse_filters(level.as_str());
    if let Ok(filters) = std::env::var("RUST_LOG") {
        builder.parse_filters(&filters);
    }
    match format {
        LogFormat::Text => builder.format_timestamp_millis(),
        LogFormat::Json => builder.format(json_line),
    };
    builder.build()
}

/// Installs the logger at `level` writing `format`; `None` when a logger was installed
/// already (tests).
pub fn init(level: LogLevel, format: LogFormat) -> Option<LogHandle> {
    let logger = build(level, format);
    let filter = logger.filter();
    let shared = Arc::new(RwLock::new(logger));
    log::set_boxed_logger(Box::new(Reloadable(Arc::clone(&shared)))).ok()?;
    log::set_max_level(filter);
    Some(LogHandle(shared))
}

impl LogHandle {
    /// Logs at `level` in `format` from now on.
    pub fn set(&self, level: LogLevel, format: LogFormat) {
        let logger = build(level, format);
        let filter = logger.filter();
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = logger;
        log::set_max_level(filter);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A log target the test reads back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_lines_carry_timestamp_level_target_and_an_escaped_message() {
        let captured = Captured::default();
        let logger = env_logger::Builder::new()
            .parse_filters("info")
            .format(json_line)
            .target(env_logger::Target::Pipe(Box::new(captured.clone())))
            .build();
        log::Log::log(
            &logger,
            &log::Record::builder()
                .level(log::Level::Warn)
                .target("pgscope::test")
                .args(format_args!("a \"quoted\"\nline\t{}", "\\end"))
                .build(),
        );
        let text = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("utf-8");
        assert_eq!(text.lines().count(), 1, "{text}");
        let line: serde_json::Value = serde_json::from_str(text.trim_end()).expect("json");
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["target"], "pgscope::test");
        assert_eq!(line["message"], "a \"quoted\"\nline\t\\end");
        let stamp = line["timestamp"].as_str().expect("timestamp");
        assert!(stamp.ends_with('Z') && stamp.contains('T'), "{stamp}");
    }
}
