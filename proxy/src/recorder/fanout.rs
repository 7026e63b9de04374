//! [`Fanout`]: hands each event to several observers, in order.

use std::sync::Arc;

use crate::event::{Event, Observer};

/// An observer that forwards every event to each of its observers in turn.
#[derive(Clone)]
pub struct Fanout {
    observers: Vec<Arc<dyn Observer>>,
}

impl Fanout {
    /// Forwards to `observers`, in this order.
    pub fn new(observers: Vec<Arc<dyn Observer>>) -> Self {
        Fanout { observers }
    }
}

impl std::fmt::Debug for Fanout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fanout")
            .field("observers", &self.observers.len())
            .finish()
    }
}

impl Observer for Fanout {
    fn observe(&self, event: &Event) {
        for observer in &self.observers {
            observer.observe(event);
        }
    }
}
