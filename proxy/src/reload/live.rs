//! [`Live`]: a value a reload can replace while connections that took the old one keep it.

use std::sync::{Arc, PoisonError, RwLock};

/// The current `T`, replaceable. Readers get an `Arc` and keep it as long as they like.
#[derive(Debug)]
pub struct Live<T>(RwLock<Arc<T>>);

impl<T> Live<T> {
    /// Starts with `value`.
    pub fn new(value: Arc<T>) -> Self {
        Live(RwLock::new(value))
    }

    /// The current value.
    pub fn get(&self) -> Arc<T> {
        Arc::clone(&self.0.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces the value for everyone who asks from now on.
    pub fn set(&self, value: Arc<T>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = value;
    }
}
