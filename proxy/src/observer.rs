//! Observers that ship with the proxy itself.
//!
//! [`LogObserver`] logs each finished query at `debug` level as its fingerprint and normalized
//! text — never the raw text, which carries literals. The analysis is memoised in the
//! statement, so a prepared statement is analysed once however often it runs, and the
//! analyzer is the process's shared one (the recorder's).

use std::sync::Arc;

use pgscope_fingerprint::{Analysis, Analyzer};

use crate::event::{Event, Observer, Statement};

/// Logs finished queries at `debug` level.
#[derive(Debug)]
pub struct LogObserver {
    analyzer: Arc<Analyzer>,
}

impl LogObserver {
    /// A logger analysing statements with the shared `analyzer`.
    pub fn new(analyzer: Arc<Analyzer>) -> Self {
        LogObserver { analyzer }
    }
}

/// The statement's analysis, computed by `analyzer` on first use, reading its literals under
/// the statement's `standard_conforming_strings`.
pub fn analysis_of(analyzer: &Analyzer, statement: &Statement) -> Arc<Analysis> {
    Arc::clone(
        statement
            .analysis
            .get_or_init(|| analyzer.analyze_with(&statement.text, statement.strings)),
    )
}

impl Observer for LogObserver {
    fn observe(&self, event: &Event) {
        if !log::log_enabled!(log::Level::Debug) {
            return;
        }
        if let Event::QueryFinished(query) = event {
            let analysis = analysis_of(&self.analyzer, &query.statement);
            log::debug!(
                "query {} {:?} db={} user={} app={} {:?} rows={:?} in {:?}: {}",
                analysis.fingerprint,
                query.outcome,
                query.connection.database,
                query.connection.user,
                query.connection.application_name,
                query.protocol,
                query.rows,
                query.latency(),
                analysis.normalized
            );
        }
    }
}
