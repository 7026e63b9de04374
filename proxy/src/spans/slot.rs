//! [`SpanSlot`]: span export's place in the observer list, which a reload can fill, empty or
//! refill (tracing switched on or off, another endpoint or sampling ratio) while connections
//! run.
//!
//! The slot is always in the list. While it is empty an event costs one relaxed atomic load;
//! while it holds a [`SpanExport`], a read lock (never contended but by a reload) and the span
//! observer's work. A reload builds the new pipeline first — so a bad setting changes nothing —
//! then swaps it in and flushes the old one's queue on a thread of its own.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{PoisonError, RwLock};

use super::SpanExport;
use crate::observer::{Event, Observer};

/// The span export in force, if any.
#[derive(Debug, Default)]
pub struct SpanSlot {
    on: AtomicBool,
    export: RwLock<Option<SpanExport>>,
}

impl SpanSlot {
    /// A slot holding `export`.
    pub fn new(export: Option<SpanExport>) -> SpanSlot {
        SpanSlot {
            on: AtomicBool::new(export.is_some()),
            export: RwLock::new(export),
        }
    }

    /// Whether spans are being exported.
    pub fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// Puts `export` in the slot; returns what it held (to be finished by the caller).
    pub fn replace(&self, export: Option<SpanExport>) -> Option<SpanExport> {
        let mut slot = self.export.write().unwrap_or_else(PoisonError::into_inner);
        self.on.store(export.is_some(), Ordering::Relaxed);
        std::mem::replace(&mut *slot, export)
    }

    /// Empties the slot; returns what it held.
    pub fn take(&self) -> Option<SpanExport> {
        self.replace(None)
    }
}

impl Observer for SpanSlot {
    fn observe(&self, event: &Event) {
        if !self.on.load(Ordering::Relaxed) {
            return;
        }
        let export = self.export.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(export) = &*export {
            export.observer.observe(event);
        }
    }
}
