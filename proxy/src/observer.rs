//! Observers: what consumes the session's events, and the flat list the pumps report to.
//!
//! An [`Observer`] runs on the connection's task right after the bytes that caused an event
//! were forwarded, so it must be cheap and never block: it records, enqueues, or drops and
//! counts. The process has exactly one list of them, [`Observers`], built in one place — the
//! composition root, [`crate::wiring`] — from the validated configuration: the recorder, the
//! debug log, span export and whatever comes next each take one line there. The list is flat:
//! no observer wraps another, so the order in which they see an event is the order they were
//! pushed, and the recorder (first) has usually memoised the statement's shape by the time
//! the others look at it.
//!
//! [`LogObserver`] logs each finished query at `debug` level as its fingerprint and normalized
//! text — never the raw text, which carries literals. The shape is memoised in the statement,
//! so a prepared statement is looked up once however often it runs, from the process's one
//! cache of shapes ([`crate::shape`]).

use std::borrow::Cow;
use std::sync::Arc;

use crate::event::Event;
use crate::shape::Shapes;

/// A consumer of session events. Implementations must be cheap and must never block: they run on
/// the connection's task right after its bytes were forwarded.
pub trait Observer: Send + Sync {
    /// Called with each event, in order, for one connection at a time.
    fn observe(&self, event: &Event);
}

/// The process's observers, in the order they see each event.
#[derive(Clone, Default)]
pub struct Observers {
    list: Vec<Arc<dyn Observer>>,
}

impl Observers {
    /// Appends `observer`: it sees each event after those pushed before it.
    pub fn push(&mut self, observer: Arc<dyn Observer>) {
        self.list.push(observer);
    }

    /// How many observers the list holds.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

impl std::fmt::Debug for Observers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Observers")
            .field("observers", &self.list.len())
            .finish()
    }
}

impl Observer for Observers {
    fn observe(&self, event: &Event) {
        for observer in &self.list {
            observer.observe(event);
        }
    }
}

/// Logs finished queries at `debug` level.
#[derive(Debug)]
pub struct LogObserver {
    shapes: Arc<Shapes>,
}

impl LogObserver {
    /// A logger taking each statement's shape from the process's `shapes`.
    pub fn new(shapes: Arc<Shapes>) -> Self {
        LogObserver { shapes }
    }
}

/// `text` cut to at most `max` bytes at a character boundary, the cut marked with `…` (which
/// counts towards `max`). The one rule for every text pgscope stores or exports — the
/// recorder's query texts and the spans' `db.query.text`, both bounded by
/// `recorder.max_query_text` — applied once per shape ([`crate::shape::Shape::of`]).
pub fn cut(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}…", &text[..end]))
}

impl Observer for LogObserver {
    fn observe(&self, event: &Event) {
        if !log::log_enabled!(log::Level::Debug) {
            return;
        }
        if let Event::QueryFinished(query) = event {
            let analysis = self.shapes.of(&query.statement);
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

#[cfg(test)]
mod tests {
    use super::cut;

    #[test]
    fn short_texts_are_kept_whole() {
        assert_eq!(cut("select 1", 8), "select 1");
    }

    #[test]
    fn long_texts_are_cut_at_a_character_boundary_with_an_ellipsis_within_the_limit() {
        let text = "ä".repeat(10);
        for max in 3..20 {
            let cut = cut(&text, max);
            assert!(cut.len() <= max, "{max}: {cut}");
            assert!(cut.ends_with('…'), "{max}: {cut}");
            assert!(cut.len() + 2 > max, "{max}: {cut} wastes room");
        }
    }
}
